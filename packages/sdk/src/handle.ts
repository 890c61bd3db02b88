/**
 * WorkflowHandle: a started workflow by id (`client.getHandle(id)`): wait for
 * its result, read its status and journal, cancel it.
 */
import type { StepKind, StepStatus, StoredError, WorkflowState } from '@aether/core';
import { isTerminal } from '@aether/core';
import { outcomeError } from './errors.js';
import { fromJson } from './serialize.js';
import type { Connection, Outcome, WorkflowDescription } from './connection/types.js';

/** How long one AwaitResult long poll waits before asking again. */
const AWAIT_POLL_MS = 20_000;

/** One journal entry as `handle.status({ steps: true })` reports it. */
export interface StepStatusInfo {
  stepId: string;
  name: string;
  kind: StepKind;
  status: StepStatus;
  result?: unknown;
  error?: StoredError | undefined;
  attempts: number;
  startedAt: number;
  completedAt?: number | undefined;
  wakeAt?: number | undefined;
  childWorkflowId?: string | undefined;
}

/** A workflow's status. Payloads are parsed from their JSON text. */
export interface WorkflowStatusInfo {
  workflowId: string;
  workflowType: string;
  state: WorkflowState;
  /** The argument array it was started with. */
  input: unknown[];
  /** The result (COMPLETED). */
  result?: unknown;
  /** The error (FAILED, or the cancellation reason). */
  error?: StoredError | undefined;
  createdAt: number;
  updatedAt: number;
  /** When a sleeping workflow wakes up (epoch ms). */
  wakeAt?: number | undefined;
  parentWorkflowId?: string | undefined;
  /** How many times it was handed to a worker. */
  attempts: number;
  /** The journal, when asked for. */
  steps?: StepStatusInfo[] | undefined;
}

/** A started workflow. */
export interface WorkflowHandle<R = unknown> {
  readonly workflowId: string;
  /** Resolves with the result; rejects with an AetherError when it FAILED (stored code) or was CANCELLED (AETHER_E_WF_CANCELLED). */
  result(): Promise<R>;
  /** The current status; `{ steps: true }` adds the journal. */
  status(options?: { steps?: boolean }): Promise<WorkflowStatusInfo>;
  /** Cancels it (and its children); running steps see their AbortSignal fire. */
  cancel(reason?: string): Promise<void>;
}

function safeParse(text: string | undefined): unknown {
  try {
    return fromJson(text);
  } catch {
    return text;
  }
}

function toStatusInfo(d: WorkflowDescription): WorkflowStatusInfo {
  const input = safeParse(d.input);
  const info: WorkflowStatusInfo = {
    workflowId: d.workflowId,
    workflowType: d.workflowType,
    state: d.state,
    input: Array.isArray(input) ? input : [],
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    attempts: d.attempts,
  };
  if (d.state === 'COMPLETED') info.result = safeParse(d.result);
  if (d.error) info.error = d.error;
  if (d.wakeAt !== undefined) info.wakeAt = d.wakeAt;
  if (d.parentWorkflowId !== undefined) info.parentWorkflowId = d.parentWorkflowId;
  if (d.steps) {
    info.steps = d.steps.map((s) => {
      const step: StepStatusInfo = {
        stepId: s.stepId,
        name: s.name,
        kind: s.kind,
        status: s.status,
        attempts: s.attempts,
        startedAt: s.startedAt,
      };
      if (s.status === 'completed' && s.result !== undefined) step.result = safeParse(s.result);
      if (s.error) step.error = s.error;
      if (s.completedAt !== undefined) step.completedAt = s.completedAt;
      if (s.wakeAt !== undefined) step.wakeAt = s.wakeAt;
      if (s.childId !== undefined) step.childWorkflowId = s.childId;
      return step;
    });
  }
  return info;
}

/** Waits for a workflow's end through long polls; resolves with the parsed result. */
export async function awaitWorkflowResult(connection: Connection, workflowId: string): Promise<unknown> {
  for (;;) {
    const outcome = await connection.awaitResult(workflowId, AWAIT_POLL_MS);
    if (isTerminal(outcome.state)) return settle(outcome);
  }
}

/** Starts a workflow and waits for its result, in one round trip when the server can. */
export async function startAndAwaitResult(
  connection: Connection,
  request: { type: string; input: string; workflowId: string },
): Promise<unknown> {
  const started = await connection.startWorkflow({ ...request, waitMs: AWAIT_POLL_MS });
  if (started.outcome && isTerminal(started.outcome.state)) return settle(started.outcome);
  return awaitWorkflowResult(connection, started.workflowId);
}

function settle(outcome: Outcome): unknown {
  if (outcome.state === 'COMPLETED') return fromJson(outcome.result);
  throw outcomeError(outcome.workflowId, outcome.state, outcome.error);
}

export class Handle<R> implements WorkflowHandle<R> {
  constructor(
    readonly workflowId: string,
    private readonly connection: Connection,
  ) {}

  result(): Promise<R> {
    return awaitWorkflowResult(this.connection, this.workflowId) as Promise<R>;
  }

  async status(options: { steps?: boolean } = {}): Promise<WorkflowStatusInfo> {
    return toStatusInfo(await this.connection.getStatus(this.workflowId, options.steps === true));
  }

  async cancel(reason = 'cancelled by the client'): Promise<void> {
    await this.connection.cancel(this.workflowId, reason);
  }
}

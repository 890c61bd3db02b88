/**
 * Wire forms of workflow records in HTTP bodies: snake_case field names,
 * payloads decoded from their stored JSON text, times as ISO 8601 strings.
 */
import type { ActionRecord, StepRecord, StoredError, WorkflowRecord } from '@aether/core';

/** A stored error as sent over HTTP. */
export interface ErrorJson {
  code: string;
  message: string;
  name?: string;
  details?: Record<string, unknown>;
}

/** A workflow as sent over HTTP. */
export interface WorkflowJson {
  id: string;
  type: string;
  state: string;
  input: unknown;
  result: unknown;
  error: ErrorJson | null;
  parent_id: string | null;
  parent_step_id: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  wake_at: string | null;
  /** Milliseconds from start to completion (or to now while running), null before start. */
  duration_ms: number | null;
  attempts: number;
  version: number;
}

/** A journal entry as sent over HTTP. */
export interface StepJson {
  step_id: string;
  name: string;
  kind: string;
  status: string;
  seq: number;
  result: unknown;
  error: ErrorJson | null;
  attempts: number;
  started_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  wake_at: string | null;
  child_id: string | null;
}

/** An action log line as sent over HTTP. */
export interface ActionJson {
  action: string;
  at: string;
  data: Record<string, unknown> | null;
}

/** A workflow with its journal and action log (GET /api/workflows/:id). */
export interface WorkflowDetailJson extends WorkflowJson {
  steps: StepJson[];
  actions: ActionJson[];
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** Decodes a stored JSON payload; the empty string stands for `undefined` and becomes null. */
export function decodePayload(text: string | undefined): unknown {
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function errorJson(error: StoredError | undefined): ErrorJson | null {
  if (error === undefined) return null;
  const out: ErrorJson = { code: error.code, message: error.message };
  if (error.name !== undefined) out.name = error.name;
  if (error.details !== undefined) out.details = error.details;
  return out;
}

/** The HTTP form of a workflow record. */
export function workflowToJson(workflow: WorkflowRecord, now: number = Date.now()): WorkflowJson {
  const end = workflow.completedAt ?? now;
  return {
    id: workflow.id,
    type: workflow.type,
    state: workflow.state,
    input: decodePayload(workflow.input),
    result: decodePayload(workflow.result),
    error: errorJson(workflow.error),
    parent_id: workflow.parentId ?? null,
    parent_step_id: workflow.parentStepId ?? null,
    created_at: new Date(workflow.createdAt).toISOString(),
    updated_at: new Date(workflow.updatedAt).toISOString(),
    started_at: iso(workflow.startedAt),
    completed_at: iso(workflow.completedAt),
    wake_at: iso(workflow.wakeAt),
    duration_ms: workflow.startedAt === undefined ? null : Math.max(0, end - workflow.startedAt),
    attempts: workflow.attempts,
    version: workflow.version,
  };
}

/** The HTTP form of a journal entry. */
export function stepToJson(step: StepRecord): StepJson {
  return {
    step_id: step.stepId,
    name: step.name,
    kind: step.kind,
    status: step.status,
    seq: step.seq,
    result: decodePayload(step.result),
    error: errorJson(step.error),
    attempts: step.attempts,
    started_at: new Date(step.startedAt).toISOString(),
    completed_at: iso(step.completedAt),
    duration_ms: step.completedAt === undefined ? null : Math.max(0, step.completedAt - step.startedAt),
    wake_at: iso(step.wakeAt),
    child_id: step.childId ?? null,
  };
}

/** The HTTP form of an action log line. */
export function actionToJson(action: ActionRecord): ActionJson {
  return { action: action.action, at: new Date(action.at).toISOString(), data: action.data ?? null };
}

/**
 * Workflow records shared by the engine, the stores, the server and the SDK,
 * and the workflow state machine with its legal transitions.
 */
import { TerminalError } from '../errors/aether-error.js';

/** The states of seed 003's state machine. */
export const WORKFLOW_STATES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type WorkflowState = (typeof WORKFLOW_STATES)[number];

/** States a workflow never leaves. */
export const TERMINAL_STATES: ReadonlySet<WorkflowState> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

const TRANSITIONS: Record<WorkflowState, readonly WorkflowState[]> = {
  PENDING: ['RUNNING', 'CANCELLED', 'FAILED'],
  RUNNING: ['COMPLETED', 'FAILED', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

/** Whether the state machine allows `from -> to`. */
export function canTransition(from: WorkflowState, to: WorkflowState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws AETHER_E_WF_ILLEGAL_TRANSITION unless `from -> to` is legal. */
export function assertTransition(workflowId: string, from: WorkflowState, to: WorkflowState): void {
  if (!canTransition(from, to)) {
    throw new TerminalError(
      'AETHER_E_WF_ILLEGAL_TRANSITION',
      `workflow ${workflowId} cannot go from ${from} to ${to}`,
      {
        workflowId,
        from,
        to,
      },
    );
  }
}

export function isTerminal(state: WorkflowState): boolean {
  return TERMINAL_STATES.has(state);
}

export function isWorkflowState(value: unknown): value is WorkflowState {
  return typeof value === 'string' && (WORKFLOW_STATES as readonly string[]).includes(value);
}

/** A serialized error as stored in records and journals. */
export interface StoredError {
  code: string;
  message: string;
  /** The `name` of the error class thrown by user code, used by retry policies. */
  name?: string;
  details?: Record<string, unknown>;
}

/** One workflow as the store holds it. Payloads are JSON text. */
export interface WorkflowRecord {
  id: string;
  type: string;
  state: WorkflowState;
  /** JSON text of the argument array passed to `start(...args)`. */
  input: string;
  /** JSON text of the result when COMPLETED. */
  result?: string | undefined;
  error?: StoredError | undefined;
  /** The parent workflow and the parent's step that started this one. */
  parentId?: string | undefined;
  parentStepId?: string | undefined;
  /** Epoch milliseconds. */
  createdAt: number;
  updatedAt: number;
  startedAt?: number | undefined;
  completedAt?: number | undefined;
  /** Earliest durable timer this workflow waits for (epoch ms), when sleeping. */
  wakeAt?: number | undefined;
  /** How many times the workflow was handed to a worker. */
  attempts: number;
  /** Monotonic version, bumped on every write (optimistic concurrency). */
  version: number;
}

/** What a journal entry records. */
export type StepKind = 'step' | 'activity' | 'sleep' | 'child' | 'invoke';

/**
 * Status of a journal entry: `completed`/`failed` are final; `waiting` is a
 * sleep whose timer has not fired or a child that has not finished.
 */
export type StepStatus = 'completed' | 'failed' | 'waiting';

/** One entry of a workflow's journal (its recorded steps). */
export interface StepRecord {
  workflowId: string;
  /** Deterministic position, e.g. `3` or `2.1/0` inside parallel branches. */
  stepId: string;
  /** The user's step name (for sleeps `sleep`, for children the child type). */
  name: string;
  kind: StepKind;
  status: StepStatus;
  /** Order in which the engine recorded entries of this workflow. */
  seq: number;
  /** JSON text of the step's result. */
  result?: string | undefined;
  error?: StoredError | undefined;
  attempts: number;
  startedAt: number;
  completedAt?: number | undefined;
  /** For sleeps: when the timer fires (epoch ms). */
  wakeAt?: number | undefined;
  /** For child workflows: the child's id. */
  childId?: string | undefined;
}

/** One line of the action log (state-action-log tier): every transition. */
export interface ActionRecord {
  workflowId: string;
  /** e.g. `workflow.started`, `step.completed`, `workflow.cancelled`. */
  action: string;
  at: number;
  /** Small JSON-compatible details of the action. */
  data?: Record<string, unknown> | undefined;
}

/** A page of workflows and the cursor of the next page. */
export interface WorkflowPage {
  items: WorkflowRecord[];
  nextCursor?: string | undefined;
}

/** Filter of workflow listings. */
export interface WorkflowFilter {
  type?: string | undefined;
  state?: WorkflowState | undefined;
  /** Opaque cursor returned by the previous page. */
  cursor?: string | undefined;
  /** Page size (default 50, at most 1000). */
  limit?: number | undefined;
}

/**
 * The row shapes the SQL stores (SQLite and PostgreSQL) share, and the
 * conversions between rows and records: snake_case columns, SQL NULL for an
 * absent optional field, JSON for errors and action data.
 */
import type {
  ActionRecord,
  StepKind,
  StepRecord,
  StepStatus,
  StoredError,
  WorkflowRecord,
  WorkflowState,
} from '@aether/core';

/** A row of the `workflows` table; `J` is how the store holds JSON (text or a parsed value). */
export interface WorkflowRow<J = unknown> {
  id: string;
  type: string;
  state: WorkflowState;
  input: string;
  result: string | null;
  error: J | null;
  parent_id: string | null;
  parent_step_id: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  completed_at: number | null;
  wake_at: number | null;
  attempts: number;
  version: number;
}

/** A row of the `steps` table. */
export interface StepRow<J = unknown> {
  workflow_id: string;
  step_id: string;
  name: string;
  kind: StepKind;
  status: StepStatus;
  seq: number;
  result: string | null;
  error: J | null;
  attempts: number;
  started_at: number;
  completed_at: number | null;
  wake_at: number | null;
  child_id: string | null;
}

/** A row of the `actions` table (without its id). */
export interface ActionRow<J = unknown> {
  workflow_id: string;
  action: string;
  at: number;
  data: J | null;
}

export const WORKFLOW_COLUMNS = [
  'id',
  'type',
  'state',
  'input',
  'result',
  'error',
  'parent_id',
  'parent_step_id',
  'created_at',
  'updated_at',
  'started_at',
  'completed_at',
  'wake_at',
  'attempts',
  'version',
] as const;

export const STEP_COLUMNS = [
  'workflow_id',
  'step_id',
  'name',
  'kind',
  'status',
  'seq',
  'result',
  'error',
  'attempts',
  'started_at',
  'completed_at',
  'wake_at',
  'child_id',
] as const;

export const ACTION_COLUMNS = ['workflow_id', 'action', 'at', 'data'] as const;

export function workflowToRow<J>(w: WorkflowRecord, json: (value: object) => J): WorkflowRow<J> {
  return {
    id: w.id,
    type: w.type,
    state: w.state,
    input: w.input,
    result: w.result ?? null,
    error: w.error === undefined ? null : json(w.error),
    parent_id: w.parentId ?? null,
    parent_step_id: w.parentStepId ?? null,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
    started_at: w.startedAt ?? null,
    completed_at: w.completedAt ?? null,
    wake_at: w.wakeAt ?? null,
    attempts: w.attempts,
    version: w.version,
  };
}

export function stepToRow<J>(s: StepRecord, json: (value: object) => J): StepRow<J> {
  return {
    workflow_id: s.workflowId,
    step_id: s.stepId,
    name: s.name,
    kind: s.kind,
    status: s.status,
    seq: s.seq,
    result: s.result ?? null,
    error: s.error === undefined ? null : json(s.error),
    attempts: s.attempts,
    started_at: s.startedAt,
    completed_at: s.completedAt ?? null,
    wake_at: s.wakeAt ?? null,
    child_id: s.childId ?? null,
  };
}

export function actionToRow<J>(a: ActionRecord, json: (value: object) => J): ActionRow<J> {
  return { workflow_id: a.workflowId, action: a.action, at: a.at, data: a.data === undefined ? null : json(a.data) };
}

/** JSON columns come back as text from SQLite and already parsed from PostgreSQL (jsonb). */
function parsed<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function rowToWorkflow(r: WorkflowRow): WorkflowRecord {
  const w: WorkflowRecord = {
    id: r.id,
    type: r.type,
    state: r.state,
    input: r.input,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    attempts: r.attempts,
    version: r.version,
  };
  if (r.result !== null) w.result = r.result;
  if (r.error !== null) w.error = parsed<StoredError>(r.error);
  if (r.parent_id !== null) w.parentId = r.parent_id;
  if (r.parent_step_id !== null) w.parentStepId = r.parent_step_id;
  if (r.started_at !== null) w.startedAt = r.started_at;
  if (r.completed_at !== null) w.completedAt = r.completed_at;
  if (r.wake_at !== null) w.wakeAt = r.wake_at;
  return w;
}

export function rowToStep(r: StepRow): StepRecord {
  const s: StepRecord = {
    workflowId: r.workflow_id,
    stepId: r.step_id,
    name: r.name,
    kind: r.kind,
    status: r.status,
    seq: r.seq,
    attempts: r.attempts,
    startedAt: r.started_at,
  };
  if (r.result !== null) s.result = r.result;
  if (r.error !== null) s.error = parsed<StoredError>(r.error);
  if (r.completed_at !== null) s.completedAt = r.completed_at;
  if (r.wake_at !== null) s.wakeAt = r.wake_at;
  if (r.child_id !== null) s.childId = r.child_id;
  return s;
}

export function rowToAction(r: ActionRow): ActionRecord {
  const a: ActionRecord = { workflowId: r.workflow_id, action: r.action, at: r.at };
  if (r.data !== null) a.data = parsed<Record<string, unknown>>(r.data);
  return a;
}

/** Groups journal rows (ordered by workflow, then seq) under their workflows. */
export function groupSteps(rows: readonly StepRow[]): Map<string, StepRecord[]> {
  const byWorkflow = new Map<string, StepRecord[]>();
  for (const r of rows) {
    let list = byWorkflow.get(r.workflow_id);
    if (list === undefined) byWorkflow.set(r.workflow_id, (list = []));
    list.push(rowToStep(r));
  }
  return byWorkflow;
}

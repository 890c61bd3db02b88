/**
 * Checks every mutation before a store writes it, so that all three stores
 * reject the same bad records with the same error (AETHER_E_INVALID_ARGUMENT)
 * and a bad record can never half-apply a batch.
 */
import { TerminalError, aetherError, isWorkflowState, type AetherError } from '@aether/core';
import type { ActionRecord, StepRecord, StoredError, WorkflowRecord } from '@aether/core';
import type { Mutation } from './types.js';

const STEP_KINDS: ReadonlySet<string> = new Set(['step', 'activity', 'sleep', 'child', 'invoke']);
const STEP_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'waiting']);

function invalid(what: string, field: string, value: unknown): TerminalError {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : String(value);
  return new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid ${what}: field ${field} is ${shown}`, {
    record: what,
    field,
  });
}

function requireId(what: string, field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw invalid(what, field, value);
}

function requireString(what: string, field: string, value: unknown): void {
  if (typeof value !== 'string') throw invalid(what, field, value);
}

function optionalString(what: string, field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') throw invalid(what, field, value);
}

/** Timestamps, counters and versions: safe integers (they go to INTEGER / bigint columns). */
function requireInt(what: string, field: string, value: unknown): void {
  if (!Number.isSafeInteger(value)) throw invalid(what, field, value);
}

function optionalInt(what: string, field: string, value: unknown): void {
  if (value !== undefined && !Number.isSafeInteger(value)) throw invalid(what, field, value);
}

function requireCount(what: string, field: string, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalid(what, field, value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function optionalError(what: string, value: StoredError | undefined): void {
  if (value === undefined) return;
  if (!isPlainObject(value) || typeof value.code !== 'string' || typeof value.message !== 'string') {
    throw invalid(what, 'error', value === null ? null : typeof value);
  }
  if (value.name !== undefined && typeof value.name !== 'string') throw invalid(what, 'error.name', value.name);
  if (value.details !== undefined && !isPlainObject(value.details))
    throw invalid(what, 'error.details', 'not an object');
}

export function validateWorkflow(w: WorkflowRecord): void {
  const what = 'workflow record';
  if (!isPlainObject(w)) throw invalid(what, 'workflow', typeof w);
  requireId(what, 'id', w.id);
  requireId(what, 'type', w.type);
  if (!isWorkflowState(w.state)) throw invalid(what, 'state', w.state);
  requireString(what, 'input', w.input);
  optionalString(what, 'result', w.result);
  optionalError(what, w.error);
  optionalString(what, 'parentId', w.parentId);
  optionalString(what, 'parentStepId', w.parentStepId);
  requireInt(what, 'createdAt', w.createdAt);
  requireInt(what, 'updatedAt', w.updatedAt);
  optionalInt(what, 'startedAt', w.startedAt);
  optionalInt(what, 'completedAt', w.completedAt);
  optionalInt(what, 'wakeAt', w.wakeAt);
  requireCount(what, 'attempts', w.attempts);
  requireCount(what, 'version', w.version);
}

export function validateStep(s: StepRecord): void {
  const what = 'step record';
  if (!isPlainObject(s)) throw invalid(what, 'step', typeof s);
  requireId(what, 'workflowId', s.workflowId);
  requireId(what, 'stepId', s.stepId);
  requireString(what, 'name', s.name);
  if (!STEP_KINDS.has(s.kind)) throw invalid(what, 'kind', s.kind);
  if (!STEP_STATUSES.has(s.status)) throw invalid(what, 'status', s.status);
  requireInt(what, 'seq', s.seq);
  optionalString(what, 'result', s.result);
  optionalError(what, s.error);
  requireCount(what, 'attempts', s.attempts);
  requireInt(what, 'startedAt', s.startedAt);
  optionalInt(what, 'completedAt', s.completedAt);
  optionalInt(what, 'wakeAt', s.wakeAt);
  optionalString(what, 'childId', s.childId);
}

export function validateAction(a: ActionRecord): void {
  const what = 'action record';
  if (!isPlainObject(a)) throw invalid(what, 'action', typeof a);
  requireId(what, 'workflowId', a.workflowId);
  requireId(what, 'action', a.action);
  requireInt(what, 'at', a.at);
  if (a.data !== undefined && !isPlainObject(a.data)) throw invalid(what, 'data', 'not an object');
}

/** Throws AETHER_E_INVALID_ARGUMENT when a mutation holds a record no store may keep. */
export function validateMutation(m: Mutation): void {
  switch (m?.type) {
    case 'workflow.put':
      return validateWorkflow(m.workflow);
    case 'step.put':
      return validateStep(m.step);
    case 'action.append':
      return validateAction(m.action);
    default:
      throw new TerminalError(
        'AETHER_E_INVALID_ARGUMENT',
        `unknown mutation type ${String((m as { type?: unknown })?.type)}`,
        {
          record: 'mutation',
        },
      );
  }
}

/** Throws AETHER_E_INVALID_ARGUMENT unless every workflow type name is a non-empty string. */
export function validateTypeNames(types: readonly string[]): void {
  if (!Array.isArray(types)) throw invalid('workflow type list', 'types', typeof types);
  for (const t of types) requireId('workflow type', 'type', t);
}

/** The error of any call on a store after close(). */
export function storeClosed(location: string): AetherError {
  return aetherError('AETHER_E_SHUTTING_DOWN', `the workflow store ${location} is closed`, { location });
}

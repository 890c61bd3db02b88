/**
 * Conversions between engine records and the gRPC messages of
 * proto/aether/v1, and between AetherErrors and gRPC status errors.
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { toAetherError, proto, type StepRecord, type StoredError, type WorkflowRecord } from '@aether/core';
import type { WorkerTask } from '@aether/engine';

export function errorInfo(e: StoredError | undefined): proto.ErrorInfo | undefined {
  if (!e) return undefined;
  return {
    code: e.code,
    message: e.message,
    name: e.name ?? '',
    detailsJson: e.details ? JSON.stringify(e.details) : '',
  };
}

export function storedError(e: proto.ErrorInfo | undefined): StoredError | undefined {
  if (!e || (e.code === '' && e.message === '')) return undefined;
  const out: StoredError = { code: e.code || 'AETHER_E_INTERNAL', message: e.message };
  if (e.name) out.name = e.name;
  if (e.detailsJson) {
    try {
      const d: unknown = JSON.parse(e.detailsJson);
      if (d !== null && typeof d === 'object' && !Array.isArray(d)) out.details = d as Record<string, unknown>;
    } catch {
      // details are informational; ignore malformed ones
    }
  }
  return out;
}

export function stepInfo(s: StepRecord): proto.StepInfo {
  return {
    stepId: s.stepId,
    name: s.name,
    kind: s.kind,
    status: s.status,
    resultJson: s.result ?? '',
    error: errorInfo(s.error),
    attempts: s.attempts,
    startedAtMs: s.startedAt,
    completedAtMs: s.completedAt ?? 0,
    wakeAtMs: s.wakeAt ?? 0,
    childWorkflowId: s.childId ?? '',
    seq: s.seq,
  };
}

export function workflowStatus(w: WorkflowRecord, steps: StepRecord[] = []): proto.WorkflowStatus {
  return {
    workflowId: w.id,
    workflowType: w.type,
    state: w.state,
    inputJson: w.input,
    resultJson: w.result ?? '',
    error: errorInfo(w.error),
    createdAtMs: w.createdAt,
    updatedAtMs: w.updatedAt,
    wakeAtMs: w.wakeAt ?? 0,
    parentWorkflowId: w.parentId ?? '',
    attempts: w.attempts,
    steps: steps.map(stepInfo),
  };
}

export function workflowInfo(w: WorkflowRecord): proto.WorkflowInfo {
  return {
    workflowId: w.id,
    workflowType: w.type,
    state: w.state,
    createdAtMs: w.createdAt,
    updatedAtMs: w.updatedAt,
    parentWorkflowId: w.parentId ?? '',
  };
}

export function task(t: WorkerTask): proto.Task {
  if (t.kind === 'cancel') {
    return {
      kind: 'cancel',
      workflowId: t.workflowId,
      workflowType: '',
      inputJson: '',
      leaseToken: t.leaseToken,
      attempt: 0,
      journal: [],
      reason: t.reason,
    };
  }
  return {
    kind: 'run',
    workflowId: t.workflowId,
    workflowType: t.workflowType,
    inputJson: t.input,
    leaseToken: t.leaseToken,
    attempt: t.attempt,
    journal: t.journal.map(stepInfo),
    reason: '',
  };
}

/** Turns anything thrown into a gRPC error carrying the Aether code in trailing metadata. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = toAetherError(err);
  const metadata = new Metadata();
  metadata.set('aether-error-code', e.code);
  if (Object.keys(e.details).length > 0) metadata.set('aether-error-details', asciiJson(e.details));
  return { code: e.grpcStatus, details: e.message, metadata };
}

/** JSON with non-ASCII characters escaped, as gRPC metadata values must be ASCII. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

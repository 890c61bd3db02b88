/**
 * Conversions between the gRPC messages of proto/aether/v1 (ts-proto, every
 * field present, empty string / 0 meaning unset) and the SDK's connection
 * types (optional fields).
 */
import {
  isWorkflowState,
  proto,
  type StepKind,
  type StepRecord,
  type StepStatus,
  type StoredError,
  type WorkflowState,
} from '@aether/core';
import type { WorkerCommand, WorkerTask, WorkflowDescription } from './types.js';

const EMPTY_ERROR_INFO: proto.ErrorInfo = { code: '', message: '', name: '', detailsJson: '' };

/** `ErrorInfo` -> StoredError (undefined when absent or empty). */
export function storedErrorFromInfo(info: proto.ErrorInfo | undefined): StoredError | undefined {
  if (!info || (info.code === '' && info.message === '')) return undefined;
  const error: StoredError = { code: info.code, message: info.message };
  if (info.name !== '') error.name = info.name;
  if (info.detailsJson !== '') {
    try {
      const details = JSON.parse(info.detailsJson) as unknown;
      if (details !== null && typeof details === 'object' && !Array.isArray(details))
        error.details = details as Record<string, unknown>;
    } catch {
      error.details = { raw: info.detailsJson };
    }
  }
  return error;
}

/** StoredError -> `ErrorInfo`. */
export function errorInfoFromStored(error: StoredError | undefined): proto.ErrorInfo | undefined {
  if (!error) return undefined;
  return {
    code: error.code,
    message: error.message,
    name: error.name ?? '',
    detailsJson: error.details ? JSON.stringify(error.details) : '',
  };
}

/** The state names of the wire, checked. */
export function stateFromWire(state: string): WorkflowState {
  return isWorkflowState(state) ? state : 'PENDING';
}

/** `StepInfo` -> StepRecord of the workflow `workflowId`. */
export function stepRecordFromInfo(workflowId: string, info: proto.StepInfo): StepRecord {
  const record: StepRecord = {
    workflowId,
    stepId: info.stepId,
    name: info.name,
    kind: info.kind as StepKind,
    status: info.status as StepStatus,
    seq: info.seq,
    result: info.resultJson,
    attempts: info.attempts,
    startedAt: info.startedAtMs,
  };
  const error = storedErrorFromInfo(info.error);
  if (error) record.error = error;
  if (info.completedAtMs !== 0) record.completedAt = info.completedAtMs;
  if (info.wakeAtMs !== 0) record.wakeAt = info.wakeAtMs;
  if (info.childWorkflowId !== '') record.childId = info.childWorkflowId;
  return record;
}

/** A pushed `Task` -> WorkerTask (undefined for kinds this SDK does not know). */
export function taskFromProto(task: proto.Task): WorkerTask | undefined {
  if (task.kind === 'run') {
    const journal = new Array<StepRecord>(task.journal.length);
    for (let i = 0; i < task.journal.length; i++) journal[i] = stepRecordFromInfo(task.workflowId, task.journal[i]!);
    return {
      kind: 'run',
      workflowId: task.workflowId,
      workflowType: task.workflowType,
      input: task.inputJson,
      leaseToken: task.leaseToken,
      attempt: task.attempt,
      journal,
    };
  }
  if (task.kind === 'cancel') {
    return { kind: 'cancel', workflowId: task.workflowId, leaseToken: task.leaseToken, reason: task.reason };
  }
  return undefined;
}

/** A WorkerCommand -> `CompleteStepRequest` (fields as the proto comments say). */
export function completeStepRequest(
  workerId: string,
  workflowId: string,
  leaseToken: string,
  command: WorkerCommand,
): proto.CompleteStepRequest {
  const request: proto.CompleteStepRequest = {
    workerId,
    workflowId,
    leaseToken,
    kind: command.kind,
    stepId: '',
    name: '',
    status: '',
    resultJson: '',
    error: undefined,
    attempts: 0,
    startedAtMs: 0,
    durationMs: 0,
    childType: '',
    childInputJson: '',
  };
  switch (command.kind) {
    case 'step':
    case 'activity':
    case 'invoke':
      request.stepId = command.stepId;
      request.name = command.name;
      request.status = command.status;
      request.resultJson = command.result ?? '';
      request.error = errorInfoFromStored(command.error);
      request.attempts = command.attempts;
      request.startedAtMs = command.startedAt;
      break;
    case 'sleep':
      request.stepId = command.stepId;
      request.name = command.name;
      request.durationMs = command.durationMs;
      break;
    case 'child':
      request.stepId = command.stepId;
      request.name = command.name;
      request.childType = command.childType;
      request.childInputJson = command.childInput;
      break;
    case 'workflow_completed':
      request.resultJson = command.result;
      break;
    case 'workflow_failed':
      request.error = errorInfoFromStored(command.error) ?? EMPTY_ERROR_INFO;
      break;
    case 'suspend':
      break;
  }
  return request;
}

/** `WorkflowStatus` -> WorkflowDescription. */
export function descriptionFromStatus(status: proto.WorkflowStatus, includeSteps: boolean): WorkflowDescription {
  const description: WorkflowDescription = {
    workflowId: status.workflowId,
    workflowType: status.workflowType,
    state: stateFromWire(status.state),
    input: status.inputJson,
    createdAt: status.createdAtMs,
    updatedAt: status.updatedAtMs,
    attempts: status.attempts,
  };
  if (status.resultJson !== '' || description.state === 'COMPLETED') description.result = status.resultJson;
  const error = storedErrorFromInfo(status.error);
  if (error) description.error = error;
  if (status.wakeAtMs !== 0) description.wakeAt = status.wakeAtMs;
  if (status.parentWorkflowId !== '') description.parentWorkflowId = status.parentWorkflowId;
  if (includeSteps) description.steps = status.steps.map((s) => stepRecordFromInfo(status.workflowId, s));
  return description;
}

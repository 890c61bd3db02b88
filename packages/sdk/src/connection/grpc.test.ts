/** serverUrl parsing, gRPC error mapping and proto <-> connection type conversions. */
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { RetryableError, TerminalError } from '@aether/core';
import { fromGrpcFailure } from './grpc-errors.js';
import { completeStepRequest, stepRecordFromInfo, taskFromProto } from './grpc-mapping.js';
import { GrpcFailure } from './grpc-session.js';
import { parseServerUrl } from './grpc-target.js';

function failure(code: status, message: string, meta: Record<string, string> = {}): GrpcFailure {
  return new GrpcFailure(code, message, (key) => meta[key]);
}

describe('parseServerUrl', () => {
  it('strips http:// and uses TLS for https://', () => {
    expect(parseServerUrl('http://localhost:7233')).toEqual({
      target: 'localhost:7233',
      secure: false,
      host: 'localhost',
      port: 7233,
    });
    expect(parseServerUrl('https://aether.example.com:7233/')).toMatchObject({
      target: 'aether.example.com:7233',
      secure: true,
    });
    expect(parseServerUrl('https://aether.example.com')).toMatchObject({
      target: 'aether.example.com:443',
      secure: true,
      port: 443,
    });
    expect(parseServerUrl('127.0.0.1:7233')).toMatchObject({ target: '127.0.0.1:7233', secure: false });
    expect(parseServerUrl('http://[::1]:7233')).toMatchObject({ target: '[::1]:7233', host: '::1', port: 7233 });
    expect(parseServerUrl('unix:/tmp/aether.sock')).toMatchObject({ path: '/tmp/aether.sock' });
  });

  it('rejects other schemes with AETHER_E_INVALID_ARGUMENT', () => {
    expect(() => parseServerUrl('ftp://x:1')).toThrow(TerminalError);
    expect(() => parseServerUrl('http://host:7233/path')).toThrow(TerminalError);
    expect(() => parseServerUrl('')).toThrow(TerminalError);
  });
});

describe('fromServiceError', () => {
  it('uses the aether-error-code and details trailers', () => {
    const e = fromGrpcFailure(
      failure(status.NOT_FOUND, 'workflow x not found', {
        'aether-error-code': 'AETHER_E_WF_NOT_FOUND',
        'aether-error-details': '{"workflowId":"x"}',
      }),
      'GetWorkflowStatus',
    );
    expect(e).toBeInstanceOf(TerminalError);
    expect(e.code).toBe('AETHER_E_WF_NOT_FOUND');
    expect(e.message).toBe('workflow x not found');
    expect(e.details).toMatchObject({ workflowId: 'x', grpcCode: status.NOT_FOUND });
  });

  it('maps bare statuses: UNAVAILABLE, DEADLINE_EXCEEDED, anything else INTERNAL', () => {
    const unavailable = fromGrpcFailure(failure(status.UNAVAILABLE, 'No connection established'), 'StartWorkflow');
    expect(unavailable).toBeInstanceOf(RetryableError);
    expect(unavailable.code).toBe('AETHER_E_UNAVAILABLE');
    expect(fromGrpcFailure(failure(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), 'x').code).toBe('AETHER_E_TIMEOUT');
    expect(fromGrpcFailure(failure(status.UNKNOWN, 'boom'), 'x').code).toBe('AETHER_E_INTERNAL');
  });
});

describe('proto mapping', () => {
  it('maps a run task and its journal', () => {
    const task = taskFromProto({
      kind: 'run',
      workflowId: 'w',
      workflowType: 't',
      inputJson: '[1]',
      leaseToken: 'L',
      attempt: 2,
      reason: '',
      journal: [
        {
          stepId: '0',
          name: 's',
          kind: 'step',
          status: 'failed',
          resultJson: '',
          error: { code: 'AETHER_E_STEP_FAILED', message: 'm', name: 'TypeError', detailsJson: '' },
          attempts: 1,
          startedAtMs: 5,
          completedAtMs: 6,
          wakeAtMs: 0,
          childWorkflowId: '',
          seq: 0,
        },
      ],
    });
    expect(task).toEqual({
      kind: 'run',
      workflowId: 'w',
      workflowType: 't',
      input: '[1]',
      leaseToken: 'L',
      attempt: 2,
      journal: [
        {
          workflowId: 'w',
          stepId: '0',
          name: 's',
          kind: 'step',
          status: 'failed',
          seq: 0,
          result: '',
          error: { code: 'AETHER_E_STEP_FAILED', message: 'm', name: 'TypeError' },
          attempts: 1,
          startedAt: 5,
          completedAt: 6,
        },
      ],
    });
    expect(taskFromProto({ kind: 'cancel', workflowId: 'w', leaseToken: 'L', reason: 'r' } as never)).toEqual({
      kind: 'cancel',
      workflowId: 'w',
      leaseToken: 'L',
      reason: 'r',
    });
  });

  it('fills CompleteStep fields as the proto comments say', () => {
    expect(
      completeStepRequest('wk', 'w', 'L', { kind: 'sleep', stepId: '1', name: 'sleep', durationMs: 500 }),
    ).toMatchObject({
      workerId: 'wk',
      workflowId: 'w',
      leaseToken: 'L',
      kind: 'sleep',
      stepId: '1',
      durationMs: 500,
    });
    expect(
      completeStepRequest('wk', 'w', 'L', { kind: 'child', stepId: '2', name: 'c', childType: 'c', childInput: '[]' }),
    ).toMatchObject({ kind: 'child', childType: 'c', childInputJson: '[]' });
    expect(
      completeStepRequest('wk', 'w', 'L', {
        kind: 'workflow_failed',
        error: { code: 'AETHER_E_WF_FAILED', message: 'x', name: 'Error', details: { a: 1 } },
      }).error,
    ).toEqual({ code: 'AETHER_E_WF_FAILED', message: 'x', name: 'Error', detailsJson: '{"a":1}' });
    expect(
      stepRecordFromInfo('w', {
        stepId: '0',
        name: 'sleep',
        kind: 'sleep',
        status: 'waiting',
        resultJson: '',
        error: undefined,
        attempts: 1,
        startedAtMs: 1,
        completedAtMs: 0,
        wakeAtMs: 9,
        childWorkflowId: '',
        seq: 3,
      }),
    ).toMatchObject({ wakeAt: 9, seq: 3 });
  });
});

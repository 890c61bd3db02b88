/**
 * The gRPC Connection: ClientService calls for start/status/await/cancel,
 * AdminService for listings, and GrpcWorkerLink for workers. Idempotent calls
 * (start with a workflow id, status, await, cancel, list) survive a server
 * restart by retrying while the server is unavailable.
 */
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { aetherError, type WorkflowFilter, type WorkflowState, type proto } from '@aether/core';
import { fromServiceError } from './grpc-errors.js';
import { isUnavailable } from '../errors.js';
import { descriptionFromStatus, stateFromWire, storedErrorFromInfo } from './grpc-mapping.js';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.js';
import { GrpcWorkerLink } from './grpc-worker-link.js';
import type {
  Connection,
  Outcome,
  StartRequest,
  StartResponse,
  WorkerLink,
  WorkerLinkOptions,
  WorkflowDescription,
  WorkflowSummaryRecord,
} from './types.js';

/** Slack added to an AwaitResult deadline beyond its server-side wait. */
const AWAIT_DEADLINE_SLACK_MS = 10_000;

function isRetryableAwait(error: unknown): boolean {
  // The server may also time a long poll out with DEADLINE_EXCEEDED: ask again.
  return isUnavailable(error) || (error instanceof Error && 'code' in error && error.code === 'AETHER_E_TIMEOUT');
}

export class GrpcConnection implements Connection {
  readonly mode = 'grpc' as const;
  private readonly transport: GrpcTransport;
  private readonly links = new Set<GrpcWorkerLink>();

  constructor(options: GrpcTransportOptions) {
    this.transport = new GrpcTransport(options);
  }

  startWorkflow(request: StartRequest): Promise<StartResponse> {
    const message: proto.StartWorkflowRequest = {
      workflowType: request.type,
      inputJson: request.input,
      workflowId: request.workflowId,
    };
    const t = this.transport;
    return t.retrying(async () => {
      const response = await t.call<proto.StartWorkflowResponse>('StartWorkflow', t.callTimeoutMs, (md, opts, cb) =>
        t.client.startWorkflow(message, md, opts, cb),
      );
      return {
        workflowId: response.workflowId,
        alreadyStarted: response.alreadyStarted,
        state: stateFromWire(response.state),
      };
    });
  }

  getStatus(workflowId: string, includeSteps: boolean): Promise<WorkflowDescription> {
    const t = this.transport;
    return t.retrying(async () => {
      const status = await t.call<proto.WorkflowStatus>('GetWorkflowStatus', t.callTimeoutMs, (md, opts, cb) =>
        t.client.getWorkflowStatus({ workflowId, includeSteps }, md, opts, cb),
      );
      return descriptionFromStatus(status, includeSteps);
    });
  }

  awaitResult(workflowId: string, timeoutMs: number): Promise<Outcome> {
    const t = this.transport;
    const request: proto.AwaitResultRequest = { workflowId, timeoutMs };
    const deadline = timeoutMs > 0 ? timeoutMs + AWAIT_DEADLINE_SLACK_MS : 2 ** 31 - 1;
    return t.retrying(
      async () => {
        const result = await t.call<proto.WorkflowResult>('AwaitResult', deadline, (md, opts, cb) =>
          t.client.awaitResult(request, md, opts, cb),
        );
        const outcome: Outcome = { workflowId: result.workflowId || workflowId, state: stateFromWire(result.state) };
        if (outcome.state === 'COMPLETED') outcome.result = result.resultJson;
        const error = storedErrorFromInfo(result.error);
        if (error) outcome.error = error;
        return outcome;
      },
      t.unavailableRetryMs,
      isRetryableAwait,
    );
  }

  cancel(workflowId: string, reason: string): Promise<{ workflowId: string; state: WorkflowState }> {
    const t = this.transport;
    return t.retrying(async () => {
      const response = await t.call<proto.CancelResponse>('CancelWorkflow', t.callTimeoutMs, (md, opts, cb) =>
        t.client.cancelWorkflow({ workflowId, reason }, md, opts, cb),
      );
      return { workflowId: response.workflowId || workflowId, state: stateFromWire(response.state) };
    });
  }

  listWorkflows(filter: WorkflowFilter): Promise<WorkflowSummaryRecord[]> {
    const t = this.transport;
    const request: proto.ListRequest = {
      workflowType: filter.type ?? '',
      state: filter.state ?? '',
      limit: filter.limit ?? 0,
      cursor: filter.cursor ?? '',
    };
    return t.retrying(
      () =>
        new Promise<WorkflowSummaryRecord[]>((resolve, reject) => {
          if (t.isClosed) return reject(t.closedError('ListWorkflows'));
          const items: WorkflowSummaryRecord[] = [];
          const stream: ClientReadableStream<proto.WorkflowInfo> = t.admin.listWorkflows(request, t.metadata(), {
            deadline: Date.now() + t.callTimeoutMs,
          });
          stream.on('data', (info: proto.WorkflowInfo) => {
            const item: WorkflowSummaryRecord = {
              workflowId: info.workflowId,
              workflowType: info.workflowType,
              state: stateFromWire(info.state),
              createdAt: info.createdAtMs,
              updatedAt: info.updatedAtMs,
            };
            if (info.parentWorkflowId !== '') item.parentWorkflowId = info.parentWorkflowId;
            items.push(item);
          });
          stream.on('error', (error: Error & { code?: number }) => reject(mapStreamError(error)));
          stream.on('end', () => resolve(items));
        }),
    );
  }

  async connectWorker(options: WorkerLinkOptions): Promise<WorkerLink> {
    const link = new GrpcWorkerLink(this.transport, options);
    this.links.add(link);
    try {
      await link.open();
    } catch (error) {
      this.links.delete(link);
      await link.close();
      throw error;
    }
    return link;
  }

  async close(): Promise<void> {
    for (const link of this.links) await link.close();
    this.links.clear();
    this.transport.close();
  }
}

/** Stream errors are ServiceErrors too; reuse the unary mapping. */
function mapStreamError(error: Error & { code?: number }): Error {
  if (typeof error.code === 'number') return fromServiceError(error as ServiceError, 'ListWorkflows');
  return aetherError('AETHER_E_INTERNAL', error.message);
}

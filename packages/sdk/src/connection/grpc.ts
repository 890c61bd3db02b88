/**
 * The gRPC Connection: ClientService calls for start/status/await/cancel,
 * AdminService for listings, and GrpcWorkerLink for workers. Idempotent calls
 * (start with a workflow id, status, await, cancel, list) survive a server
 * restart by retrying while the server is unavailable.
 */
import { AetherError, type WorkflowFilter, type WorkflowState, type proto } from '@aether/core';
import { isUnavailable } from '../errors.js';
import { descriptionFromStatus, stateFromWire, storedErrorFromInfo } from './grpc-mapping.js';
import { RPC } from './grpc-methods.js';
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
/** Deadline of an AwaitResult without a server-side limit. */
const UNBOUNDED_AWAIT_MS = 2 ** 31 - 1;

function isRetryableAwait(error: unknown): boolean {
  // A long poll may also end with DEADLINE_EXCEEDED: ask again.
  return isUnavailable(error) || (error instanceof AetherError && error.code === 'AETHER_E_TIMEOUT');
}

export class GrpcConnection implements Connection {
  readonly mode = 'grpc' as const;
  private readonly transport: GrpcTransport;
  private readonly links = new Set<GrpcWorkerLink>();

  constructor(options: GrpcTransportOptions) {
    this.transport = new GrpcTransport(options);
  }

  startWorkflow(request: StartRequest): Promise<StartResponse> {
    const t = this.transport;
    const waitMs = request.waitMs ?? 0;
    const message = { workflowType: request.type, inputJson: request.input, workflowId: request.workflowId, waitMs };
    const deadline = waitMs > 0 ? waitMs + AWAIT_DEADLINE_SLACK_MS : undefined;
    return t.retrying(async () => {
      const response = await t.call(RPC.startWorkflow, message, deadline);
      const out: StartResponse = {
        workflowId: response.workflowId,
        alreadyStarted: response.alreadyStarted,
        state: stateFromWire(response.state),
      };
      if (response.result) out.outcome = outcomeFromResult(response.result, response.workflowId);
      return out;
    });
  }

  getStatus(workflowId: string, includeSteps: boolean): Promise<WorkflowDescription> {
    const t = this.transport;
    return t.retrying(async () =>
      descriptionFromStatus(await t.call(RPC.getWorkflowStatus, { workflowId, includeSteps }), includeSteps),
    );
  }

  awaitResult(workflowId: string, timeoutMs: number): Promise<Outcome> {
    const t = this.transport;
    const deadline = timeoutMs > 0 ? timeoutMs + AWAIT_DEADLINE_SLACK_MS : UNBOUNDED_AWAIT_MS;
    return t.retrying(
      async () => {
        return outcomeFromResult(await t.call(RPC.awaitResult, { workflowId, timeoutMs }, deadline), workflowId);
      },
      t.unavailableRetryMs,
      isRetryableAwait,
    );
  }

  cancel(workflowId: string, reason: string): Promise<{ workflowId: string; state: WorkflowState }> {
    const t = this.transport;
    return t.retrying(async () => {
      const response = await t.call(RPC.cancelWorkflow, { workflowId, reason });
      return { workflowId: response.workflowId || workflowId, state: stateFromWire(response.state) };
    });
  }

  listWorkflows(filter: WorkflowFilter): Promise<WorkflowSummaryRecord[]> {
    const t = this.transport;
    const request = {
      workflowType: filter.type ?? '',
      state: filter.state ?? '',
      limit: filter.limit ?? 0,
      cursor: filter.cursor ?? '',
    };
    return t.retrying(
      () =>
        new Promise<WorkflowSummaryRecord[]>((resolve, reject) => {
          const items: WorkflowSummaryRecord[] = [];
          t.stream(
            RPC.listWorkflows,
            request,
            (info) => {
              const item: WorkflowSummaryRecord = {
                workflowId: info.workflowId,
                workflowType: info.workflowType,
                state: stateFromWire(info.state),
                createdAt: info.createdAtMs,
                updatedAt: info.updatedAtMs,
              };
              if (info.parentWorkflowId !== '') item.parentWorkflowId = info.parentWorkflowId;
              items.push(item);
            },
            (error) => (error ? reject(error) : resolve(items)),
            t.callTimeoutMs,
          );
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

function outcomeFromResult(result: proto.WorkflowResult, workflowId: string): Outcome {
  const outcome: Outcome = { workflowId: result.workflowId || workflowId, state: stateFromWire(result.state) };
  if (outcome.state === 'COMPLETED') outcome.result = result.resultJson;
  const error = storedErrorFromInfo(result.error);
  if (error) outcome.error = error;
  return outcome;
}

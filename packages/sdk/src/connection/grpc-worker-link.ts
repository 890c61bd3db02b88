/**
 * The worker side of the gRPC connection: Register, then a PollTasks server
 * stream delivering tasks, CompleteStep per command and Heartbeat. When the
 * stream breaks (server restart, network) every run is given up locally (the
 * engine hands them out again) and the link re-registers with capped
 * exponential backoff.
 */
import { AetherError, type proto } from '@aether/core';
import { isUnavailable } from '../errors.js';
import { completeStepRequest, stepRecordFromInfo, taskFromProto } from './grpc-mapping.js';
import { RPC } from './grpc-methods.js';
import type { ServerStream } from './grpc-session.js';
import type { GrpcTransport } from './grpc-transport.js';
import type { CommandResult, WorkerCommand, WorkerLink, WorkerLinkOptions } from './types.js';

const MIN_RECONNECT_MS = 50;
const MAX_RECONNECT_MS = 2000;
/** A stream that lived this long was healthy: the next reconnect starts fast again. */
const HEALTHY_STREAM_MS = 1000;

export class GrpcWorkerLink implements WorkerLink {
  heartbeatIntervalMs = 1000;
  maxPayloadBytes = 0;
  private stream: ServerStream | undefined;
  private streamOpenedAt = 0;
  private closed = false;
  private reconnectDelay = MIN_RECONNECT_MS;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly transport: GrpcTransport,
    private readonly options: WorkerLinkOptions,
  ) {}

  /** Registers (retrying while the server is unavailable) and opens the task stream. */
  async open(): Promise<void> {
    await this.transport.retrying(() => this.register());
    this.openStream();
  }

  private async register(): Promise<void> {
    const { workerId, workflowTypes, maxConcurrency } = this.options;
    const response = await this.transport.call(RPC.register, {
      workerId,
      workflowTypes: [...workflowTypes],
      maxConcurrency,
    });
    this.heartbeatIntervalMs =
      response.heartbeatIntervalMs > 0
        ? response.heartbeatIntervalMs
        : response.leaseMs > 0
          ? Math.max(50, Math.floor(response.leaseMs / 3))
          : 1000;
    this.maxPayloadBytes = response.maxPayloadBytes;
  }

  private openStream(): void {
    if (this.closed) return;
    let lost = false;
    const openedAt = Date.now();
    this.streamOpenedAt = openedAt;
    const stream = this.transport.stream(
      RPC.pollTasks,
      { workerId: this.options.workerId },
      (message: proto.Task) => {
        const task = taskFromProto(message);
        if (task) this.options.onTask(task);
      },
      (error) => {
        if (lost) return;
        lost = true;
        if (this.stream === stream) this.stream = undefined;
        if (this.closed) return;
        if (Date.now() - openedAt >= HEALTHY_STREAM_MS) this.reconnectDelay = MIN_RECONNECT_MS;
        this.options.onReset(error ? `task stream failed: ${error.message}` : 'task stream ended');
        this.scheduleReconnect();
      },
    );
    this.stream = stream;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const wait = this.reconnectDelay;
    this.reconnectDelay = Math.min(wait * 2, MAX_RECONNECT_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.register().then(
        () => this.openStream(),
        (error: unknown) => {
          if (!isUnavailable(error))
            this.options.warn?.(`worker ${this.options.workerId}: registering again failed`, error);
          this.scheduleReconnect();
        },
      );
    }, wait);
  }

  async command(workflowId: string, leaseToken: string, command: WorkerCommand): Promise<CommandResult> {
    const response = await this.transport.call(
      RPC.completeStep,
      completeStepRequest(this.options.workerId, workflowId, leaseToken, command),
    );
    return {
      step: response.step ? stepRecordFromInfo(workflowId, response.step) : undefined,
      cancelled: response.cancelled,
    };
  }

  async heartbeat(workflowIds: readonly string[]): Promise<string[]> {
    const stream = this.stream;
    if (stream === undefined) return [];
    try {
      const response = await this.transport.call(RPC.heartbeat, {
        workerId: this.options.workerId,
        workflowIds: [...workflowIds],
      });
      return response.abortWorkflowIds;
    } catch (error) {
      // The server forgot this worker (restarted, or dropped it): register again.
      // A young stream may simply not be attached yet on the server.
      if (
        error instanceof AetherError &&
        error.code === 'AETHER_E_WORKER_NOT_REGISTERED' &&
        this.stream === stream &&
        Date.now() - this.streamOpenedAt > Math.max(HEALTHY_STREAM_MS, this.heartbeatIntervalMs)
      ) {
        stream.cancel();
      }
      return [];
    }
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stream?.cancel();
    this.stream = undefined;
    return Promise.resolve();
  }
}

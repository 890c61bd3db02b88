/**
 * The worker side of the gRPC connection: Register, then a PollTasks server
 * stream delivering tasks, CompleteStep per command and Heartbeat. When the
 * stream breaks (server restart, network) every run is given up locally (the
 * engine hands them out again) and the link re-registers with capped
 * exponential backoff.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import { AetherError, type proto } from '@aether/core';
import { completeStepRequest, stepRecordFromInfo, taskFromProto } from './grpc-mapping.js';
import type { GrpcTransport } from './grpc-transport.js';
import type { CommandResult, WorkerCommand, WorkerLink, WorkerLinkOptions } from './types.js';

const MIN_RECONNECT_MS = 50;
const MAX_RECONNECT_MS = 2000;
/** A stream that lived this long was healthy: the next reconnect starts fast again. */
const HEALTHY_STREAM_MS = 1000;

export class GrpcWorkerLink implements WorkerLink {
  heartbeatIntervalMs = 1000;
  maxPayloadBytes = 0;
  private stream: ClientReadableStream<proto.Task> | undefined;
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
    const request: proto.RegisterRequest = { workerId, workflowTypes: [...workflowTypes], maxConcurrency };
    const response = await this.transport.call<proto.RegisterResponse>(
      'Register',
      this.transport.callTimeoutMs,
      (md, opts, cb) => this.transport.worker.register(request, md, opts, cb),
    );
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
    const stream = this.transport.worker.pollTasks({ workerId: this.options.workerId }, this.transport.metadata());
    this.stream = stream;
    const openedAt = Date.now();
    let lost = false;
    const onLost = (reason: string): void => {
      if (lost) return;
      lost = true;
      if (this.stream === stream) this.stream = undefined;
      if (this.closed) return;
      if (Date.now() - openedAt >= HEALTHY_STREAM_MS) this.reconnectDelay = MIN_RECONNECT_MS;
      this.options.onReset(reason);
      this.scheduleReconnect();
    };
    stream.on('data', (message: proto.Task) => {
      const task = taskFromProto(message);
      if (task) this.options.onTask(task);
    });
    stream.on('error', (error: Error) => onLost(`task stream failed: ${error.message}`));
    stream.on('end', () => onLost('task stream ended'));
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const wait = this.reconnectDelay;
    this.reconnectDelay = Math.min(wait * 2, MAX_RECONNECT_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.register().then(
        () => this.openStream(),
        () => this.scheduleReconnect(),
      );
    }, wait);
  }

  async command(workflowId: string, leaseToken: string, command: WorkerCommand): Promise<CommandResult> {
    const request = completeStepRequest(this.options.workerId, workflowId, leaseToken, command);
    const response = await this.transport.call<proto.CompleteStepResponse>(
      'CompleteStep',
      this.transport.callTimeoutMs,
      (md, opts, cb) => this.transport.worker.completeStep(request, md, opts, cb),
    );
    return {
      step: response.step ? stepRecordFromInfo(workflowId, response.step) : undefined,
      cancelled: response.cancelled,
    };
  }

  async heartbeat(workflowIds: readonly string[]): Promise<string[]> {
    if (this.stream === undefined) return [];
    const request: proto.HeartbeatRequest = { workerId: this.options.workerId, workflowIds: [...workflowIds] };
    try {
      const response = await this.transport.call<proto.HeartbeatResponse>(
        'Heartbeat',
        this.transport.callTimeoutMs,
        (md, opts, cb) => this.transport.worker.heartbeat(request, md, opts, cb),
      );
      return response.abortWorkflowIds;
    } catch (error) {
      // The server forgot this worker (restarted, or dropped it): register again.
      if (error instanceof AetherError && error.code === 'AETHER_E_WORKER_NOT_REGISTERED') this.stream?.cancel();
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

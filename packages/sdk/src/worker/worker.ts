/**
 * The worker: registers workflow types through a Connection, turns pushed
 * tasks into runs (Execution), heartbeats the runs it holds, and gives them
 * all up when the link resets or the worker closes.
 */
import { RetryableError, TerminalError, aetherError } from '@aether/core';
import type { Connection, WorkerLink, WorkerTask } from '../connection/types.js';
import { Execution, type RunHost, type WorkflowFunction } from './execution.js';

/** A logger for what the worker cannot report to anyone else. */
export interface WorkerLogger {
  warn(message: string, error?: unknown): void;
}

export interface WorkerOptions {
  workerId: string;
  /** Workflow functions by type name. */
  workflows: ReadonlyMap<string, WorkflowFunction>;
  maxConcurrency: number;
  logger: WorkerLogger;
}

export class Worker implements RunHost {
  private readonly runs = new Map<string, Execution>();
  private linkValue: WorkerLink | undefined;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly connection: Connection,
    private readonly options: WorkerOptions,
  ) {}

  get workerId(): string {
    return this.options.workerId;
  }

  get link(): WorkerLink {
    if (this.linkValue === undefined)
      throw aetherError('AETHER_E_WORKER_NOT_REGISTERED', `worker ${this.workerId} is not registered yet`);
    return this.linkValue;
  }

  /** Ids of the runs in progress here. */
  get running(): readonly string[] {
    return [...this.runs.keys()];
  }

  /** Registers with the engine; resolves once it knows the workflow types. */
  async start(): Promise<void> {
    this.linkValue = await this.connection.connectWorker({
      workerId: this.options.workerId,
      workflowTypes: [...this.options.workflows.keys()],
      maxConcurrency: this.options.maxConcurrency,
      onTask: (task) => this.onTask(task),
      onReset: (reason) => this.abortAll(reason),
      warn: (message, error) => this.options.logger.warn(message, error),
    });
    if (this.closed) {
      await this.linkValue.close();
      return;
    }
    this.scheduleHeartbeat();
  }

  private onTask(task: WorkerTask): void {
    if (this.closed) return;
    try {
      if (task.kind === 'cancel') {
        this.runs.get(task.workflowId)?.abort(
          new TerminalError(
            'AETHER_E_WF_CANCELLED',
            `workflow ${task.workflowId} was cancelled${task.reason ? `: ${task.reason}` : ''}`,
            {
              workflowId: task.workflowId,
            },
          ),
        );
        return;
      }
      // A second lease on the same workflow supersedes the first.
      this.runs.get(task.workflowId)?.abort(this.leaseLost(task.workflowId, 'handed out again'));
      const fn = this.options.workflows.get(task.workflowType);
      const run = new Execution(task, this);
      if (fn === undefined) {
        // Not served here (should not be delivered): fail it loudly rather than loop.
        run.start(() => {
          throw new TerminalError(
            'AETHER_E_WF_UNKNOWN_TYPE',
            `worker ${this.workerId} does not serve workflow type '${task.workflowType}'`,
            {
              workflowType: task.workflowType,
            },
          );
        }, '[]');
        return;
      }
      this.runs.set(task.workflowId, run);
      run.start(fn, task.input);
    } catch (error) {
      this.options.logger.warn(`worker ${this.workerId}: could not handle a ${task.kind} task`, error);
    }
  }

  finished(run: Execution): void {
    if (this.runs.get(run.workflowId) === run) this.runs.delete(run.workflowId);
  }

  warn(message: string, error?: unknown): void {
    this.options.logger.warn(message, error);
  }

  private leaseLost(workflowId: string, why: string): RetryableError {
    return new RetryableError('AETHER_E_WF_LEASE_LOST', `workflow ${workflowId}: ${why}`, { workflowId });
  }

  /** Gives every run up (they are handed out again by the engine). */
  private abortAll(reason: string): void {
    const runs = [...this.runs.values()];
    this.runs.clear();
    for (const run of runs) run.abort(this.leaseLost(run.workflowId, reason));
  }

  private scheduleHeartbeat(): void {
    if (this.closed || this.linkValue === undefined) return;
    const link = this.linkValue;
    this.heartbeatTimer = setTimeout(() => {
      link.heartbeat(this.running).then(
        (abortIds) => {
          for (const id of abortIds)
            this.runs.get(id)?.abort(this.leaseLost(id, 'the engine asked to abort it (cancelled or lease lost)'));
          this.scheduleHeartbeat();
        },
        (error: unknown) => {
          this.options.logger.warn(`worker ${this.workerId}: heartbeat failed`, error);
          this.scheduleHeartbeat();
        },
      );
    }, link.heartbeatIntervalMs);
    // A worker with nothing else to do must not keep the process alive by itself.
    this.heartbeatTimer.unref();
  }

  /** Stops: gives every run back and unregisters. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.abortAll('worker closed');
    await this.linkValue?.close();
  }
}

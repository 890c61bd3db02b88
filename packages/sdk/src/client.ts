/**
 * AetherClient and `aether(options)`: picks the connection (gRPC to a server,
 * or an embedded engine), defines workflows, serves them with a worker, and
 * reaches started workflows through handles.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { TerminalError, type WorkflowFilter, type WorkflowState } from '@aether/core';
import { EmbeddedConnection } from './connection/embedded.js';
import { GrpcConnection } from './connection/grpc.js';
import type { Connection, WorkflowSummaryRecord } from './connection/types.js';
import type { WorkflowContext } from './context/types.js';
import { Handle, awaitWorkflowResult, startAndAwaitResult, type WorkflowHandle } from './handle.js';
import { Worker, type WorkerLogger } from './worker/worker.js';
import type { WorkflowFunction } from './worker/execution.js';
import { Workflow, type StartBackend, type WorkflowDefinition } from './workflow-definition.js';

/** Persistence tiers of an embedded engine (seed 003's L0, L1, L2). */
export type PersistenceMode = 'memory' | 'snapshot' | 'state-action-log';

/** Options of `aether()`. */
export interface AetherOptions {
  /**
   * gRPC address of an `aether serve` node: `http://host:7233` (plain) or
   * `https://host:7233` (TLS). Without it (and without `AETHER_SERVER_URL`)
   * the client runs an embedded engine in this process.
   * @default process.env.AETHER_SERVER_URL
   */
  serverUrl?: string | undefined;
  /** Identifies this process's worker to the engine. @default `<hostname>-<pid>-<random>` */
  workerId?: string | undefined;
  /** Bearer token sent with every call. @default process.env.AETHER_TOKEN */
  token?: string | undefined;
  /** Embedded mode only: the persistence tier. @default 'memory' */
  persistence?: PersistenceMode | undefined;
  /** Embedded mode only: SQLite file or `postgres://` URL. @default './data/aether.db' for durable tiers */
  db?: string | undefined;
  /** Workflows one worker runs at once. @default 100 */
  maxConcurrency?: number | undefined;
  /** Deadline of one gRPC call. @default 30000 */
  callTimeoutMs?: number | undefined;
  /** How long idempotent calls retry while the server is unreachable (restarts). @default 60000 */
  unavailableRetryMs?: number | undefined;
  /** Where the worker reports runs it had to give up. @default console.warn */
  logger?: WorkerLogger | undefined;
}

/** Filter of `client.listWorkflows`. */
export interface ListWorkflowsFilter {
  type?: string | undefined;
  state?: WorkflowState | undefined;
  /** Most workflows returned. @default the server's page size */
  limit?: number | undefined;
  cursor?: string | undefined;
}

/** One workflow of a listing. */
export type WorkflowSummary = WorkflowSummaryRecord;

/** Anything `client.serve` accepts: a definition made by `client.workflow`. */
export interface ServableWorkflow {
  readonly name: string;
  readonly fn: (ctx: WorkflowContext, ...args: never[]) => unknown;
}

const consoleLogger: WorkerLogger = {
  warn: (message, error) => console.warn(`[aether] ${message}`, ...(error === undefined ? [] : [error])),
};

function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `aether option ${name} must be a positive integer`, {
      option: name,
    });
  }
  return value;
}

/** The client of seed 003: defines, serves, starts and watches workflows. */
export class AetherClient {
  /** `grpc` when talking to a server, `embedded` with an in-process engine. */
  readonly mode: 'grpc' | 'embedded';
  /** This process's worker id (the first `serve` uses it as is). */
  readonly workerId: string;
  private readonly connection: Connection;
  private readonly maxConcurrency: number;
  private readonly logger: WorkerLogger;
  private readonly workers: Worker[] = [];
  private readonly served = new Set<string>();
  private readonly backend: StartBackend;
  private closed = false;

  constructor(options: AetherOptions = {}) {
    const serverUrl = options.serverUrl || process.env.AETHER_SERVER_URL || undefined;
    const token = options.token || process.env.AETHER_TOKEN || undefined;
    this.workerId = options.workerId || `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.maxConcurrency = positiveInt('maxConcurrency', options.maxConcurrency, 100);
    this.logger = options.logger ?? consoleLogger;
    if (serverUrl !== undefined && !envFlag('AETHER_EMBEDDED')) {
      this.connection = new GrpcConnection({
        serverUrl,
        token,
        callTimeoutMs: positiveInt('callTimeoutMs', options.callTimeoutMs, 30_000),
        unavailableRetryMs: positiveInt('unavailableRetryMs', options.unavailableRetryMs, 60_000),
      });
    } else {
      this.connection = new EmbeddedConnection({ persistence: options.persistence ?? 'memory', db: options.db });
    }
    this.mode = this.connection.mode;
    const connection = this.connection;
    this.backend = {
      start: async (type, input, workflowId) =>
        (await connection.startWorkflow({ type, input, workflowId })).workflowId,
      result: (workflowId) => awaitWorkflowResult(connection, workflowId),
      startAndWait: (type, input, workflowId) => startAndAwaitResult(connection, { type, input, workflowId }),
    };
  }

  /** Defines a workflow type; `fn(ctx, ...args)` is its code. */
  workflow<A extends unknown[], R>(
    name: string,
    fn: (ctx: WorkflowContext, ...args: A) => Promise<R>,
  ): WorkflowDefinition<A, R> {
    return new Workflow<A, R>(name, fn, this.backend);
  }

  /** Registers the workflows with the engine and starts running them; resolves once registered. */
  async serve(workflows: readonly ServableWorkflow[]): Promise<void> {
    if (this.closed) throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'serve() after close()', {});
    if (!(workflows instanceof Array) || workflows.length === 0) {
      throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'serve() takes a non-empty array of workflows', {});
    }
    const map = new Map<string, WorkflowFunction>();
    for (const wf of workflows) {
      if (wf === null || typeof wf !== 'object' || typeof wf.name !== 'string' || typeof wf.fn !== 'function') {
        throw new TerminalError(
          'AETHER_E_INVALID_ARGUMENT',
          'serve() takes workflows defined with client.workflow(name, fn)',
          {},
        );
      }
      if (map.has(wf.name) || this.served.has(wf.name)) {
        throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `workflow '${wf.name}' is served twice`, {
          workflowType: wf.name,
        });
      }
      map.set(wf.name, wf.fn as unknown as WorkflowFunction);
    }
    const workerId = this.workers.length === 0 ? this.workerId : `${this.workerId}-${this.workers.length + 1}`;
    const worker = new Worker(this.connection, {
      workerId,
      workflows: map,
      maxConcurrency: this.maxConcurrency,
      logger: this.logger,
    });
    await worker.start();
    this.workers.push(worker);
    for (const name of map.keys()) this.served.add(name);
  }

  /** A handle on a started workflow. */
  getHandle<R = unknown>(workflowId: string): WorkflowHandle<R> {
    if (typeof workflowId !== 'string' || workflowId === '') {
      throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'getHandle needs a workflow id', {});
    }
    return new Handle<R>(workflowId, this.connection);
  }

  /** Lists workflows, newest first. */
  listWorkflows(filter: ListWorkflowsFilter = {}): Promise<WorkflowSummary[]> {
    const f: WorkflowFilter = { type: filter.type, state: filter.state, limit: filter.limit, cursor: filter.cursor };
    return this.connection.listWorkflows(f);
  }

  /** Stops the workers (their runs go back to the engine) and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const worker of this.workers) await worker.close();
    await this.connection.close();
  }
}

/** Creates a client. */
export function aether(options: AetherOptions = {}): AetherClient {
  return new AetherClient(options);
}

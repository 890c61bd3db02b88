/**
 * The embedded Connection: an engine in this process, for `aether()` without
 * a serverUrl. The engine package is loaded with a dynamic import on first
 * use, so programs that talk to a server never load it (nor its SQLite and
 * PostgreSQL drivers).
 */
import { aetherError, type WorkflowFilter, type WorkflowState } from '@aether/core';
import type { Engine, PersistenceMode, WorkerSession, WorkflowStore } from '@aether/engine';
import type {
  CommandResult,
  Connection,
  Outcome,
  StartRequest,
  StartResponse,
  WorkerCommand,
  WorkerLink,
  WorkerLinkOptions,
  WorkflowDescription,
  WorkflowSummaryRecord,
} from './types.js';

/** How the embedded engine stores workflows. */
export interface EmbeddedOptions {
  /** @default 'memory' */
  persistence: PersistenceMode;
  /** SQLite file or `postgres://` URL for the durable tiers. */
  db?: string | undefined;
}

interface Loaded {
  engine: Engine;
  store: WorkflowStore;
}

/** Delay before a worker dropped by the engine (e.g. a blocked event loop) connects again. */
const RECONNECT_MS = 50;

class EmbeddedWorkerLink implements WorkerLink {
  private session!: WorkerSession;
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly options: WorkerLinkOptions,
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const { workerId, workflowTypes, maxConcurrency, onTask, onReset } = this.options;
    const session: WorkerSession = this.engine.connectWorker({
      workerId,
      workflowTypes,
      maxConcurrency,
      // The engine calls this inside its own bookkeeping: run workflow code after it.
      onTask: (task) => queueMicrotask(() => onTask(task)),
      onClose: (reason) => {
        if (this.closed || this.session !== session) return;
        onReset(reason);
        setTimeout(() => {
          try {
            this.connect();
          } catch {
            // The engine is stopping: nothing to reconnect to.
          }
        }, RECONNECT_MS).unref();
      },
    });
    this.session = session;
  }

  get heartbeatIntervalMs(): number {
    return this.session.heartbeatIntervalMs;
  }

  get maxPayloadBytes(): number {
    return this.session.maxPayloadBytes;
  }

  command(workflowId: string, leaseToken: string, command: WorkerCommand): Promise<CommandResult> {
    return this.session.command(workflowId, leaseToken, command);
  }

  heartbeat(workflowIds: readonly string[]): Promise<string[]> {
    return Promise.resolve(this.session.heartbeat(workflowIds));
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.session.close();
    }
    return Promise.resolve();
  }
}

export class EmbeddedConnection implements Connection {
  readonly mode = 'embedded' as const;
  private loading: Promise<Loaded> | undefined;
  private readonly links = new Set<EmbeddedWorkerLink>();
  private closed = false;
  private awaiting = 0;
  private keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: EmbeddedOptions) {}

  /** Loads and starts the engine once. */
  private engine(): Promise<Engine> {
    if (this.closed) return Promise.reject(aetherError('AETHER_E_SHUTTING_DOWN', 'the Aether client is closed'));
    this.loading ??= (async () => {
      const { openStore, createEngine } = await import('@aether/engine');
      const { persistence, db } = this.options;
      const store = await openStore({ persistence, db });
      try {
        const engine = createEngine({ store, persistence });
        await engine.start();
        return { engine, store };
      } catch (error) {
        await store.close();
        throw error;
      }
    })();
    return this.loading.then((loaded) => loaded.engine);
  }

  async startWorkflow(request: StartRequest): Promise<StartResponse> {
    const engine = await this.engine();
    const result = await engine.startWorkflow({
      type: request.type,
      input: request.input,
      workflowId: request.workflowId,
    });
    return { workflowId: result.workflowId, alreadyStarted: result.alreadyStarted, state: result.state };
  }

  async getStatus(workflowId: string, includeSteps: boolean): Promise<WorkflowDescription> {
    const engine = await this.engine();
    const record = await engine.getWorkflow(workflowId);
    const description: WorkflowDescription = {
      workflowId: record.id,
      workflowType: record.type,
      state: record.state,
      input: record.input,
      result: record.result,
      error: record.error,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      wakeAt: record.wakeAt,
      parentWorkflowId: record.parentId,
      attempts: record.attempts,
    };
    if (includeSteps) description.steps = await engine.getSteps(workflowId);
    return description;
  }

  async awaitResult(workflowId: string, timeoutMs: number): Promise<Outcome> {
    const engine = await this.engine();
    // The engine's timers do not keep the process alive; someone awaiting a
    // result (of a sleeping workflow, say) must.
    this.holdProcess(+1);
    try {
      const outcome = await engine.awaitResult(workflowId, timeoutMs > 0 ? timeoutMs : undefined);
      return { workflowId: outcome.workflowId, state: outcome.state, result: outcome.result, error: outcome.error };
    } finally {
      this.holdProcess(-1);
    }
  }

  private holdProcess(delta: number): void {
    this.awaiting += delta;
    if (this.awaiting > 0 && this.keepAlive === undefined && !this.closed) {
      this.keepAlive = setInterval(() => {}, 1 << 30);
    } else if (this.awaiting === 0 && this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  async cancel(workflowId: string, reason: string): Promise<{ workflowId: string; state: WorkflowState }> {
    const engine = await this.engine();
    const record = await engine.cancel(workflowId, reason);
    return { workflowId: record.id, state: record.state };
  }

  async listWorkflows(filter: WorkflowFilter): Promise<WorkflowSummaryRecord[]> {
    const engine = await this.engine();
    const page = await engine.listWorkflows(filter);
    return page.items.map((w) => ({
      workflowId: w.id,
      workflowType: w.type,
      state: w.state,
      createdAt: w.createdAt,
      updatedAt: w.updatedAt,
      parentWorkflowId: w.parentId,
    }));
  }

  async connectWorker(options: WorkerLinkOptions): Promise<WorkerLink> {
    const engine = await this.engine();
    const link = new EmbeddedWorkerLink(engine, options);
    this.links.add(link);
    return link;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    for (const link of this.links) await link.close();
    this.links.clear();
    if (this.loading === undefined) return;
    let loaded: Loaded;
    try {
      loaded = await this.loading;
    } catch {
      return;
    }
    await loaded.engine.stop();
    await loaded.store.close();
  }
}

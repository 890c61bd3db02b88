/**
 * The three persistence tiers of seed 003 over one WorkflowStore:
 * - memory (L0): the store is a memory store; nothing survives a restart.
 * - snapshot (L1): writes land in memory at once and reach the durable store
 *   as one atomic batch every `snapshotIntervalMs`; a crash loses at most the
 *   writes of the last interval (their steps run again on recovery).
 * - state-action-log (L2): every write, with its action-log lines, is committed
 *   before it is acknowledged. Batches submitted while a commit is in flight are
 *   grouped into the next transaction (group commit).
 */
import type { ActionRecord, StepRecord, WorkflowFilter, WorkflowPage, WorkflowRecord } from '@aether/core';
import { createMemoryStore } from '../store/memory.js';
import type { ActiveWorkflow, Mutation, StateCounts, WorkflowStore } from '../store/types.js';
import type { Clock, EngineLogger } from './options.js';
import type { PersistenceMode } from './types.js';

/** The engine's view of storage: tier-aware writes plus reads. */
export interface Persistence {
  readonly mode: PersistenceMode;
  readonly store: WorkflowStore;
  /** Resolves when the batch is as durable as the tier promises. */
  write(batch: Mutation[]): Promise<void>;
  getWorkflow(id: string): Promise<WorkflowRecord | undefined>;
  getSteps(id: string): Promise<StepRecord[]>;
  listWorkflows(filter: WorkflowFilter): Promise<WorkflowPage>;
  listActions(id: string): Promise<ActionRecord[]>;
  countByState(): Promise<StateCounts>;
  loadActive(): Promise<ActiveWorkflow[]>;
  addWorkflowTypes(types: readonly string[]): Promise<void>;
  listWorkflowTypes(): Promise<string[]>;
  /** Writes everything pending (snapshot tier). */
  flush(): Promise<void>;
  /** Stops timers and flushes. Does not close the store. */
  stop(): Promise<void>;
}

interface Deps {
  clock: Clock;
  logger: EngineLogger;
  snapshotIntervalMs: number;
}

/** Builds the tier `mode` over `store`. */
export function createPersistence(mode: PersistenceMode, store: WorkflowStore, deps: Deps): Persistence {
  switch (mode) {
    case 'memory':
      return direct(mode, store);
    case 'state-action-log':
      return groupCommit(store);
    case 'snapshot':
      return snapshot(store, deps);
  }
}

function reads(store: WorkflowStore) {
  return {
    getWorkflow: (id: string) => store.getWorkflow(id),
    getSteps: (id: string) => store.getSteps(id),
    listWorkflows: (f: WorkflowFilter) => store.listWorkflows(f),
    listActions: (id: string) => store.listActions(id),
    countByState: () => store.countByState(),
    loadActive: () => store.loadActive(),
    addWorkflowTypes: (t: readonly string[]) => store.addWorkflowTypes(t),
    listWorkflowTypes: () => store.listWorkflowTypes(),
  };
}

function direct(mode: PersistenceMode, store: WorkflowStore): Persistence {
  return {
    mode,
    store,
    ...reads(store),
    write: (batch) => store.apply(batch),
    flush: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  };
}

/** L2: commit before acknowledging; group batches that queue up behind a commit. */
function groupCommit(store: WorkflowStore): Persistence {
  interface Waiter {
    batch: Mutation[];
    resolve: () => void;
    reject: (e: unknown) => void;
  }
  let queue: Waiter[] = [];
  let inFlight: Promise<void> | undefined;

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      try {
        await store.apply(group.length === 1 ? group[0]!.batch : group.flatMap((w) => w.batch));
        for (const w of group) w.resolve();
      } catch (err) {
        if (group.length === 1) {
          group[0]!.reject(err);
          continue;
        }
        // One bad batch must not fail its neighbours: commit them one by one.
        for (const w of group) {
          try {
            await store.apply(w.batch);
            w.resolve();
          } catch (e) {
            w.reject(e);
          }
        }
      }
    }
    inFlight = undefined;
  };

  const settle = async () => {
    while (inFlight) await inFlight;
  };

  return {
    mode: 'state-action-log',
    store,
    ...reads(store),
    write(batch) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ batch, resolve, reject });
        // Let batches of the same tick join before the commit starts.
        inFlight ??= new Promise<void>((r) => setImmediate(r)).then(drain);
      });
    },
    flush: settle,
    stop: settle,
  };
}

/** L1: memory now, the durable store every interval, atomically. */
function snapshot(durable: WorkflowStore, deps: Deps): Persistence {
  const overlay = createMemoryStore();
  let dirty = new Map<string, Mutation>();
  let timer: unknown;
  let flushing: Promise<void> | undefined;
  let stopped = false;

  const keyOf = (m: Mutation): string | undefined => {
    if (m.type === 'workflow.put') return `w\u0000${m.workflow.id}`;
    if (m.type === 'step.put') return `s\u0000${m.step.workflowId}\u0000${m.step.stepId}`;
    return undefined; // the action log is the L2 tier's; L1 keeps state only
  };

  const flushOnce = async (): Promise<void> => {
    if (dirty.size === 0) return;
    const taken = dirty;
    dirty = new Map();
    try {
      await durable.apply([...taken.values()]);
    } catch (err) {
      // Keep what was not written, unless a newer write replaced it meanwhile.
      for (const [k, m] of taken) if (!dirty.has(k)) dirty.set(k, m);
      deps.logger.error({ err }, 'snapshot write failed; will retry at the next interval');
      throw err;
    }
  };

  const flush = async (): Promise<void> => {
    while (flushing) await flushing;
    flushing = flushOnce().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };

  const schedule = () => {
    if (stopped) return;
    timer = deps.clock.setTimeout(() => {
      flush()
        .catch(() => {})
        .finally(schedule);
    }, deps.snapshotIntervalMs);
  };
  schedule();

  return {
    mode: 'snapshot',
    store: durable,
    async write(batch) {
      await overlay.apply(batch);
      for (const m of batch) {
        const k = keyOf(m);
        if (k !== undefined) dirty.set(k, m);
      }
    },
    async getWorkflow(id) {
      return (await overlay.getWorkflow(id)) ?? durable.getWorkflow(id);
    },
    async getSteps(id) {
      if (await overlay.getWorkflow(id)) return overlay.getSteps(id);
      return durable.getSteps(id);
    },
    async listWorkflows(filter) {
      await flush();
      return durable.listWorkflows(filter);
    },
    async listActions(id) {
      return overlay.listActions(id);
    },
    async countByState() {
      await flush();
      return durable.countByState();
    },
    async loadActive() {
      const active = await durable.loadActive();
      // The overlay becomes authoritative for everything still running.
      const batch: Mutation[] = [];
      for (const a of active) {
        batch.push({ type: 'workflow.put', workflow: a.workflow });
        for (const s of a.steps) batch.push({ type: 'step.put', step: s });
      }
      await overlay.apply(batch);
      return active;
    },
    async addWorkflowTypes(types) {
      await overlay.addWorkflowTypes(types);
      await durable.addWorkflowTypes(types);
    },
    listWorkflowTypes: () => durable.listWorkflowTypes(),
    flush,
    async stop() {
      stopped = true;
      deps.clock.clearTimeout(timer);
      await flush();
    },
  };
}

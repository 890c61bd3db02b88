/**
 * @aether/engine: the durable workflow engine (state machine, scheduler,
 * timers, leases, persistence tiers) and its stores (memory, SQLite, PostgreSQL).
 */

/**
 * Creates a workflow engine over a store.
 * @example
 * const store = await openStore({ persistence: 'state-action-log', db: './data/aether.db' });
 * const engine = createEngine({ store, persistence: 'state-action-log' });
 * await engine.start();
 */
export { createEngine } from './engine/engine.js';
export { resolveEngineOptions, systemClock } from './engine/options.js';
export type { Clock, EngineLogger, EngineOptions, ResolvedEngineOptions } from './engine/options.js';
export type {
  CommandResult,
  ConnectWorkerOptions,
  Engine,
  EngineEvent,
  EngineMetrics,
  PersistenceMode,
  StartOptions,
  StartResult,
  WorkerCommand,
  WorkerSession,
  WorkerTask,
  WorkflowOutcome,
} from './engine/types.js';
export type { ActiveWorkflow, Mutation, StateCounts, StoreKind, WorkflowStore } from './store/types.js';

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
/**
 * Creates an empty in-memory WorkflowStore (the L0 tier; nothing survives the process).
 * @example
 * const store = createMemoryStore();
 * await store.apply([{ type: 'workflow.put', workflow }]);
 */
export { createMemoryStore } from './store/memory.js';
/**
 * Opens (creating it and its directory) a SQLite WorkflowStore at a file path, in WAL
 * mode and locked exclusively. Throws AetherError AETHER_E_STORE_UNREADABLE,
 * AETHER_E_STORE_LOCKED (another process uses the file) or AETHER_E_STORE_CORRUPT
 * (not an Aether database; the file is left unchanged).
 * @example
 * const store = openSqliteStore('./data/aether.db');
 */
export { openSqliteStore } from './store/sqlite.js';
/**
 * The better-sqlite3 connection of a SQLite WorkflowStore (undefined for memory and
 * PostgreSQL stores). The store locks its file exclusively, so anything else keeping
 * tables in that file must go through this connection; it stays owned by the store
 * (closed by the store's close(), never by the borrower).
 * @example
 * const db = sqliteConnectionOf(store);
 * if (db !== undefined) db.exec('CREATE TABLE IF NOT EXISTS extra (k TEXT PRIMARY KEY)');
 */
export { sqliteConnectionOf } from './store/sqlite.js';
/**
 * Connects to PostgreSQL, migrates the schema and returns a WorkflowStore. Throws
 * AETHER_E_STORE_UNAVAILABLE when the server cannot be reached.
 * @example
 * const store = await openPostgresStore('postgres://aether@127.0.0.1:5432/aether', { maxConnections: 8 });
 */
export { openPostgresStore, resolvePostgresStoreOptions } from './store/postgres.js';
/** Options of openPostgresStore (pool size, connection timeout), with and without defaults filled. */
export type { PostgresStoreOptions, ResolvedPostgresStoreOptions } from './store/postgres.js';
/**
 * Opens the store of a persistence tier: memory for 'memory', else PostgreSQL for a
 * `postgres://` / `postgresql://` `db`, else SQLite at `db` (default `./data/aether.db`).
 * @example
 * const store = await openStore({ persistence: 'state-action-log', db: 'postgres://aether@db/aether' });
 */
export { DEFAULT_SQLITE_PATH, isPostgresUrl, openStore } from './store/open.js';
/** The argument of openStore. */
export type { StoreSpec } from './store/open.js';
/**
 * The store contract: WorkflowStore (apply batches of Mutations atomically, read
 * workflows, journals and the action log), ActiveWorkflow (a non-terminal workflow
 * with its journal), StateCounts (workflows per state) and StoreKind.
 */
export type { ActiveWorkflow, Mutation, StateCounts, StoreKind, WorkflowStore } from './store/types.js';
/**
 * Shared by every PostgreSQL-backed store of a node: opening the pool (bigint
 * as number, schema set up on a first connection), the URL without its
 * password, and the mapping of pg/socket errors into AETHER_E_STORE_UNAVAILABLE,
 * AETHER_E_INVALID_ARGUMENT or AETHER_E_STORE_FAILED.
 */
export { openPostgresPool, postgresStoreError, redactPostgresUrl } from './store/postgres-pool.js';

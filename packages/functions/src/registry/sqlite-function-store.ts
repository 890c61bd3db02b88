/**
 * The SQLite function store: the registry of a single node, kept in the same
 * file as its workflows. The workflow store locks that file exclusively, so
 * this store borrows its better-sqlite3 connection (sqliteConnectionOf) and
 * never closes it. Every call is synchronous on that one connection, so a
 * transaction here can never interleave with one of the workflow store.
 */
import type Database from 'better-sqlite3';
import { AetherError, aetherError } from '@aether/core';
import {
  checkDeploy,
  checkKey,
  checkNode,
  checkedCode,
  millisOf,
  rowToFunction,
  rowToNode,
  scalingColumns,
  statsJson,
  storeClosed,
  type CheckedDeploy,
  type FunctionRow,
  type NodeRow,
} from './records.js';
import type { FunctionRecord, FunctionStore } from './types.js';

// Timestamps are milliseconds since the epoch, like the workflow tables. No
// foreign key from functions to code: enforcing it needs PRAGMA foreign_keys,
// a setting of the shared connection; the transactions below keep them in step.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS aether_function_code (
  hash TEXT PRIMARY KEY NOT NULL,
  code BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS aether_functions (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  runtime TEXT NOT NULL,
  hash TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  memory_limit_mb INTEGER,
  timeout_ms INTEGER,
  env_vars TEXT NOT NULL,
  version INTEGER NOT NULL,
  deployed_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS aether_functions_by_hash ON aether_functions (hash);
CREATE TABLE IF NOT EXISTS aether_edge_nodes (
  node_id TEXT PRIMARY KEY NOT NULL,
  url TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  stats TEXT
);
`;

/**
 * Columns added to aether_functions after its first release, added to a
 * database that lacks them (SQLite has no ADD COLUMN IF NOT EXISTS). New
 * databases take the same path, so it is the one every test runs.
 */
const ADDED_FUNCTION_COLUMNS: [name: string, type: string][] = [
  // Scaling overrides of node functions; null takes the node's default.
  ['scale_min', 'INTEGER'],
  ['scale_max', 'INTEGER'],
  ['scale_target_concurrency', 'INTEGER'],
  ['scale_idle_timeout_s', 'REAL'],
];

function addMissingColumns(db: Database.Database): void {
  const present = new Set(
    (db.prepare('PRAGMA table_info(aether_functions)').all() as { name: string }[]).map((c) => c.name),
  );
  for (const [name, type] of ADDED_FUNCTION_COLUMNS) {
    if (!present.has(name)) db.exec(`ALTER TABLE aether_functions ADD COLUMN ${name} ${type}`);
  }
}

const SQL = {
  // Same hash means same bytes; rewriting differing bytes repairs a damaged blob on redeploy.
  putCode: `INSERT INTO aether_function_code (hash, code) VALUES (?, ?)
    ON CONFLICT (hash) DO UPDATE SET code = excluded.code WHERE code <> excluded.code`,
  previousHash: 'SELECT hash FROM aether_functions WHERE id = ?',
  putFunction: `INSERT INTO aether_functions
    (id, name, runtime, hash, size_bytes, memory_limit_mb, timeout_ms, scale_min, scale_max, scale_target_concurrency,
      scale_idle_timeout_s, env_vars, version, deployed_at, updated_at)
    VALUES (@id, @name, @runtime, @hash, @size_bytes, @memory_limit_mb, @timeout_ms, @scale_min, @scale_max,
      @scale_target_concurrency, @scale_idle_timeout_s, @env_vars, 1, @now, @now)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, runtime = excluded.runtime, hash = excluded.hash,
      size_bytes = excluded.size_bytes, memory_limit_mb = excluded.memory_limit_mb, timeout_ms = excluded.timeout_ms,
      scale_min = excluded.scale_min, scale_max = excluded.scale_max,
      scale_target_concurrency = excluded.scale_target_concurrency, scale_idle_timeout_s = excluded.scale_idle_timeout_s,
      env_vars = excluded.env_vars, version = aether_functions.version + 1, updated_at = excluded.updated_at
    RETURNING *`,
  getFunction: 'SELECT * FROM aether_functions WHERE id = ?',
  listFunctions: 'SELECT * FROM aether_functions ORDER BY name, id',
  deleteFunction: 'DELETE FROM aether_functions WHERE id = ? RETURNING hash',
  dropUnusedCode: `DELETE FROM aether_function_code
    WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM aether_functions WHERE hash = aether_function_code.hash)`,
  getCode: 'SELECT code FROM aether_function_code WHERE hash = ?',
  upsertNode: `INSERT INTO aether_edge_nodes (node_id, url, registered_at, last_seen_at, stats) VALUES (?, ?, ?, ?, NULL)
    ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, last_seen_at = excluded.last_seen_at
    RETURNING *`,
  touchNode: 'UPDATE aether_edge_nodes SET last_seen_at = ? WHERE node_id = ? RETURNING *',
  setNodeStats: 'UPDATE aether_edge_nodes SET stats = ? WHERE node_id = ?',
  listNodes: 'SELECT * FROM aether_edge_nodes ORDER BY node_id',
  deleteNode: 'DELETE FROM aether_edge_nodes WHERE node_id = ?',
};

function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** Maps an error of the shared connection into the catalogue. */
function operationError(err: unknown, location: string): AetherError {
  if (err instanceof AetherError) return err;
  const code = sqliteCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return aetherError(
      'AETHER_E_STORE_CORRUPT',
      `the SQLite database ${location} is corrupt: ${reason}`,
      { location },
      err,
    );
  }
  return aetherError(
    'AETHER_E_STORE_FAILED',
    `SQLite function store ${location} failed: ${reason}`,
    { location, cause: code || undefined },
    err,
  );
}

/**
 * Creates the function registry's tables in the database of a SQLite workflow
 * store (when absent) and returns a FunctionStore over that connection. close()
 * leaves the connection open: the workflow store owns it.
 */
export function createSqliteFunctionStore(db: Database.Database): FunctionStore {
  const location = db.name;
  let closed = false;
  let statements: { [K in keyof typeof SQL]: Database.Statement };
  try {
    db.transaction(() => {
      db.exec(SCHEMA);
      addMissingColumns(db);
    }).immediate();
    statements = Object.fromEntries(Object.entries(SQL).map(([k, sql]) => [k, db.prepare(sql)])) as typeof statements;
  } catch (err) {
    throw operationError(err, location);
  }
  const s = statements;

  const put = db.transaction((deploy: CheckedDeploy, now: number): FunctionRecord => {
    const { input } = deploy;
    const previous = s.previousHash.get(input.id) as { hash: string } | undefined;
    // better-sqlite3 binds Buffers (not plain Uint8Arrays) as BLOBs; this one is a view, not a copy.
    if (input.runtime === 'wasm') {
      s.putCode.run(input.hash, Buffer.from(deploy.code.buffer, deploy.code.byteOffset, deploy.code.byteLength));
    }
    const row = s.putFunction.get({
      id: input.id,
      name: input.name,
      runtime: input.runtime,
      hash: input.hash,
      size_bytes: input.sizeBytes,
      memory_limit_mb: input.memoryLimitMb,
      timeout_ms: input.timeoutMs,
      ...scalingColumns(input.scaling),
      env_vars: deploy.envJson,
      now,
    }) as FunctionRow;
    if (previous !== undefined && previous.hash !== input.hash) s.dropUnusedCode.run(previous.hash);
    // Checked inside the transaction: a row that reads back wrong rolls the deploy back.
    return rowToFunction(row, location);
  });

  const remove = db.transaction((id: string): boolean => {
    const row = s.deleteFunction.get(id) as { hash: string } | undefined;
    if (row === undefined) return false;
    s.dropUnusedCode.run(row.hash);
    return true;
  });

  /** Runs a synchronous database call, mapping its errors into the catalogue. */
  function run<T>(fn: () => T): Promise<T> {
    // The workflow store closes the shared connection in its own close().
    if (closed || !db.open) return Promise.reject(storeClosed(location));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(operationError(err, location));
    }
  }

  return {
    kind: 'sqlite',

    putFunction: (input, code, now) =>
      run(() => {
        const deploy = checkDeploy(input, code);
        return put.immediate(deploy, millisOf(now));
      }),

    getFunction: (id) =>
      run(() => {
        const row = s.getFunction.get(checkKey('id', id)) as FunctionRow | undefined;
        return row === undefined ? undefined : rowToFunction(row, location);
      }),

    listFunctions: () => run(() => (s.listFunctions.all() as FunctionRow[]).map((r) => rowToFunction(r, location))),

    deleteFunction: (id) => run(() => remove.immediate(checkKey('id', id))),

    getCode: (hash) =>
      run(() => {
        const key = checkKey('hash', hash);
        const row = s.getCode.get(key) as { code: unknown } | undefined;
        return row === undefined ? undefined : checkedCode(key, row.code, location);
      }),

    upsertNode: (nodeId, url, now) =>
      run(() => {
        checkNode(nodeId, url);
        const at = millisOf(now);
        return rowToNode(s.upsertNode.get(nodeId, url, at, at) as NodeRow, location);
      }),

    touchNode: (nodeId, now) =>
      run(() => {
        const row = s.touchNode.get(millisOf(now), checkKey('nodeId', nodeId)) as NodeRow | undefined;
        return row === undefined ? undefined : rowToNode(row, location);
      }),

    setNodeStats: (nodeId, stats) =>
      run(() => {
        const json = statsJson(stats);
        return s.setNodeStats.run(json, checkKey('nodeId', nodeId)).changes > 0;
      }),

    listNodes: () => run(() => (s.listNodes.all() as NodeRow[]).map((r) => rowToNode(r, location))),

    deleteNode: (nodeId) => run(() => s.deleteNode.run(checkKey('nodeId', nodeId)).changes > 0),

    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}

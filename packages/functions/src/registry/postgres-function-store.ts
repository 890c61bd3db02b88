/**
 * The PostgreSQL function store: the registry several nodes share, in the
 * database of their workflow store but over its own small pool. Deploys and
 * deletes run in a transaction under one advisory lock, so two nodes deploying
 * at once serialize instead of racing on shared code rows; a foreign key from
 * functions to code makes a function without code impossible regardless.
 */
import type { PoolClient, QueryConfig, QueryResultRow } from 'pg';
import { AetherError } from '@aether/core';
import {
  openPostgresPool,
  postgresStoreError,
  resolvePostgresStoreOptions,
  type PostgresStoreOptions,
  type ResolvedPostgresStoreOptions,
} from '@aether/engine';
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
  type FunctionRow,
  type NodeRow,
} from './records.js';
import type { FunctionRecord, FunctionStore } from './types.js';

/** Options of openPostgresFunctionStore: those of the workflow store's pool. */
export type PostgresFunctionStoreOptions = PostgresStoreOptions;

/** PostgresFunctionStoreOptions with defaults filled. */
export type ResolvedPostgresFunctionStoreOptions = ResolvedPostgresStoreOptions;

/**
 * Fills the defaults: the workflow store's, except a pool of 4 connections
 * (the registry is written at deploys and heartbeats only).
 */
export function resolvePostgresFunctionStoreOptions(
  options: PostgresFunctionStoreOptions = {},
): ResolvedPostgresFunctionStoreOptions {
  return resolvePostgresStoreOptions({ ...options, maxConnections: options.maxConnections ?? 4 });
}

/** Advisory lock held while creating the tables ('AETHFDDL'). */
const SCHEMA_LOCK_KEY = '4703258055251608652';
/** Advisory lock held by every deploy and delete ('AETHFREG'). */
const WRITE_LOCK_KEY = '4703258055252526407';

// Ids use the "C" collation: byte order, like SQLite and the memory store.
// json (not jsonb) keeps env vars and stats exactly as written, key order included.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS aether_function_code (
  hash text COLLATE "C" PRIMARY KEY,
  code bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS aether_functions (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  runtime text NOT NULL,
  hash text COLLATE "C" NOT NULL,
  size_bytes bigint NOT NULL,
  memory_limit_mb integer,
  timeout_ms bigint,
  env_vars json NOT NULL,
  version bigint NOT NULL,
  deployed_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS aether_functions_by_hash ON aether_functions (hash);
-- Scaling overrides of node functions (null: the node's default), added to registries created before them.
ALTER TABLE aether_functions
  ADD COLUMN IF NOT EXISTS scale_min integer,
  ADD COLUMN IF NOT EXISTS scale_max integer,
  ADD COLUMN IF NOT EXISTS scale_target_concurrency integer,
  ADD COLUMN IF NOT EXISTS scale_idle_timeout_s double precision;
-- Node functions keep their zips in the code store, not in aether_function_code: no foreign key
-- (registries created before node functions had one).
ALTER TABLE aether_functions DROP CONSTRAINT IF EXISTS aether_functions_hash_fkey;
CREATE TABLE IF NOT EXISTS aether_edge_nodes (
  node_id text COLLATE "C" PRIMARY KEY,
  url text NOT NULL,
  registered_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  stats json
);
`;

const SQL = {
  lock: `SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`,
  // Same hash means same bytes; rewriting differing bytes repairs a damaged row on redeploy.
  putCode: `INSERT INTO aether_function_code (hash, code) VALUES ($1, $2)
    ON CONFLICT (hash) DO UPDATE SET code = EXCLUDED.code WHERE aether_function_code.code <> EXCLUDED.code`,
  previousHash: 'SELECT hash FROM aether_functions WHERE id = $1',
  putFunction: `INSERT INTO aether_functions
    (id, name, runtime, hash, size_bytes, memory_limit_mb, timeout_ms, env_vars, version, deployed_at, updated_at,
      scale_min, scale_max, scale_target_concurrency, scale_idle_timeout_s)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, 1, $9, $9, $10, $11, $12, $13)
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, runtime = EXCLUDED.runtime, hash = EXCLUDED.hash,
      size_bytes = EXCLUDED.size_bytes, memory_limit_mb = EXCLUDED.memory_limit_mb, timeout_ms = EXCLUDED.timeout_ms,
      scale_min = EXCLUDED.scale_min, scale_max = EXCLUDED.scale_max,
      scale_target_concurrency = EXCLUDED.scale_target_concurrency, scale_idle_timeout_s = EXCLUDED.scale_idle_timeout_s,
      env_vars = EXCLUDED.env_vars, version = aether_functions.version + 1, updated_at = EXCLUDED.updated_at
    RETURNING *`,
  getFunction: 'SELECT * FROM aether_functions WHERE id = $1',
  listFunctions: 'SELECT * FROM aether_functions ORDER BY name, id',
  deleteFunction: 'DELETE FROM aether_functions WHERE id = $1 RETURNING hash',
  dropUnusedCode: `DELETE FROM aether_function_code c
    WHERE c.hash = $1 AND NOT EXISTS (SELECT 1 FROM aether_functions f WHERE f.hash = c.hash)`,
  getCode: 'SELECT code FROM aether_function_code WHERE hash = $1',
  upsertNode: `INSERT INTO aether_edge_nodes (node_id, url, registered_at, last_seen_at, stats) VALUES ($1, $2, $3, $3, NULL)
    ON CONFLICT (node_id) DO UPDATE SET url = EXCLUDED.url, last_seen_at = EXCLUDED.last_seen_at
    RETURNING *`,
  touchNode: 'UPDATE aether_edge_nodes SET last_seen_at = $2 WHERE node_id = $1 RETURNING *',
  setNodeStats: 'UPDATE aether_edge_nodes SET stats = $2::json WHERE node_id = $1',
  listNodes: 'SELECT * FROM aether_edge_nodes ORDER BY node_id',
  deleteNode: 'DELETE FROM aether_edge_nodes WHERE node_id = $1',
};

/** Maps a pg or socket error into the catalogue. */
function storeError(err: unknown, location: string, opening: boolean): AetherError {
  return postgresStoreError(err, { location, opening, what: 'function store' });
}

/** Creates the tables when absent, under an advisory lock so nodes starting together do not race. */
async function createTables(client: PoolClient): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_KEY})`);
    await client.query(SCHEMA);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A Buffer view of bytes, which pg sends as a binary bytea parameter. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Connects to PostgreSQL at `url` with a pool of its own, creates the
 * registry's tables when absent, and returns a FunctionStore. Throws
 * AETHER_E_STORE_UNAVAILABLE when the server cannot be reached. close() ends the pool.
 */
export async function openPostgresFunctionStore(
  url: string,
  options?: PostgresFunctionStoreOptions,
): Promise<FunctionStore> {
  const opts = resolvePostgresFunctionStoreOptions(options);
  const { pool, location } = await openPostgresPool(url, opts, {
    applicationName: 'aether-functions',
    what: 'function store',
    setup: (client) => createTables(client),
  });

  let closed = false;

  async function query<R extends QueryResultRow>(config: QueryConfig): Promise<{ rows: R[]; rowCount: number }> {
    if (closed) throw storeClosed(location);
    try {
      const result = await pool.query<R>(config);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw storeError(err, location, false);
    }
  }

  /** Runs `fn` in a transaction holding the registry's write lock; nothing of it stays when it throws. */
  async function write<T>(fn: (conn: PoolClient) => Promise<T>): Promise<T> {
    if (closed) throw storeClosed(location);
    let conn: PoolClient | undefined;
    try {
      conn = await pool.connect();
    } catch (err) {
      throw storeError(err, location, false);
    }
    try {
      await conn.query('BEGIN');
      await conn.query({ name: 'aether_fn_lock', text: SQL.lock });
      const result = await fn(conn);
      await conn.query('COMMIT');
      conn.release();
      return result;
    } catch (err) {
      const rolledBack = await conn.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      conn.release(rolledBack ? undefined : true);
      throw storeError(err, location, false);
    }
  }

  return {
    kind: 'postgres',

    async putFunction(input, code, now) {
      const deploy = checkDeploy(input, code);
      const at = millisOf(now);
      const i = deploy.input;
      const scaling = scalingColumns(i.scaling);
      return write(async (conn): Promise<FunctionRecord> => {
        const previous = await conn.query<{ hash: string }>({
          name: 'aether_fn_previous_hash',
          text: SQL.previousHash,
          values: [i.id],
        });
        if (i.runtime === 'wasm') {
          await conn.query({ name: 'aether_fn_put_code', text: SQL.putCode, values: [i.hash, asBuffer(deploy.code)] });
        }
        const { rows } = await conn.query<FunctionRow & QueryResultRow>({
          name: 'aether_fn_put_function',
          text: SQL.putFunction,
          values: [
            i.id,
            i.name,
            i.runtime,
            i.hash,
            i.sizeBytes,
            i.memoryLimitMb,
            i.timeoutMs,
            deploy.envJson,
            at,
            scaling.scale_min,
            scaling.scale_max,
            scaling.scale_target_concurrency,
            scaling.scale_idle_timeout_s,
          ],
        });
        const old = previous.rows[0]?.hash;
        if (old !== undefined && old !== i.hash) {
          await conn.query({ name: 'aether_fn_drop_unused_code', text: SQL.dropUnusedCode, values: [old] });
        }
        // Checked before COMMIT: a row that reads back wrong rolls the deploy back.
        return rowToFunction(rows[0]!, location);
      });
    },

    async getFunction(id) {
      const { rows } = await query<FunctionRow & QueryResultRow>({
        name: 'aether_fn_get_function',
        text: SQL.getFunction,
        values: [checkKey('id', id)],
      });
      return rows[0] === undefined ? undefined : rowToFunction(rows[0], location);
    },

    async listFunctions() {
      const { rows } = await query<FunctionRow & QueryResultRow>({
        name: 'aether_fn_list_functions',
        text: SQL.listFunctions,
      });
      return rows.map((r) => rowToFunction(r, location));
    },

    async deleteFunction(id) {
      const key = checkKey('id', id);
      return write(async (conn) => {
        const { rows } = await conn.query<{ hash: string }>({
          name: 'aether_fn_delete_function',
          text: SQL.deleteFunction,
          values: [key],
        });
        if (rows[0] === undefined) return false;
        await conn.query({ name: 'aether_fn_drop_unused_code', text: SQL.dropUnusedCode, values: [rows[0].hash] });
        return true;
      });
    },

    async getCode(hash) {
      const key = checkKey('hash', hash);
      const { rows } = await query<{ code: unknown }>({ name: 'aether_fn_get_code', text: SQL.getCode, values: [key] });
      return rows[0] === undefined ? undefined : checkedCode(key, rows[0].code, location);
    },

    async upsertNode(nodeId, url, now) {
      checkNode(nodeId, url);
      const { rows } = await query<NodeRow & QueryResultRow>({
        name: 'aether_fn_upsert_node',
        text: SQL.upsertNode,
        values: [nodeId, url, millisOf(now)],
      });
      return rowToNode(rows[0]!, location);
    },

    async touchNode(nodeId, now) {
      const { rows } = await query<NodeRow & QueryResultRow>({
        name: 'aether_fn_touch_node',
        text: SQL.touchNode,
        values: [checkKey('nodeId', nodeId), millisOf(now)],
      });
      return rows[0] === undefined ? undefined : rowToNode(rows[0], location);
    },

    async setNodeStats(nodeId, stats) {
      const json = statsJson(stats);
      const { rowCount } = await query({
        name: 'aether_fn_set_node_stats',
        text: SQL.setNodeStats,
        values: [checkKey('nodeId', nodeId), json],
      });
      return rowCount > 0;
    },

    async listNodes() {
      const { rows } = await query<NodeRow & QueryResultRow>({ name: 'aether_fn_list_nodes', text: SQL.listNodes });
      return rows.map((r) => rowToNode(r, location));
    },

    async deleteNode(nodeId) {
      const { rowCount } = await query({
        name: 'aether_fn_delete_node',
        text: SQL.deleteNode,
        values: [checkKey('nodeId', nodeId)],
      });
      return rowCount > 0;
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/**
 * The PostgreSQL store (pg Pool): the store several nodes share. Each apply()
 * is one statement (data-modifying CTEs fed by json_to_recordset), so a batch
 * costs one round trip and is atomic without BEGIN/COMMIT. bigint timestamps
 * are parsed back to numbers by this pool's own type parser (no global state).
 */
import type { PoolClient, QueryConfig, QueryResultRow } from 'pg';
import { AetherError } from '@aether/core';
import type { ActionRecord, StepRecord, WorkflowFilter, WorkflowPage, WorkflowRecord } from '@aether/core';
import { nextCursorOf, resolveListing, zeroCounts } from './listing.js';
import { openPostgresPool, postgresStoreError } from './postgres-pool.js';
import { PG_COLUMN_TYPES, migrate } from './postgres-schema.js';
import {
  ACTION_COLUMNS,
  STEP_COLUMNS,
  WORKFLOW_COLUMNS,
  actionToRow,
  groupSteps,
  rowToAction,
  rowToStep,
  rowToWorkflow,
  stepToRow,
  workflowToRow,
  type ActionRow,
  type StepRow,
  type WorkflowRow,
} from './rows.js';
import type { ActiveWorkflow, Mutation, StateCounts, WorkflowStore } from './types.js';
import { storeClosed, validateMutation, validateTypeNames } from './validate.js';

/** Options of openPostgresStore. */
export interface PostgresStoreOptions {
  /**
   * Most connections the pool opens.
   * @default 10
   */
  maxConnections?: number;
  /**
   * How long to wait for a connection before failing with AETHER_E_STORE_UNAVAILABLE.
   * @default 5000
   */
  connectionTimeoutMs?: number;
  /**
   * Called with errors of idle pooled connections (the pool drops them and
   * opens new ones when needed; queries still report their own errors).
   * @default ignores them
   */
  onIdleError?: (err: Error) => void;
}

/** PostgresStoreOptions with defaults filled. */
export interface ResolvedPostgresStoreOptions {
  maxConnections: number;
  connectionTimeoutMs: number;
  onIdleError: (err: Error) => void;
}

export function resolvePostgresStoreOptions(options: PostgresStoreOptions = {}): ResolvedPostgresStoreOptions {
  return {
    maxConnections: options.maxConnections ?? 10,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 5000,
    onIdleError: options.onIdleError ?? (() => undefined),
  };
}

export { redactPostgresUrl } from './postgres-pool.js';

/** Maps a pg or socket error into the catalogue. */
function storeError(err: unknown, location: string, opening: boolean): AetherError {
  return postgresStoreError(err, { location, opening, what: 'store' });
}

/** `INSERT ... SELECT ... FROM json_to_recordset($n)` for one table. */
function insertFrom(table: string, columns: readonly string[], param: number, conflict?: readonly string[]): string {
  const definition = columns.map((c) => `${c} ${PG_COLUMN_TYPES[c]!}`).join(', ');
  let sql = `INSERT INTO ${table} (${columns.join(', ')}) SELECT ${columns.join(', ')} `;
  if (conflict === undefined) {
    // Ordinality keeps the batch order for the identity column (listActions order).
    sql += `FROM ROWS FROM (json_to_recordset($${param}::json) AS (${definition})) WITH ORDINALITY AS x(${columns.join(', ')}, ord) ORDER BY ord`;
  } else {
    const updates = columns.filter((c) => !conflict.includes(c)).map((c) => `${c} = EXCLUDED.${c}`);
    sql += `FROM json_to_recordset($${param}::json) AS x(${definition}) `;
    sql += `ON CONFLICT (${conflict.join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
  }
  return sql;
}

/** One statement writing any combination of the three tables; cached by combination. */
const applyStatements = new Map<number, string>();
function applyStatement(mask: number): string {
  let text = applyStatements.get(mask);
  if (text === undefined) {
    const parts: string[] = [];
    let param = 0;
    if (mask & 1) parts.push(insertFrom('workflows', WORKFLOW_COLUMNS, ++param, ['id']));
    if (mask & 2) parts.push(insertFrom('steps', STEP_COLUMNS, ++param, ['workflow_id', 'step_id']));
    if (mask & 4) parts.push(insertFrom('actions', ACTION_COLUMNS, param + 1));
    const last = parts.pop()!;
    text = parts.length === 0 ? last : `WITH ${parts.map((p, i) => `m${i} AS (${p})`).join(', ')} ${last}`;
    applyStatements.set(mask, text);
  }
  return text;
}

const SQL = {
  getWorkflow: 'SELECT * FROM workflows WHERE id = $1',
  getSteps: 'SELECT * FROM steps WHERE workflow_id = $1 ORDER BY seq, step_id',
  activeWorkflows: `SELECT * FROM workflows WHERE state IN ('PENDING', 'RUNNING') ORDER BY created_at, id`,
  activeSteps: `SELECT s.* FROM steps s JOIN workflows w ON w.id = s.workflow_id
    WHERE w.state IN ('PENDING', 'RUNNING') ORDER BY s.workflow_id, s.seq, s.step_id`,
  listActions: `SELECT ${ACTION_COLUMNS.join(', ')} FROM actions WHERE workflow_id = $1 ORDER BY id`,
  countByState: 'SELECT state, count(*)::integer AS n FROM workflows GROUP BY state',
  addTypes: 'INSERT INTO workflow_types (type) SELECT unnest($1::text[]) ON CONFLICT (type) DO NOTHING',
  listTypes: 'SELECT type FROM workflow_types ORDER BY type',
};

function listingSql(byType: boolean, byState: boolean, paged: boolean): string {
  const where: string[] = [];
  let param = 0;
  if (byType) where.push(`type = $${++param}`);
  if (byState) where.push(`state = $${++param}`);
  if (paged) {
    where.push(`(created_at, id) < ($${param + 1}, $${param + 2})`);
    param += 2;
  }
  return (
    `SELECT * FROM workflows ${where.length > 0 ? `WHERE ${where.join(' AND ')} ` : ''}` +
    `ORDER BY created_at DESC, id DESC LIMIT $${param + 1}`
  );
}

/**
 * Connects to PostgreSQL at `url` (`postgres://user:password@host:port/db`),
 * creates or upgrades the schema, and returns it as a WorkflowStore. Throws
 * AETHER_E_STORE_UNAVAILABLE when the server cannot be reached (at once when
 * the connection is refused, after `connectionTimeoutMs` at most otherwise).
 */
export async function openPostgresStore(url: string, options?: PostgresStoreOptions): Promise<WorkflowStore> {
  const opts = resolvePostgresStoreOptions(options);
  const { pool, location } = await openPostgresPool(url, opts, {
    applicationName: 'aether',
    what: 'store',
    setup: (client, where) => migrate(client, where),
  });

  let closed = false;

  async function query<R extends QueryResultRow>(config: QueryConfig): Promise<R[]> {
    if (closed) throw storeClosed(location);
    try {
      return (await pool.query<R>(config)).rows;
    } catch (err) {
      throw storeError(err, location, false);
    }
  }

  async function apply(batch: readonly Mutation[]): Promise<void> {
    if (batch.length === 0) return;
    // Last write wins per key: ON CONFLICT may not touch a row twice in one statement.
    const workflows = new Map<string, WorkflowRecord>();
    const steps = new Map<string, StepRecord>();
    const actions: ActionRecord[] = [];
    for (const m of batch) {
      validateMutation(m);
      if (m.type === 'workflow.put') workflows.set(m.workflow.id, m.workflow);
      else if (m.type === 'step.put') steps.set(`${m.step.workflowId}\u0000${m.step.stepId}`, m.step);
      else actions.push(m.action);
    }
    const keep = (value: object): object => value;
    const values: string[] = [];
    let mask = 0;
    if (workflows.size > 0) {
      mask |= 1;
      values.push(JSON.stringify([...workflows.values()].map((w) => workflowToRow(w, keep))));
    }
    if (steps.size > 0) {
      mask |= 2;
      values.push(JSON.stringify([...steps.values()].map((s) => stepToRow(s, keep))));
    }
    if (actions.length > 0) {
      mask |= 4;
      values.push(JSON.stringify(actions.map((a) => actionToRow(a, keep))));
    }
    await query({ name: `aether_apply_${mask}`, text: applyStatement(mask), values });
  }

  async function loadActive(): Promise<ActiveWorkflow[]> {
    if (closed) throw storeClosed(location);
    let conn: PoolClient | undefined;
    try {
      conn = await pool.connect();
      // One snapshot for both reads, so every journal matches its workflow row.
      await conn.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const workflows = await conn.query<WorkflowRow>({ name: 'aether_active_workflows', text: SQL.activeWorkflows });
      const steps = await conn.query<StepRow>({ name: 'aether_active_steps', text: SQL.activeSteps });
      await conn.query('COMMIT');
      conn.release();
      const byWorkflow = groupSteps(steps.rows);
      return workflows.rows.map((r) => ({ workflow: rowToWorkflow(r), steps: byWorkflow.get(r.id) ?? [] }));
    } catch (err) {
      conn?.release(true);
      throw storeError(err, location, false);
    }
  }

  return {
    kind: 'postgres',
    location,
    apply,
    loadActive,

    async getWorkflow(id) {
      const rows = await query<WorkflowRow>({ name: 'aether_get_workflow', text: SQL.getWorkflow, values: [id] });
      return rows[0] === undefined ? undefined : rowToWorkflow(rows[0]);
    },

    async getSteps(workflowId) {
      const rows = await query<StepRow>({ name: 'aether_get_steps', text: SQL.getSteps, values: [workflowId] });
      return rows.map(rowToStep);
    },

    async listWorkflows(filter: WorkflowFilter): Promise<WorkflowPage> {
      const { type, state, limit, after } = resolveListing(filter);
      const values: unknown[] = [];
      if (type !== undefined) values.push(type);
      if (state !== undefined) values.push(state);
      if (after !== undefined) values.push(after.createdAt, after.id);
      values.push(limit + 1);
      const key = `${type !== undefined ? 't' : ''}${state !== undefined ? 's' : ''}${after !== undefined ? 'c' : ''}`;
      const text = listingSql(type !== undefined, state !== undefined, after !== undefined);
      const rows = await query<WorkflowRow>({ name: `aether_list_${key}`, text, values });
      const hasMore = rows.length > limit;
      const items = (hasMore ? rows.slice(0, limit) : rows).map(rowToWorkflow);
      return { items, nextCursor: nextCursorOf(items, hasMore) };
    },

    async listActions(workflowId) {
      const rows = await query<ActionRow>({ name: 'aether_list_actions', text: SQL.listActions, values: [workflowId] });
      return rows.map(rowToAction);
    },

    async countByState(): Promise<StateCounts> {
      const counts = zeroCounts();
      const rows = await query<{ state: WorkflowRecord['state']; n: number }>({
        name: 'aether_count_by_state',
        text: SQL.countByState,
      });
      for (const r of rows) counts[r.state] = r.n;
      return counts;
    },

    async addWorkflowTypes(types) {
      validateTypeNames(types);
      if (types.length === 0) return;
      await query({ name: 'aether_add_types', text: SQL.addTypes, values: [[...types]] });
    },

    async listWorkflowTypes() {
      const rows = await query<{ type: string }>({ name: 'aether_list_types', text: SQL.listTypes });
      return rows.map((r) => r.type);
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/**
 * The PostgreSQL schema of the workflow store and its migrations, run at open
 * inside one transaction under an advisory lock so that several nodes starting
 * together against one database migrate it exactly once.
 */
import { aetherError } from '@aether/core';
import type { PoolClient } from 'pg';

/** Version this code writes and reads, kept in `aether_schema_version`. */
export const PG_SCHEMA_VERSION = 1;
/** Key of the advisory lock taken while migrating ('AETH' + 'SCHM'). */
const MIGRATION_LOCK_KEY = '4703202447394213453';

// Ids use the "C" collation: byte order like SQLite, and cheaper comparisons.
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE aether_schema_version (version integer NOT NULL);
CREATE TABLE workflows (
  id text COLLATE "C" PRIMARY KEY,
  type text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  input text NOT NULL,
  result text,
  error jsonb,
  parent_id text COLLATE "C",
  parent_step_id text COLLATE "C",
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  started_at bigint,
  completed_at bigint,
  wake_at bigint,
  attempts integer NOT NULL,
  version bigint NOT NULL
);
-- Listings: newest first, optionally by type or state; the state index also
-- serves loadActive (state IN ('PENDING', 'RUNNING')) and countByState.
CREATE INDEX workflows_by_created ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_by_type ON workflows (type, created_at DESC, id DESC);
CREATE INDEX workflows_by_state ON workflows (state, created_at DESC, id DESC);

CREATE TABLE steps (
  workflow_id text COLLATE "C" NOT NULL,
  step_id text COLLATE "C" NOT NULL,
  name text NOT NULL,
  kind text NOT NULL,
  status text NOT NULL,
  seq bigint NOT NULL,
  result text,
  error jsonb,
  attempts integer NOT NULL,
  started_at bigint NOT NULL,
  completed_at bigint,
  wake_at bigint,
  child_id text COLLATE "C",
  PRIMARY KEY (workflow_id, step_id)
);

CREATE TABLE actions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workflow_id text COLLATE "C" NOT NULL,
  action text NOT NULL,
  at bigint NOT NULL,
  data jsonb
);
CREATE INDEX actions_by_workflow ON actions (workflow_id, id);

CREATE TABLE workflow_types (type text COLLATE "C" PRIMARY KEY);
`,
];

/** SQL types of the columns, for json_to_recordset column lists. */
export const PG_COLUMN_TYPES: Readonly<Record<string, string>> = {
  id: 'text',
  type: 'text',
  state: 'text',
  input: 'text',
  result: 'text',
  error: 'jsonb',
  parent_id: 'text',
  parent_step_id: 'text',
  created_at: 'bigint',
  updated_at: 'bigint',
  started_at: 'bigint',
  completed_at: 'bigint',
  wake_at: 'bigint',
  attempts: 'integer',
  version: 'bigint',
  workflow_id: 'text',
  step_id: 'text',
  name: 'text',
  kind: 'text',
  status: 'text',
  seq: 'bigint',
  child_id: 'text',
  action: 'text',
  at: 'bigint',
  data: 'jsonb',
};

/**
 * Creates or upgrades the schema. Throws AETHER_E_STORE_CORRUPT when the
 * database holds tables of another application or a newer schema.
 */
export async function migrate(client: PoolClient, location: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    const { rows } = await client.query<{ meta: string | null; workflows: string | null }>(
      `SELECT to_regclass('aether_schema_version')::text AS meta, to_regclass('workflows')::text AS workflows`,
    );
    const found = rows[0];
    let version = 0;
    if (found?.meta != null) {
      const v = await client.query<{ version: number }>('SELECT max(version) AS version FROM aether_schema_version');
      version = v.rows[0]?.version ?? 0;
    } else if (found?.workflows != null) {
      throw aetherError(
        'AETHER_E_STORE_CORRUPT',
        `the database ${location} has a workflows table that is not Aether's (no aether_schema_version); it was left unchanged`,
        { location },
      );
    }
    if (version > PG_SCHEMA_VERSION) {
      throw aetherError(
        'AETHER_E_STORE_CORRUPT',
        `the database ${location} has schema version ${version}, newer than this Aether's (${PG_SCHEMA_VERSION})`,
        { location, version },
      );
    }
    for (let v = version; v < PG_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]!);
    if (version < PG_SCHEMA_VERSION) {
      await client.query('DELETE FROM aether_schema_version');
      await client.query('INSERT INTO aether_schema_version (version) VALUES ($1)', [PG_SCHEMA_VERSION]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

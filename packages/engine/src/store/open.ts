/**
 * Picks and opens the store a server's configuration asks for, so the CLI,
 * the SDK's embedded mode and tests turn `--persistence` and `--db` into a
 * store the same way.
 */
import { aetherError } from '@aether/core';
import { createMemoryStore } from './memory.js';
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { WorkflowStore } from './types.js';

/** Where the SQLite store lives when `--db` is not given. */
export const DEFAULT_SQLITE_PATH = './data/aether.db';

/** What openStore needs: the persistence tier and, for durable tiers, the database. */
export interface StoreSpec {
  /** A SQLite file path or a `postgres://` / `postgresql://` URL. @default './data/aether.db' */
  db?: string | undefined;
  persistence: 'memory' | 'snapshot' | 'state-action-log';
  /** Options of the PostgreSQL pool, when `db` is a PostgreSQL URL. */
  postgres?: PostgresStoreOptions | undefined;
}

/** Whether `db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * Opens the store of a persistence tier: a memory store for 'memory' (`db` is
 * ignored), else PostgreSQL when `db` is a postgres URL, else SQLite at `db`.
 */
export async function openStore(spec: StoreSpec): Promise<WorkflowStore> {
  if (spec.persistence === 'memory') return createMemoryStore();
  if (spec.persistence !== 'snapshot' && spec.persistence !== 'state-action-log') {
    throw aetherError('AETHER_E_CONFIG_INVALID', `unknown persistence ${String(spec.persistence)}`, {
      field: 'persistence',
    });
  }
  const db = spec.db ?? DEFAULT_SQLITE_PATH;
  if (isPostgresUrl(db)) return openPostgresStore(db, spec.postgres);
  return openSqliteStore(db);
}

/**
 * Picks the function store that goes with a node's workflow store, so that
 * deployed functions, their code and the edge-node registry live where the
 * workflows do and survive the same restarts: nothing for the memory tier,
 * the same PostgreSQL database, or the same SQLite file (over the workflow
 * store's connection, since that file is locked exclusively).
 */
import { aetherError } from '@aether/core';
import { DEFAULT_SQLITE_PATH, isPostgresUrl, sqliteConnectionOf, type WorkflowStore } from '@aether/engine';
import { createMemoryFunctionStore } from './memory-function-store.js';
import { openPostgresFunctionStore, type PostgresFunctionStoreOptions } from './postgres-function-store.js';
import { createSqliteFunctionStore } from './sqlite-function-store.js';
import type { FunctionStore } from './types.js';

/** What openFunctionStore needs: the same `db` and `persistence` the workflow store was opened with. */
export interface FunctionStoreSpec {
  /** A SQLite file path or a `postgres://` / `postgresql://` URL. @default './data/aether.db' */
  db?: string | undefined;
  persistence: 'memory' | 'snapshot' | 'state-action-log';
  /** Options of the registry's own PostgreSQL pool, when `db` is a PostgreSQL URL. */
  postgres?: PostgresFunctionStoreOptions | undefined;
}

/**
 * Opens the function store of a node: a memory store for the 'memory' tier,
 * else a PostgreSQL store (its own pool) when `db` is a PostgreSQL URL, else
 * the SQLite store over `workflowStore`'s connection. Throws
 * AETHER_E_CONFIG_INVALID for an unknown tier, or when SQLite is asked for but
 * `workflowStore` is not an open SQLite store.
 */
export async function openFunctionStore(workflowStore: WorkflowStore, spec: FunctionStoreSpec): Promise<FunctionStore> {
  if (spec.persistence === 'memory') return createMemoryFunctionStore();
  if (spec.persistence !== 'snapshot' && spec.persistence !== 'state-action-log') {
    throw aetherError('AETHER_E_CONFIG_INVALID', `unknown persistence ${String(spec.persistence)}`, {
      field: 'persistence',
    });
  }
  const db = spec.db ?? DEFAULT_SQLITE_PATH;
  if (isPostgresUrl(db)) return openPostgresFunctionStore(db, spec.postgres);
  const connection = sqliteConnectionOf(workflowStore);
  if (connection === undefined || !connection.open) {
    throw aetherError(
      'AETHER_E_CONFIG_INVALID',
      `the function registry keeps its tables in the SQLite workflow database ${db}, but the workflow store given ` +
        `is ${connection === undefined ? `a ${workflowStore.kind} store` : 'closed'} (${workflowStore.location})`,
      { field: 'db', kind: workflowStore.kind },
    );
  }
  return createSqliteFunctionStore(connection);
}

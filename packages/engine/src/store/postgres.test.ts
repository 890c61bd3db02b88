/**
 * PostgreSQL-only behaviour of the store, against a real server started by the
 * test: fast failure when the server is unreachable, no password in the
 * location, one-statement batches rolled back by a failure inside the
 * database, schema checks and concurrent migrations.
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AetherError, RetryableError } from '@aether/core';
import type { WorkflowRecord } from '@aether/core';
import { startPostgres, type PostgresServer } from '../../../../tests/support/postgres.js';
import { freePort } from '../../../../tests/support/processes.js';
import { openPostgresStore, redactPostgresUrl } from './postgres.js';

function workflow(id: string, over: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return { id, type: 't', state: 'RUNNING', input: '[]', createdAt: 1, updatedAt: 1, attempts: 1, version: 1, ...over };
}

async function rejection(promise: Promise<unknown>): Promise<AetherError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  return err as AetherError;
}

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(() => server?.stop());

describe('PostgreSQL store', () => {
  it('fails at once with AETHER_E_STORE_UNAVAILABLE when nothing listens on the port', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await rejection(openPostgresStore(`postgres://aether:secret@127.0.0.1:${port}/aether`));
    expect(err.code).toBe('AETHER_E_STORE_UNAVAILABLE');
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.message).not.toContain('secret');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('gives up after the connection timeout when the server never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const err = await rejection(openPostgresStore(`postgres://u@127.0.0.1:${port}/db`, { connectionTimeoutMs: 300 }));
      expect(err.code).toBe('AETHER_E_STORE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('shows its location without the password', async () => {
    const url = await server.createDatabase();
    const withPassword = url.replace('postgres@', 'postgres:hunter2@') + '?application_name=x&password=hunter2';
    const store = await openPostgresStore(withPassword);
    try {
      expect(store.location).not.toContain('hunter2');
      expect(store.location).toContain(`127.0.0.1:${server.port}`);
      expect(redactPostgresUrl('postgresql://a:b@h:5/d')).toBe('postgresql://a@h:5/d');
    } finally {
      await store.close();
    }
  });

  it('rolls back the whole batch when the database rejects its last part', async () => {
    const url = await server.createDatabase();
    const store = await openPostgresStore(url);
    try {
      await store.apply([{ type: 'workflow.put', workflow: workflow('kept') }]);
      // A failure only the database sees, after the workflow and step rows of the same statement.
      await sql(
        url,
        `CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.action = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER poison BEFORE INSERT ON actions FOR EACH ROW EXECUTE FUNCTION poison();`,
      );
      const err = await rejection(
        store.apply([
          { type: 'workflow.put', workflow: workflow('kept', { state: 'COMPLETED', version: 2 }) },
          { type: 'workflow.put', workflow: workflow('new') },
          {
            type: 'step.put',
            step: {
              workflowId: 'new',
              stepId: '0',
              name: 's',
              kind: 'step',
              status: 'completed',
              seq: 1,
              attempts: 1,
              startedAt: 1,
            },
          },
          { type: 'action.append', action: { workflowId: 'new', action: 'fine', at: 1 } },
          { type: 'action.append', action: { workflowId: 'new', action: 'poison', at: 2 } },
        ]),
      );
      expect(err.code).toBe('AETHER_E_STORE_FAILED');
      expect(await store.getWorkflow('kept')).toStrictEqual(workflow('kept'));
      expect(await store.getWorkflow('new')).toBeUndefined();
      expect(await store.getSteps('new')).toEqual([]);
      expect(await store.listActions('new')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("refuses a database whose workflows table is another application's, with AETHER_E_STORE_CORRUPT", async () => {
    const url = await server.createDatabase();
    await sql(url, `CREATE TABLE workflows (name text); INSERT INTO workflows VALUES ('theirs')`);
    const err = await rejection(openPostgresStore(url));
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect((await sql(url, 'SELECT name FROM workflows')).rows).toEqual([{ name: 'theirs' }]);
  });

  it('refuses a schema newer than its own with AETHER_E_STORE_CORRUPT', async () => {
    const url = await server.createDatabase();
    await (await openPostgresStore(url)).close();
    await sql(url, 'UPDATE aether_schema_version SET version = 99');
    const err = await rejection(openPostgresStore(url));
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect(err.message).toContain('99');
  });

  it('migrates once when several nodes open a new database at the same time', async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url)));
    try {
      await stores[0]!.apply([{ type: 'workflow.put', workflow: workflow('shared') }]);
      for (const s of stores) expect(await s.getWorkflow('shared')).toStrictEqual(workflow('shared'));
      expect((await sql(url, 'SELECT version FROM aether_schema_version')).rows).toEqual([{ version: 1 }]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('reports a retryable AETHER_E_STORE_UNAVAILABLE while its server is down', async () => {
    const own = await startPostgres();
    const idleErrors: Error[] = [];
    const store = await openPostgresStore(own.url, { onIdleError: (e) => idleErrors.push(e) });
    try {
      await store.apply([{ type: 'workflow.put', workflow: workflow('w') }]);
      await own.stop();
      const err = await rejection(store.getWorkflow('w'));
      expect(err.code).toBe('AETHER_E_STORE_UNAVAILABLE');
      expect(err.retryable).toBe(true);
    } finally {
      await store.close();
      await own.stop();
    }
  });
});

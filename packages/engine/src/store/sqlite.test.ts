/**
 * SQLite-only behaviour of the store: files it must refuse (unreadable, locked
 * by another process, not an Aether database) without touching them, and
 * durability of committed batches when the owning process is SIGKILLed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AetherError, TerminalError } from '@aether/core';
import type { WorkflowRecord } from '@aether/core';
import { childEnv, startProcess, waitFor } from '../../../../tests/support/processes.js';
import { openSqliteStore } from './sqlite.js';

const SQLITE_MODULE = new URL('./sqlite.ts', import.meta.url).href;

function workflow(id: string): WorkflowRecord {
  return { id, type: 't', state: 'RUNNING', input: '[]', createdAt: 1, updatedAt: 1, attempts: 1, version: 1 };
}

function openError(file: string): AetherError {
  try {
    openSqliteStore(file);
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return err as AetherError;
  }
  throw new Error(`openSqliteStore(${file}) succeeded but should have failed`);
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'aether-sqlite-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite store', () => {
  it('creates the missing parent directories of the file', async () => {
    const file = path.join(dir, 'a', 'b', 'c', 'aether.db');
    const store = openSqliteStore(file);
    await store.apply([{ type: 'workflow.put', workflow: workflow('w') }]);
    await store.close();
    expect(existsSync(file)).toBe(true);
  });

  it('refuses a path that is a directory with AETHER_E_STORE_UNREADABLE', () => {
    const sub = path.join(dir, 'is-a-dir');
    mkdirSync(sub);
    const err = openError(sub);
    expect(err.code).toBe('AETHER_E_STORE_UNREADABLE');
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain(sub);
  });

  it('refuses a path below a regular file with AETHER_E_STORE_UNREADABLE', () => {
    const file = path.join(dir, 'plain-file');
    writeFileSync(file, 'x');
    expect(openError(path.join(file, 'aether.db')).code).toBe('AETHER_E_STORE_UNREADABLE');
    expect(openError(path.join(file, 'deeper', 'aether.db')).code).toBe('AETHER_E_STORE_UNREADABLE');
  });

  it('refuses a file of random bytes with AETHER_E_STORE_CORRUPT and leaves it byte for byte unchanged', () => {
    const sub = path.join(dir, 'random');
    mkdirSync(sub);
    const file = path.join(sub, 'aether.db');
    const bytes = randomBytes(8192);
    writeFileSync(file, bytes);
    const err = openError(file);
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect(err.message).toContain(file);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(readdirSync(sub)).toEqual(['aether.db']);
  });

  it("refuses another application's SQLite database with AETHER_E_STORE_CORRUPT and leaves it unchanged", () => {
    const file = path.join(dir, 'foreign.db');
    const foreign = new Database(file);
    foreign.exec("CREATE TABLE workflows (name TEXT); INSERT INTO workflows VALUES ('theirs')");
    foreign.close();
    const before = readFileSync(file);
    const err = openError(file);
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect(err.message).toContain(file);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a database written by a newer schema with AETHER_E_STORE_CORRUPT', async () => {
    const file = path.join(dir, 'newer.db');
    await openSqliteStore(file).close();
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    const err = openError(file);
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect(err.message).toContain('99');
  });

  it('fails fast with AETHER_E_STORE_LOCKED while another connection of this process holds the file', async () => {
    const file = path.join(dir, 'locked-here.db');
    const first = openSqliteStore(file);
    try {
      const started = Date.now();
      expect(openError(file).code).toBe('AETHER_E_STORE_LOCKED');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await first.close();
    }
    await openSqliteStore(file).close();
  });

  it('fails with AETHER_E_STORE_LOCKED while another process holds the file, and keeps its commits after a SIGKILL', async () => {
    const file = path.join(dir, 'locked-elsewhere.db');
    const holder = startProcess(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const [mod, file] = process.argv.slice(1);
         const { openSqliteStore } = await import(mod);
         const store = openSqliteStore(file);
         await store.apply([{ type: 'workflow.put', workflow: { id: 'from-child', type: 't', state: 'RUNNING',
           input: '[]', createdAt: 1, updatedAt: 1, attempts: 1, version: 1 } }]);
         console.log('ready');
         // The interval keeps the store reachable: a garbage-collected connection closes and drops its lock.
         setInterval(() => store, 60_000);`,
        SQLITE_MODULE,
        file,
      ],
      childEnv(),
    );
    try {
      await waitFor(() => holder.output().includes('ready') || holder.child.exitCode !== null, 'the holder process');
      expect(holder.output()).toContain('ready');
      const started = Date.now();
      const err = openError(file);
      expect(err.code).toBe('AETHER_E_STORE_LOCKED');
      expect(err).toBeInstanceOf(TerminalError);
      expect(err.message).toContain(file);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await holder.kill('SIGKILL');
    }
    const store = openSqliteStore(file);
    try {
      expect(await store.getWorkflow('from-child')).toStrictEqual(workflow('from-child'));
    } finally {
      await store.close();
    }
  });
});

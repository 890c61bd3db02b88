/**
 * Crash recovery of the real server: SIGKILL `aether serve` at points chosen by
 * progress (after some number of step executions) while 50 workflows run in a
 * worker process, restart it on the same store, and check that every workflow
 * completes with the right result and that no recorded step body ran again.
 * Also: a killed worker's workflows finish on another worker; the snapshot
 * tier resumes from its last snapshot; a durable timer survives a restart.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import pg from 'pg';
import { aether } from '@aetherframework.ai/sdk';
import { startPostgres, type PostgresServer } from './support/postgres.js';
import {
  ROOT,
  childEnv,
  crashAndRestart,
  startAether,
  startProcess,
  waitFor,
  type AetherServer,
  type Proc,
} from './support/processes.js';

const WORKER = path.join(ROOT, 'tests/fixtures/crash-worker.mjs');
const STEPS = 5;

interface LogLine {
  wf: string;
  step: string;
  nonce: string;
  worker: string;
  at: number;
}

function readLog(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as LogLine);
}

function startWorker(server: AetherServer, log: string, workerId: string, extra: Record<string, string> = {}): Proc {
  return startProcess(
    process.execPath,
    [WORKER],
    childEnv({ AETHER_SERVER_URL: server.grpcUrl, STEP_LOG: log, WORKER_ID: workerId, STEPS: String(STEPS), ...extra }),
  );
}

async function ready(worker: Proc): Promise<void> {
  await waitFor(() => worker.output().includes('ready'), 'worker to register', 30_000).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${worker.output()}`);
  });
}

interface StepJson {
  wake_at?: string | null;
  step_id: string;
  name: string;
  status: string;
  result: { nonce: string; value: number } | null;
}

async function journal(server: AetherServer, id: string): Promise<StepJson[]> {
  const r = await fetch(`${server.httpUrl}/api/workflows/${encodeURIComponent(id)}`);
  expect(r.status).toBe(200);
  const body = (await r.json()) as { steps: StepJson[] };
  return body.steps;
}

const expectedSum = (n: number) => Array.from({ length: STEPS }, (_, i) => n * 10 + i).reduce((a, b) => a + b, 0);

/**
 * For every recorded step: the recorded nonce is the LAST execution of that
 * step body, i.e. nothing ran it again after it was recorded.
 */
function assertNoRecordedStepRanTwice(log: LogLine[], id: string, steps: StepJson[]): number {
  let reruns = 0;
  for (const s of steps) {
    const runs = log.filter((l) => l.wf === id && l.step === s.name);
    expect(runs.length, `${id} ${s.name} ran at least once`).toBeGreaterThan(0);
    const recorded = runs.findIndex((l) => l.nonce === s.result?.nonce);
    expect(recorded, `${id} ${s.name}: the recorded result comes from a logged execution`).toBeGreaterThanOrEqual(0);
    expect(recorded, `${id} ${s.name}: no execution after the recorded one`).toBe(runs.length - 1);
    reruns += runs.length - 1;
  }
  return reruns;
}

let tmp: string;
let postgres: PostgresServer;
let dbCounter = 0;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'aether-crash-'));
  postgres = await startPostgres();
});

afterAll(async () => {
  await postgres?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh database for one test: a SQLite file or a new Postgres database. */
async function freshDb(kind: 'sqlite' | 'postgres'): Promise<string> {
  dbCounter++;
  if (kind === 'sqlite') return path.join(tmp, `crash-${dbCounter}.db`);
  const name = `crash_${dbCounter}_${process.pid}`;
  const c = new pg.Client({ connectionString: postgres.url });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(postgres.url);
  u.pathname = `/${name}`;
  return u.toString();
}

describe.each(['sqlite', 'postgres'] as const)('state-action-log on %s', (kind) => {
  it('survives repeated SIGKILLs of the server while 50 workflows run: right results, no recorded step re-run', async () => {
    const db = await freshDb(kind);
    const log = path.join(tmp, `steps-${kind}-${dbCounter}.log`);
    let server = await startAether({ persistence: 'state-action-log', db });
    const worker = startWorker(server, log, 'w1', { STEP_DELAY_MS: '15' });
    const client = aether({ serverUrl: server.grpcUrl });
    try {
      await ready(worker);
      const crashWf = client.workflow('crash', async (_ctx, _n: number) => ({ n: 0, sum: 0 }));
      const ids = Array.from({ length: 50 }, (_, i) => `crash-${kind}-${i}`);
      await Promise.all(ids.map((id, i) => crashWf.withOptions({ workflowId: id }).start(i)));
      const handles = ids.map((id) => client.getHandle(id));
      const results = Promise.all(handles.map((h) => h.result()));

      const total = ids.length * STEPS;
      let kills = 0;
      for (let k = 0; k < 4; k++) {
        const target = readLog(log).length + 15 + Math.floor(Math.random() * 30);
        if (target >= total) break;
        await waitFor(() => readLog(log).length >= target, `${target} step executions`, 60_000, 5);
        server = await crashAndRestart(server);
        kills++;
      }
      expect(kills).toBeGreaterThanOrEqual(3);

      const out = (await results) as { n: number; sum: number }[];
      out.forEach((r, i) => expect(r).toEqual({ n: i, sum: expectedSum(i) }));

      const lines = readLog(log);
      for (const id of ids) {
        const steps = await journal(server, id);
        expect(steps.map((s) => s.name)).toEqual(Array.from({ length: STEPS }, (_, i) => `s${i}`));
        assertNoRecordedStepRanTwice(lines, id, steps);
      }
    } finally {
      await client.close();
      await worker.kill('SIGKILL');
      await server.kill('SIGKILL');
    }
  });
});

describe('workers', () => {
  it('gives the workflows of a SIGKILLed worker to another worker, which finishes them', async () => {
    const db = await freshDb('sqlite');
    const log = path.join(tmp, `steps-workers.log`);
    const server = await startAether({ persistence: 'state-action-log', db });
    // Worker a is slow, so it still holds unfinished workflows when it is killed.
    const a = startWorker(server, log, 'worker-a', { STEP_DELAY_MS: '400' });
    const b = startWorker(server, log, 'worker-b', { STEP_DELAY_MS: '0' });
    const client = aether({ serverUrl: server.grpcUrl });
    try {
      await Promise.all([ready(a), ready(b)]);
      const crashWf = client.workflow('crash', async (_ctx, _n: number) => ({ n: 0, sum: 0 }));
      const ids = Array.from({ length: 10 }, (_, i) => `moved-${i}`);
      await Promise.all(ids.map((id, i) => crashWf.withOptions({ workflowId: id }).start(i)));
      await waitFor(
        () => readLog(log).filter((l) => l.worker === 'worker-a').length >= 3,
        'worker a to run some steps',
        30_000,
        5,
      );
      await a.kill('SIGKILL');
      const out = (await Promise.all(ids.map((id) => client.getHandle(id).result()))) as { n: number; sum: number }[];
      out.forEach((r, i) => expect(r).toEqual({ n: i, sum: expectedSum(i) }));
      const lines = readLog(log);
      const startedOnA = new Set(lines.filter((l) => l.worker === 'worker-a').map((l) => l.wf));
      const finishedOnB = ids.filter(
        (id) => startedOnA.has(id) && lines.some((l) => l.wf === id && l.worker === 'worker-b'),
      );
      expect(finishedOnB.length).toBeGreaterThan(0);
      for (const id of ids) assertNoRecordedStepRanTwice(lines, id, await journal(server, id));
    } finally {
      await client.close();
      await a.kill('SIGKILL');
      await b.kill('SIGKILL');
      await server.kill('SIGKILL');
    }
  });
});

describe('durable timers', () => {
  it('wakes a workflow sleeping 2 s across a server restart within 1 s of its time', async () => {
    const db = await freshDb('sqlite');
    const log = path.join(tmp, `steps-sleep.log`);
    let server = await startAether({ persistence: 'state-action-log', db });
    const worker = startWorker(server, log, 'sleepy');
    const client = aether({ serverUrl: server.grpcUrl });
    try {
      await ready(worker);
      const sleeper = client.workflow('sleeper', async (_ctx, _s: number) => ({ before: 0, after: 0 }));
      const id = await sleeper.withOptions({ workflowId: 'sleep-across-restart' }).start(2);
      const wakeAt = await waitFor(async () => {
        const steps = await journal(server, id);
        const s = steps.find((x) => x.status === 'waiting');
        return s?.wake_at ? Date.parse(s.wake_at) : undefined;
      }, 'the sleep to be recorded');
      server = await crashAndRestart(server);
      const r = (await client.getHandle(id).result()) as { before: number; after: number };
      expect(r.after).toBeGreaterThanOrEqual(wakeAt);
      expect(r.after - wakeAt).toBeLessThan(1000);
    } finally {
      await client.close();
      await worker.kill('SIGKILL');
      await server.kill('SIGKILL');
    }
  });
});

describe('snapshot tier', () => {
  it('resumes from the last snapshot after SIGKILL: only steps missing from it run again', async () => {
    const db = path.join(tmp, 'snapshot.db');
    const log = path.join(tmp, 'steps-snapshot.log');
    const interval = 1000;
    let server = await startAether({
      persistence: 'snapshot',
      db,
      args: ['-c', writeToml(`[persistence]\nmode = "snapshot"\nsnapshot_interval_ms = ${interval}\n`)],
    });
    const worker = startWorker(server, log, 'snap', { STEP_DELAY_MS: '20' });
    const client = aether({ serverUrl: server.grpcUrl });
    try {
      await ready(worker);
      const crashWf = client.workflow('crash', async (_ctx, _n: number) => ({ n: 0, sum: 0 }));
      const ids = Array.from({ length: 20 }, (_, i) => `snap-${i}`);
      await Promise.all(ids.map((id, i) => crashWf.withOptions({ workflowId: id }).start(i)));
      await waitFor(() => readLog(log).length >= 30, '30 step executions', 30_000, 5);
      // Listing flushes the snapshot tier, so at least this much is in a snapshot;
      // then let more steps run that only the next snapshot would hold.
      expect((await fetch(`${server.httpUrl}/api/workflows?limit=1`)).status).toBe(200);
      const flushedAt = readLog(log).length;
      await waitFor(() => readLog(log).length >= flushedAt + 20, '20 more step executions', 30_000, 5);
      await server.kill('SIGKILL');

      // What the crashed server left on disk is exactly what the next one resumes from.
      const snap = new Database(db);
      const saved = new Set(
        (snap.prepare('SELECT workflow_id, name FROM steps').all() as { workflow_id: string; name: string }[]).map(
          (r) => `${r.workflow_id} ${r.name}`,
        ),
      );
      snap.close();
      expect(saved.size).toBeGreaterThan(0);

      server = await startAether(server.options);
      const out = (await Promise.all(ids.map((id) => client.getHandle(id).result()))) as { n: number; sum: number }[];
      out.forEach((r, i) => expect(r).toEqual({ n: i, sum: expectedSum(i) }));

      // The bound: a step in the last snapshot never runs again; a step that ran
      // but was not yet in a snapshot (the last interval) runs at most once more.
      const counts = new Map<string, number>();
      for (const l of readLog(log)) counts.set(`${l.wf} ${l.step}`, (counts.get(`${l.wf} ${l.step}`) ?? 0) + 1);
      let rerun = 0;
      for (const [key, n] of counts) {
        if (saved.has(key)) expect(n, `${key} was in the snapshot`).toBe(1);
        else expect(n, key).toBeLessThanOrEqual(2);
        if (n > 1) rerun++;
      }
      // Only work of the last interval may be redone: never more steps than were missing from the snapshot.
      expect(rerun).toBeLessThanOrEqual([...counts.keys()].filter((k) => !saved.has(k)).length);
    } finally {
      await client.close();
      await worker.kill('SIGKILL');
      await server.kill('SIGKILL');
    }
  });
});

describe('memory tier', () => {
  it('loses its workflows on restart, as documented', async () => {
    const log = path.join(tmp, 'steps-memory.log');
    let server = await startAether({ persistence: 'memory' });
    const worker = startWorker(server, log, 'mem', { STEP_DELAY_MS: '0' });
    const client = aether({ serverUrl: server.grpcUrl });
    try {
      await ready(worker);
      const crashWf = client.workflow('crash', async (_ctx, _n: number) => ({ n: 0, sum: 0 }));
      const id = await crashWf.withOptions({ workflowId: 'mem-1' }).start(1);
      await expect(client.getHandle(id).result()).resolves.toEqual({ n: 1, sum: expectedSum(1) });
      server = await crashAndRestart(server);
      const r = await fetch(`${server.httpUrl}/api/workflows/mem-1`);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('AETHER_E_WF_NOT_FOUND');
    } finally {
      await client.close();
      await worker.kill('SIGKILL');
      await server.kill('SIGKILL');
    }
  });
});

function writeToml(text: string): string {
  const file = path.join(tmp, `aether-${++dbCounter}.toml`);
  writeFileSync(file, text);
  return file;
}

/**
 * The one conformance suite of the WorkflowStore contract, run against the
 * memory store, SQLite (temp files) and a real PostgreSQL started for the
 * suite. Backend-specific behaviour (locks, corrupt files, unreachable
 * servers) is tested in sqlite.test.ts and postgres.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AetherError } from '@aether/core';
import type { StepRecord, WorkflowRecord, WorkflowState } from '@aether/core';
import { startPostgres, type PostgresServer } from '../../../../tests/support/postgres.js';
import { createMemoryStore } from './memory.js';
import { openStore } from './open.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Mutation, StoreKind, WorkflowStore } from './types.js';

/** Opens fresh, empty stores of one backend, and reopens them when the backend is durable. */
interface Harness {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A new empty store, and how to open the same data again after close(). */
  fresh(): Promise<{ store: WorkflowStore; reopen?: () => Promise<WorkflowStore> }>;
}

function memoryHarness(): Harness {
  return {
    setup: () => Promise.resolve(),
    teardown: () => Promise.resolve(),
    fresh: () => Promise.resolve({ store: createMemoryStore() }),
  };
}

function sqliteHarness(): Harness {
  let dir = '';
  let n = 0;
  return {
    setup() {
      dir = mkdtempSync(path.join(tmpdir(), 'aether-store-'));
      return Promise.resolve();
    },
    teardown() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
    fresh() {
      const file = path.join(dir, `store-${++n}.db`);
      return Promise.resolve({ store: openSqliteStore(file), reopen: () => Promise.resolve(openSqliteStore(file)) });
    },
  };
}

function postgresHarness(): Harness {
  let server: PostgresServer | undefined;
  return {
    async setup() {
      server = await startPostgres();
    },
    async teardown() {
      await server?.stop();
    },
    async fresh() {
      const url = await server!.createDatabase();
      return { store: await openPostgresStore(url), reopen: () => openPostgresStore(url) };
    },
  };
}

const HARNESSES: [StoreKind, () => Harness][] = [
  ['memory', memoryHarness],
  ['sqlite', sqliteHarness],
  ['postgres', postgresHarness],
];

function workflow(id: string, over: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return {
    id,
    type: 'order',
    state: 'PENDING',
    input: '[1,"two"]',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    attempts: 0,
    version: 1,
    ...over,
  };
}

function step(workflowId: string, stepId: string, seq: number, over: Partial<StepRecord> = {}): StepRecord {
  return {
    workflowId,
    stepId,
    name: `step-${stepId}`,
    kind: 'step',
    status: 'completed',
    seq,
    result: '{"ok":true}',
    attempts: 1,
    startedAt: 1_700_000_000_100 + seq,
    ...over,
  };
}

const putW = (w: WorkflowRecord): Mutation => ({ type: 'workflow.put', workflow: w });
const putS = (s: StepRecord): Mutation => ({ type: 'step.put', step: s });

async function expectAetherError(promise: Promise<unknown>, code: string): Promise<AetherError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  expect((err as AetherError).code).toBe(code);
  return err as AetherError;
}

describe.each(HARNESSES)('%s store', (kind, makeHarness) => {
  const harness = makeHarness();
  const open: WorkflowStore[] = [];

  beforeAll(() => harness.setup());
  afterAll(() => harness.teardown());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  async function fresh(): Promise<{ store: WorkflowStore; reopen?: () => Promise<WorkflowStore> }> {
    const opened = await harness.fresh();
    open.push(opened.store);
    return opened;
  }

  it('reports its kind and a location', async () => {
    const { store } = await fresh();
    expect(store.kind).toBe(kind);
    expect(store.location.length).toBeGreaterThan(0);
  });

  it('round-trips a workflow with every optional field set', async () => {
    const { store } = await fresh();
    const full = workflow('wf-full', {
      state: 'FAILED',
      result: '{"total":42}',
      error: {
        code: 'AETHER_E_WF_FAILED',
        message: 'boom',
        name: 'PaymentError',
        details: { attempt: 3, tags: ['a'] },
      },
      parentId: 'parent-1',
      parentStepId: '2.1/0',
      startedAt: 1_700_000_000_010,
      completedAt: 1_700_000_000_020,
      wakeAt: 1_700_000_009_999,
      attempts: 4,
      version: 9,
      updatedAt: 1_700_000_000_020,
    });
    await store.apply([putW(full)]);
    expect(await store.getWorkflow('wf-full')).toStrictEqual(full);
  });

  it('round-trips a workflow with the optional fields absent, and an empty-string result', async () => {
    const { store } = await fresh();
    const minimal = workflow('wf-min');
    const emptyResult = workflow('wf-empty', { state: 'COMPLETED', result: '' });
    await store.apply([putW(minimal), putW(emptyResult)]);
    const got = await store.getWorkflow('wf-min');
    expect(got).toStrictEqual(minimal);
    for (const key of ['result', 'error', 'parentId', 'parentStepId', 'startedAt', 'completedAt', 'wakeAt']) {
      expect(got).not.toHaveProperty(key);
    }
    expect((await store.getWorkflow('wf-empty'))?.result).toBe('');
    expect(await store.getWorkflow('nope')).toBeUndefined();
  });

  it('replaces the whole workflow row on put', async () => {
    const { store } = await fresh();
    await store.apply([putW(workflow('w', { state: 'RUNNING', startedAt: 5, wakeAt: 9, version: 2 }))]);
    const replaced = workflow('w', { state: 'RUNNING', version: 3 });
    await store.apply([putW(replaced)]);
    expect(await store.getWorkflow('w')).toStrictEqual(replaced);
  });

  it('upserts journal entries by (workflowId, stepId) and returns them ordered by seq', async () => {
    const { store } = await fresh();
    await store.apply([putW(workflow('a')), putW(workflow('b'))]);
    const sleeping = step('a', '10', 3, {
      name: 'sleep',
      kind: 'sleep',
      status: 'waiting',
      result: undefined,
      wakeAt: 1_700_000_100_000,
    });
    delete sleeping.result;
    await store.apply([putS(step('a', '2', 1)), putS(sleeping), putS(step('a', '1.0/0', 2)), putS(step('b', '2', 1))]);
    const woken = step('a', '10', 3, { name: 'sleep', kind: 'sleep', completedAt: 1_700_000_100_001 });
    const child = step('a', '11', 4, {
      name: 'child-type',
      kind: 'child',
      status: 'failed',
      error: { code: 'AETHER_E_WF_FAILED', message: 'child failed', details: { childId: 'a/11' } },
      childId: 'a/11',
      attempts: 2,
    });
    delete child.result;
    await store.apply([putS(woken), putS(child)]);

    const steps = await store.getSteps('a');
    expect(steps.map((s) => s.stepId)).toEqual(['2', '1.0/0', '10', '11']);
    expect(steps[0]).toStrictEqual(step('a', '2', 1));
    expect(steps[2]).toStrictEqual(woken);
    expect(steps[3]).toStrictEqual(child);
    expect(steps[3]).not.toHaveProperty('result');
    expect(await store.getSteps('b')).toStrictEqual([step('b', '2', 1)]);
    expect(await store.getSteps('unknown')).toEqual([]);
  });

  it('keeps the last write when a batch puts the same key twice', async () => {
    const { store } = await fresh();
    await store.apply([
      putW(workflow('w', { version: 1 })),
      putS(step('w', '0', 1, { status: 'waiting' })),
      putW(workflow('w', { state: 'RUNNING', version: 2 })),
      putS(step('w', '0', 1, { status: 'completed', result: '"last"' })),
    ]);
    expect(await store.getWorkflow('w')).toStrictEqual(workflow('w', { state: 'RUNNING', version: 2 }));
    expect(await store.getSteps('w')).toStrictEqual([step('w', '0', 1, { result: '"last"' })]);
    expect(await store.countByState()).toMatchObject({ PENDING: 0, RUNNING: 1 });
  });

  it('lists newest first, pages with cursors over several pages without duplicates or gaps, and filters', async () => {
    const { store } = await fresh();
    const types = ['order', 'refund'];
    const states: WorkflowState[] = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
    // Ties on createdAt (3 per millisecond) make the id the tie-breaker.
    const all = Array.from({ length: 40 }, (_, i) =>
      workflow(`wf-${String(i).padStart(3, '0')}`, {
        createdAt: 1_000 + Math.floor(i / 3),
        type: types[i % 2]!,
        state: states[i % 5]!,
      }),
    );
    // Insert out of order, in two batches.
    const shuffled = [...all].sort(
      (a, b) => (a.id.charCodeAt(5) % 7) - (b.id.charCodeAt(5) % 7) || (a.id < b.id ? 1 : -1),
    );
    await store.apply(shuffled.slice(0, 17).map(putW));
    await store.apply(shuffled.slice(17).map(putW));
    const newestFirst = (list: WorkflowRecord[]) =>
      [...list].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

    async function pageAll(filter: { type?: string; state?: WorkflowState }, limit: number) {
      const seen: WorkflowRecord[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listWorkflows({ ...filter, limit, cursor });
        expect(page.items.length).toBeLessThanOrEqual(limit);
        if (page.nextCursor !== undefined) expect(page.items.length).toBe(limit);
        seen.push(...page.items);
        cursor = page.nextCursor;
        pages++;
        expect(pages).toBeLessThan(100);
      } while (cursor !== undefined);
      return { seen, pages };
    }

    const everything = await pageAll({}, 7);
    expect(everything.pages).toBe(6);
    expect(everything.seen).toStrictEqual(newestFirst(all));

    const refunds = await pageAll({ type: 'refund' }, 6);
    expect(refunds.pages).toBeGreaterThan(2);
    expect(refunds.seen).toStrictEqual(newestFirst(all.filter((w) => w.type === 'refund')));

    const running = await pageAll({ state: 'RUNNING' }, 3);
    expect(running.seen).toStrictEqual(newestFirst(all.filter((w) => w.state === 'RUNNING')));

    const both = await pageAll({ type: 'order', state: 'COMPLETED' }, 2);
    expect(both.seen).toStrictEqual(newestFirst(all.filter((w) => w.type === 'order' && w.state === 'COMPLETED')));
    expect(both.seen.length).toBeGreaterThan(2);

    // A page that ends exactly at the last row says there is nothing more.
    const exact = await store.listWorkflows({ limit: 40 });
    expect(exact.items).toHaveLength(40);
    expect(exact.nextCursor).toBeUndefined();
    expect((await store.listWorkflows({})).items).toHaveLength(40);
    expect(await store.listWorkflows({ type: 'none' })).toStrictEqual({ items: [], nextCursor: undefined });
  });

  it('sees rows added after a cursor was issued only on the pages they belong to', async () => {
    const { store } = await fresh();
    await store.apply(Array.from({ length: 6 }, (_, i) => putW(workflow(`w${i}`, { createdAt: 100 + i }))));
    const first = await store.listWorkflows({ limit: 3 });
    expect(first.items.map((w) => w.id)).toEqual(['w5', 'w4', 'w3']);
    await store.apply([putW(workflow('newer', { createdAt: 999 })), putW(workflow('older', { createdAt: 1 }))]);
    const second = await store.listWorkflows({ limit: 3, cursor: first.nextCursor });
    expect(second.items.map((w) => w.id)).toEqual(['w2', 'w1', 'w0']);
    const third = await store.listWorkflows({ limit: 3, cursor: second.nextCursor });
    expect(third.items.map((w) => w.id)).toEqual(['older']);
    expect(third.nextCursor).toBeUndefined();
  });

  it('caps pages at 1000 and rejects a bad cursor, limit or state with AETHER_E_INVALID_ARGUMENT', async () => {
    const { store } = await fresh();
    await store.apply(Array.from({ length: 1001 }, (_, i) => putW(workflow(`w${i}`, { createdAt: i }))));
    const page = await store.listWorkflows({ limit: 5000 });
    expect(page.items).toHaveLength(1000);
    expect(page.nextCursor).toBeDefined();
    expect((await store.listWorkflows({ cursor: page.nextCursor })).items.map((w) => w.id)).toEqual(['w0']);
    await expectAetherError(store.listWorkflows({ cursor: 'not-a-cursor' }), 'AETHER_E_INVALID_ARGUMENT');
    await expectAetherError(store.listWorkflows({ limit: 0 }), 'AETHER_E_INVALID_ARGUMENT');
    await expectAetherError(store.listWorkflows({ limit: 2.5 }), 'AETHER_E_INVALID_ARGUMENT');
    await expectAetherError(store.listWorkflows({ state: 'SLEEPING' as WorkflowState }), 'AETHER_E_INVALID_ARGUMENT');
  });

  it('loads only non-terminal workflows, each with its journal in seq order', async () => {
    const { store } = await fresh();
    await store.apply([
      putW(workflow('pending')),
      putW(workflow('running', { state: 'RUNNING', wakeAt: 5_000 })),
      putW(workflow('done', { state: 'COMPLETED', result: '1' })),
      putW(workflow('failed', { state: 'FAILED', error: { code: 'X', message: 'x' } })),
      putW(workflow('cancelled', { state: 'CANCELLED' })),
      putS(step('running', '1', 2)),
      putS(step('running', '0', 1)),
      putS(step('done', '0', 1)),
    ]);
    const active = await store.loadActive();
    const byId = new Map(active.map((a) => [a.workflow.id, a]));
    expect([...byId.keys()].sort()).toEqual(['pending', 'running']);
    expect(byId.get('pending')).toStrictEqual({ workflow: workflow('pending'), steps: [] });
    expect(byId.get('running')).toStrictEqual({
      workflow: workflow('running', { state: 'RUNNING', wakeAt: 5_000 }),
      steps: [step('running', '0', 1), step('running', '1', 2)],
    });
    await store.apply([putW(workflow('running', { state: 'COMPLETED', version: 2 }))]);
    expect((await store.loadActive()).map((a) => a.workflow.id)).toEqual(['pending']);
  });

  it('returns the action log of a workflow oldest first', async () => {
    const { store } = await fresh();
    await store.apply([putW(workflow('a')), putW(workflow('b'))]);
    await store.apply([
      {
        type: 'action.append',
        action: { workflowId: 'a', action: 'workflow.started', at: 10, data: { input: '[1]' } },
      },
      { type: 'action.append', action: { workflowId: 'b', action: 'workflow.started', at: 11 } },
      { type: 'action.append', action: { workflowId: 'a', action: 'step.completed', at: 10, data: { stepId: '0' } } },
    ]);
    await store.apply([
      {
        type: 'action.append',
        action: { workflowId: 'a', action: 'workflow.completed', at: 9, data: { nested: { x: [1, null] } } },
      },
    ]);
    expect(await store.listActions('a')).toStrictEqual([
      { workflowId: 'a', action: 'workflow.started', at: 10, data: { input: '[1]' } },
      { workflowId: 'a', action: 'step.completed', at: 10, data: { stepId: '0' } },
      { workflowId: 'a', action: 'workflow.completed', at: 9, data: { nested: { x: [1, null] } } },
    ]);
    expect(await store.listActions('b')).toStrictEqual([{ workflowId: 'b', action: 'workflow.started', at: 11 }]);
    expect(await store.listActions('none')).toEqual([]);
  });

  it('counts workflows by state, following state changes', async () => {
    const { store } = await fresh();
    expect(await store.countByState()).toStrictEqual({ PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 });
    await store.apply([putW(workflow('a')), putW(workflow('b')), putW(workflow('c', { state: 'RUNNING' }))]);
    await store.apply([putW(workflow('a', { state: 'RUNNING' })), putW(workflow('c', { state: 'FAILED' }))]);
    expect(await store.countByState()).toStrictEqual({ PENDING: 1, RUNNING: 1, COMPLETED: 0, FAILED: 1, CANCELLED: 0 });
  });

  it('remembers workflow types idempotently and lists them sorted', async () => {
    const { store } = await fresh();
    expect(await store.listWorkflowTypes()).toEqual([]);
    await store.addWorkflowTypes(['order', 'billing']);
    await store.addWorkflowTypes(['order', 'refund', 'refund']);
    await store.addWorkflowTypes([]);
    expect(await store.listWorkflowTypes()).toEqual(['billing', 'order', 'refund']);
    await expectAetherError(store.addWorkflowTypes(['ok', '']), 'AETHER_E_INVALID_ARGUMENT');
    expect(await store.listWorkflowTypes()).toEqual(['billing', 'order', 'refund']);
  });

  it('applies a batch atomically: an invalid record midway leaves nothing of the batch', async () => {
    const { store } = await fresh();
    await store.apply([putW(workflow('existing', { version: 1 })), putS(step('existing', '0', 1))]);
    const before = await store.countByState();
    const bad = workflow('bad', { state: 'SLEEPING' as WorkflowState });
    const err = await expectAetherError(
      store.apply([
        putW(workflow('existing', { state: 'RUNNING', version: 2 })),
        putS(step('existing', '0', 1, { result: '"changed"' })),
        putW(workflow('new')),
        putS(step('new', '0', 1)),
        { type: 'action.append', action: { workflowId: 'new', action: 'workflow.started', at: 1 } },
        putW(bad),
      ]),
      'AETHER_E_INVALID_ARGUMENT',
    );
    expect(err.retryable).toBe(false);
    expect(await store.getWorkflow('existing')).toStrictEqual(workflow('existing', { version: 1 }));
    expect(await store.getSteps('existing')).toStrictEqual([step('existing', '0', 1)]);
    expect(await store.getWorkflow('new')).toBeUndefined();
    expect(await store.getSteps('new')).toEqual([]);
    expect(await store.listActions('new')).toEqual([]);
    expect(await store.countByState()).toStrictEqual(before);
  });

  it('rejects malformed records of every kind', async () => {
    const { store } = await fresh();
    const cases: Mutation[] = [
      putW(workflow('')),
      putW(workflow('x', { createdAt: Number.NaN })),
      putW(workflow('x', { attempts: -1 })),
      putW({ ...workflow('x'), input: undefined as unknown as string }),
      putW(workflow('x', { error: { code: 1 } as unknown as WorkflowRecord['error'] })),
      putS(step('x', '0', 1, { kind: 'lambda' as StepRecord['kind'] })),
      putS(step('x', '0', 1, { status: 'done' as StepRecord['status'] })),
      putS(step('x', '', 1)),
      { type: 'action.append', action: { workflowId: 'x', action: '', at: 1 } },
      {
        type: 'action.append',
        action: { workflowId: 'x', action: 'a', at: 1, data: [] as unknown as Record<string, unknown> },
      },
      { type: 'workflow.delete' } as unknown as Mutation,
    ];
    for (const m of cases) await expectAetherError(store.apply([m]), 'AETHER_E_INVALID_ARGUMENT');
    expect(await store.countByState()).toStrictEqual({ PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 });
  });

  it('keeps its own copies: changing records after apply or after a read changes nothing stored', async () => {
    const { store } = await fresh();
    const w = workflow('w', { error: { code: 'X', message: 'm', details: { n: 1 } } });
    const s = step('w', '0', 1);
    const data = { k: 'v' };
    await store.apply([
      putW(w),
      putS(s),
      { type: 'action.append', action: { workflowId: 'w', action: 'a', at: 1, data } },
    ]);
    w.state = 'FAILED';
    w.error!.details!.n = 2;
    s.result = 'mutated';
    data.k = 'mutated';
    const read = (await store.getWorkflow('w'))!;
    read.type = 'mutated';
    (await store.getSteps('w'))[0]!.name = 'mutated';
    (await store.listActions('w'))[0]!.data!.k = 'mutated';
    expect(await store.getWorkflow('w')).toStrictEqual(
      workflow('w', { error: { code: 'X', message: 'm', details: { n: 1 } } }),
    );
    expect(await store.getSteps('w')).toStrictEqual([step('w', '0', 1)]);
    expect((await store.listActions('w'))[0]!.data).toStrictEqual({ k: 'v' });
    expect(await store.countByState()).toMatchObject({ PENDING: 1, FAILED: 0 });
  });

  it('treats an empty batch as a no-op and rejects writes after close', async () => {
    const { store } = await fresh();
    await store.apply([]);
    expect(await store.listWorkflows({})).toStrictEqual({ items: [], nextCursor: undefined });
    await store.close();
    await store.close();
    await expectAetherError(store.apply([putW(workflow('late'))]), 'AETHER_E_SHUTTING_DOWN');
  });

  // The memory store keeps nothing by design: this test exists only for the durable backends.
  if (kind !== 'memory')
    it('keeps everything across close and reopen', async () => {
      const { store, reopen } = await fresh();
      const w = workflow('kept', { state: 'RUNNING', error: { code: 'E', message: 'm' }, wakeAt: 77 });
      await store.apply([
        putW(w),
        putS(step('kept', '0', 1)),
        { type: 'action.append', action: { workflowId: 'kept', action: 'workflow.started', at: 5, data: { a: 1 } } },
      ]);
      await store.addWorkflowTypes(['order']);
      await store.close();
      const again = await reopen!();
      open.push(again);
      expect(await again.getWorkflow('kept')).toStrictEqual(w);
      expect(await again.getSteps('kept')).toStrictEqual([step('kept', '0', 1)]);
      expect(await again.listActions('kept')).toStrictEqual([
        { workflowId: 'kept', action: 'workflow.started', at: 5, data: { a: 1 } },
      ]);
      expect(await again.listWorkflowTypes()).toEqual(['order']);
      expect(await again.loadActive()).toStrictEqual([{ workflow: w, steps: [step('kept', '0', 1)] }]);
      await again.apply([{ type: 'action.append', action: { workflowId: 'kept', action: 'workflow.resumed', at: 6 } }]);
      expect((await again.listActions('kept')).map((a) => a.action)).toEqual(['workflow.started', 'workflow.resumed']);
    });
});

describe('openStore', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'aether-open-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('opens a memory store for the memory tier, ignoring db', async () => {
    const store = await openStore({ persistence: 'memory', db: path.join(dir, 'ignored.db') });
    expect(store.kind).toBe('memory');
    await store.close();
  });

  it('opens SQLite at db for the durable tiers', async () => {
    const file = path.join(dir, 'nested', 'a.db');
    const store = await openStore({ persistence: 'state-action-log', db: file });
    expect(store.kind).toBe('sqlite');
    expect(store.location).toBe(file);
    await store.close();
  });

  it('rejects an unknown persistence tier instead of falling back', async () => {
    await expectAetherError(
      openStore({ persistence: 'disk' as 'snapshot', db: path.join(dir, 'x.db') }),
      'AETHER_E_CONFIG_INVALID',
    );
  });

  it('opens PostgreSQL for postgres:// and postgresql:// URLs', async () => {
    // Nothing listens on port 1: reaching the Postgres store is enough to prove the choice.
    for (const db of ['postgres://u@127.0.0.1:1/db', 'postgresql://u@127.0.0.1:1/db']) {
      const err = await expectAetherError(openStore({ persistence: 'snapshot', db }), 'AETHER_E_STORE_UNAVAILABLE');
      expect(err.message).toContain('PostgreSQL');
    }
  });
});

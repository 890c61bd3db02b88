/**
 * The one conformance suite of the FunctionStore contract, run against the
 * memory store, SQLite (a temp file opened as a node does: the engine's
 * workflow store, then openFunctionStore over its connection) and a real
 * PostgreSQL started for the suite.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AetherError } from '@aether/core';
import type { WorkflowRecord } from '@aether/core';
import { createMemoryStore, openStore, sqliteConnectionOf, type WorkflowStore } from '@aether/engine';
import { startPostgres, type PostgresServer } from '../../../../tests/support/postgres.js';
import { openFunctionStore } from './open-function-store.js';
import { sha256Hex } from './records.js';
import type { FunctionInput, FunctionStore, FunctionStoreKind } from './types.js';

/** A function store of one backend, with what the durable backends can do beyond the contract. */
interface Opened {
  store: FunctionStore;
  /** Closes everything (function store and, for SQLite, the workflow store) and opens the same data again. */
  reopen?: () => Promise<Opened>;
  /** Runs SQL on the database behind the store, to damage rows the way a bad disk or hand edit would. */
  exec?: (sql: string) => Promise<void>;
}

interface Harness {
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A new empty store. */
  fresh(): Promise<Opened>;
  /** Closes whatever fresh() and reopen() opened. */
  closeAll(): Promise<void>;
}

function memoryHarness(): Harness {
  const open: FunctionStore[] = [];
  return {
    setup: () => Promise.resolve(),
    teardown: () => Promise.resolve(),
    async fresh() {
      const workflows = createMemoryStore();
      const store = await openFunctionStore(workflows, { persistence: 'memory' });
      open.push(store);
      return { store };
    },
    async closeAll() {
      await Promise.all(open.splice(0).map((s) => s.close()));
    },
  };
}

function sqliteHarness(): Harness {
  let dir = '';
  let n = 0;
  const closers: (() => Promise<void>)[] = [];
  async function openFile(file: string): Promise<Opened> {
    const spec = { db: file, persistence: 'state-action-log' } as const;
    const workflows = await openStore(spec);
    const store = await openFunctionStore(workflows, spec);
    const close = async (): Promise<void> => {
      await store.close();
      await workflows.close();
    };
    closers.push(close);
    return {
      store,
      async reopen() {
        await close();
        return openFile(file);
      },
      exec(sql) {
        sqliteConnectionOf(workflows)!.exec(sql);
        return Promise.resolve();
      },
    };
  }
  return {
    setup() {
      dir = mkdtempSync(path.join(tmpdir(), 'aether-fn-store-'));
      return Promise.resolve();
    },
    teardown() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
    fresh: () => openFile(path.join(dir, `store-${++n}.db`)),
    async closeAll() {
      for (const close of closers.splice(0)) await close();
    },
  };
}

function postgresHarness(): Harness {
  let server: PostgresServer | undefined;
  const closers: (() => Promise<void>)[] = [];
  async function openUrl(url: string): Promise<Opened> {
    const spec = { db: url, persistence: 'state-action-log' } as const;
    const workflows = await openStore(spec);
    const store = await openFunctionStore(workflows, spec);
    const close = async (): Promise<void> => {
      await store.close();
      await workflows.close();
    };
    closers.push(close);
    return {
      store,
      async reopen() {
        await close();
        return openUrl(url);
      },
      async exec(sql) {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(sql);
        } finally {
          await client.end();
        }
      },
    };
  }
  return {
    async setup() {
      server = await startPostgres();
    },
    async teardown() {
      await server?.stop();
    },
    async fresh() {
      return openUrl(await server!.createDatabase());
    },
    async closeAll() {
      for (const close of closers.splice(0)) await close();
    },
  };
}

const HARNESSES: [FunctionStoreKind, () => Harness][] = [
  ['memory', memoryHarness],
  ['sqlite', sqliteHarness],
  ['postgres', postgresHarness],
];

const T0 = new Date('2026-01-02T03:04:05.678Z');
const T1 = new Date('2026-01-02T03:05:00.000Z');
const T2 = new Date('2026-01-03T00:00:00.001Z');

function deploy(name: string, code: Uint8Array, over: Partial<FunctionInput> = {}): FunctionInput {
  return {
    id: name,
    name,
    runtime: 'wasm',
    hash: sha256Hex(code),
    sizeBytes: code.byteLength,
    memoryLimitMb: null,
    timeoutMs: null,
    scaling: null,
    envVars: {},
    ...over,
  };
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function expectAetherError(promise: Promise<unknown>, code: string): Promise<AetherError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  expect((err as AetherError).code).toBe(code);
  return err as AetherError;
}

describe.each(HARNESSES)('%s function store', (kind, makeHarness) => {
  const harness = makeHarness();

  beforeAll(() => harness.setup());
  afterAll(() => harness.teardown());
  afterEach(() => harness.closeAll());

  it('reports its kind', async () => {
    const { store } = await harness.fresh();
    expect(store.kind).toBe(kind);
  });

  it('stores a function and returns it on get, with every field as deployed', async () => {
    const { store } = await harness.fresh();
    const code = bytes('\0asm hello');
    const input = deploy('hello_world', code, {
      memoryLimitMb: 32,
      timeoutMs: 1500,
      envVars: { GREETING: 'hi', EMPTY: '', ['__proto__']: 'a variable, not a prototype', UNICODE_ä: '😀' },
    });
    const stored = await store.putFunction(input, code, T0);
    const expected = { ...input, version: 1, deployedAt: T0.toISOString(), updatedAt: T0.toISOString() };
    expect(stored).toStrictEqual(expected);
    expect(await store.getFunction('hello_world')).toStrictEqual(expected);
    expect(Object.keys(stored.envVars)).toContain('__proto__');
    expect(await store.getFunction('nope')).toBeUndefined();
  });

  it('lists functions ordered by the byte order of their names', async () => {
    const { store } = await harness.fresh();
    // UTF-8 byte order: '\uFFFD' (EF BF BD) sorts before an astral character (F0 ...),
    // though its UTF-16 code unit is greater than a surrogate's.
    const names = ['b', '😀', 'a-2', 'B', '\uFFFD', 'a', 'ä'];
    for (const name of names) await store.putFunction(deploy(name, bytes(name)), bytes(name), T0);
    const listed = await store.listFunctions();
    expect(listed.map((f) => f.name)).toStrictEqual(['B', 'a', 'a-2', 'b', 'ä', '\uFFFD', '😀']);
    expect(listed.every((f) => f.id === f.name && f.version === 1)).toBe(true);
  });

  it('bumps the version on redeploy, keeps deployedAt and replaces everything else', async () => {
    const { store } = await harness.fresh();
    const v1 = bytes('v1');
    const v2 = bytes('version two');
    await store.putFunction(deploy('f', v1, { envVars: { A: '1' }, memoryLimitMb: 16 }), v1, T0);
    const second = await store.putFunction(deploy('f', v2, { timeoutMs: 100 }), v2, T1);
    expect(second).toStrictEqual({
      ...deploy('f', v2, { timeoutMs: 100 }),
      version: 2,
      deployedAt: T0.toISOString(),
      updatedAt: T1.toISOString(),
    });
    const third = await store.putFunction(deploy('f', v2), v2, T2);
    expect(third.version).toBe(3);
    expect(third.deployedAt).toBe(T0.toISOString());
    expect(third.updatedAt).toBe(T2.toISOString());
    expect(await store.getFunction('f')).toStrictEqual(third);
    expect(await store.getCode(sha256Hex(v1))).toBeUndefined();
    expect(await store.getCode(sha256Hex(v2))).toStrictEqual(v2);
  });

  it('keeps node functions, whose zips live in the code store: no code here, an empty hash before the first upload', async () => {
    const { store } = await harness.fresh();
    const none = new Uint8Array(0);
    const created = await store.putFunction(
      {
        id: 'fn-1',
        name: 'fn-1',
        runtime: 'node',
        hash: '',
        sizeBytes: 0,
        memoryLimitMb: null,
        timeoutMs: null,
        scaling: null,
        envVars: { SECRET: '123' },
      },
      none,
      T0,
    );
    expect(created).toMatchObject({ runtime: 'node', hash: '', version: 1 });
    const zipHash = sha256Hex(bytes('a zip'));
    const uploaded = await store.putFunction({ ...created, hash: zipHash, sizeBytes: 5 }, none, T1);
    expect(uploaded).toMatchObject({
      runtime: 'node',
      hash: zipHash,
      sizeBytes: 5,
      version: 2,
      envVars: { SECRET: '123' },
    });
    expect(await store.getFunction('fn-1')).toStrictEqual(uploaded);
    // The registry never holds a node function's code.
    expect(await store.getCode(zipHash)).toBeUndefined();
    await expectAetherError(
      store.putFunction({ ...created, hash: zipHash, sizeBytes: 5 }, bytes('a zip'), T2),
      'AETHER_E_INVALID_ARGUMENT',
    );
    await expectAetherError(
      store.putFunction({ ...created, hash: 'not-a-hash' }, none, T2),
      'AETHER_E_INVALID_ARGUMENT',
    );
    expect(await store.getFunction('fn-1')).toStrictEqual(uploaded);
  });

  it('keeps scaling overrides with only the fields set, replaces them on redeploy, and reads none as null', async () => {
    const { store } = await harness.fresh();
    const none = new Uint8Array(0);
    const node = (scaling: FunctionInput['scaling']): FunctionInput => ({
      ...deploy('scaled', none, { runtime: 'node', hash: '', sizeBytes: 0 }),
      scaling,
    });
    const full = { min: 1, max: 3, targetConcurrency: 2, idleTimeoutS: 0.25 };
    const first = await store.putFunction(node(full), none, T0);
    expect(first.scaling).toStrictEqual(full);
    expect((await store.getFunction('scaled'))?.scaling).toStrictEqual(full);
    // min 0 and idle 0 are settings, not absences.
    const zeros = await store.putFunction(node({ min: 0, idleTimeoutS: 0 }), none, T1);
    expect(zeros.scaling).toStrictEqual({ min: 0, idleTimeoutS: 0 });
    expect((await store.listFunctions())[0]?.scaling).toStrictEqual({ min: 0, idleTimeoutS: 0 });
    // Fields given as undefined are not kept; an override without fields is no override.
    const partial = await store.putFunction(node({ max: 5, min: undefined }), none, T1);
    expect(partial.scaling).toStrictEqual({ max: 5 });
    expect(Object.keys((await store.getFunction('scaled'))!.scaling!)).toStrictEqual(['max']);
    expect((await store.putFunction(node({}), none, T2)).scaling).toBeNull();
    expect((await store.getFunction('scaled'))?.scaling).toBeNull();
    await store.putFunction(node({ targetConcurrency: 7 }), none, T2);
    expect((await store.putFunction(node(null), none, T2)).scaling).toBeNull();
    expect((await store.getFunction('scaled'))?.version).toBe(6);
    // A copy: changing what was returned changes nothing stored.
    const got = await store.putFunction(node({ max: 2 }), none, T2);
    got.scaling!.max = 99;
    expect((await store.getFunction('scaled'))?.scaling).toStrictEqual({ max: 2 });
  });

  it('shares identical code between functions and drops it only when no function uses it', async () => {
    const { store } = await harness.fresh();
    const shared = bytes('shared module');
    const other = bytes('other module');
    const hash = sha256Hex(shared);
    await store.putFunction(deploy('a', shared), shared, T0);
    await store.putFunction(deploy('b', shared), shared, T0);
    expect((await store.getFunction('a'))?.hash).toBe(hash);
    expect((await store.getFunction('b'))?.hash).toBe(hash);

    await store.putFunction(deploy('a', other), other, T1); // a moves away; b still uses the code
    expect(await store.getCode(hash)).toStrictEqual(shared);
    expect(await store.deleteFunction('b')).toBe(true);
    expect(await store.getCode(hash)).toBeUndefined();

    await store.putFunction(deploy('c', other), other, T1);
    expect(await store.deleteFunction('a')).toBe(true);
    expect(await store.getCode(sha256Hex(other))).toStrictEqual(other);
    expect(await store.deleteFunction('c')).toBe(true);
    expect(await store.getCode(sha256Hex(other))).toBeUndefined();
    expect(await store.listFunctions()).toStrictEqual([]);
  });

  it('returns false when deleting an unknown function, and leaves the others alone', async () => {
    const { store } = await harness.fresh();
    const code = bytes('x');
    await store.putFunction(deploy('keep', code), code, T0);
    expect(await store.deleteFunction('unknown')).toBe(false);
    expect(await store.deleteFunction('keep')).toBe(true);
    expect(await store.deleteFunction('keep')).toBe(false);
    expect(await store.getFunction('keep')).toBeUndefined();
  });

  it('round-trips 1 MB of random code byte for byte, as a copy the caller may change', async () => {
    const { store } = await harness.fresh();
    const code = new Uint8Array(randomBytes(1024 * 1024));
    const original = code.slice();
    const record = await store.putFunction(deploy('big', code), code, T0);
    expect(record.sizeBytes).toBe(1024 * 1024);
    code.fill(0); // the store kept its own copy at put
    const got = await store.getCode(record.hash);
    expect(got).toBeDefined();
    expect(Object.getPrototypeOf(got)).toBe(Uint8Array.prototype);
    expect(got!.byteLength).toBe(original.byteLength);
    expect(Buffer.compare(Buffer.from(got!), Buffer.from(original))).toBe(0);
    got![0] = got![0]! ^ 0xff;
    const again = await store.getCode(record.hash);
    expect(Buffer.compare(Buffer.from(again!), Buffer.from(original))).toBe(0);
    expect(await store.getCode('0'.repeat(64))).toBeUndefined();
  });

  it('rejects a bad deploy with AETHER_E_INVALID_ARGUMENT and writes nothing', async () => {
    const { store } = await harness.fresh();
    const code = bytes('module');
    const bad: [string, FunctionInput, Uint8Array][] = [
      ['hash of other bytes', deploy('f', code, { hash: sha256Hex(bytes('other')) }), code],
      ['upper-case hash', deploy('f', code, { hash: sha256Hex(code).toUpperCase() }), code],
      ['wrong size', deploy('f', code, { sizeBytes: 5 }), code],
      ['name differs from id', deploy('f', code, { name: 'g' }), code],
      ['empty id', deploy('', code), code],
      ['NUL in id', deploy('a\u0000b', code), code],
      ['unknown runtime', deploy('f', code, { runtime: 'python' as 'wasm' }), code],
      ['zero memory limit', deploy('f', code, { memoryLimitMb: 0 }), code],
      ['fractional timeout', deploy('f', code, { timeoutMs: 1.5 }), code],
      ['non-string env var', deploy('f', code, { envVars: { N: 1 as unknown as string } }), code],
      ['negative scaling.min', deploy('f', code, { scaling: { min: -1 } }), code],
      ['zero scaling.max', deploy('f', code, { scaling: { max: 0 } }), code],
      ['fractional scaling.targetConcurrency', deploy('f', code, { scaling: { targetConcurrency: 1.5 } }), code],
      ['negative scaling.idleTimeoutS', deploy('f', code, { scaling: { idleTimeoutS: -1 } }), code],
      ['infinite scaling.idleTimeoutS', deploy('f', code, { scaling: { idleTimeoutS: Infinity } }), code],
      ['unknown scaling field', deploy('f', code, { scaling: { maximum: 2 } as FunctionInput['scaling'] }), code],
      ['scaling not an object', deploy('f', code, { scaling: 3 as unknown as FunctionInput['scaling'] }), code],
      ['code not bytes', deploy('f', code), 'module' as unknown as Uint8Array],
    ];
    for (const [why, input, bytesIn] of bad) {
      const err = await expectAetherError(store.putFunction(input, bytesIn, T0), 'AETHER_E_INVALID_ARGUMENT');
      expect(err.retryable, why).toBe(false);
    }
    await expectAetherError(
      store.putFunction(deploy('f', code), code, new Date(Number.NaN)),
      'AETHER_E_INVALID_ARGUMENT',
    );
    expect(await store.listFunctions()).toStrictEqual([]);
    expect(await store.getCode(sha256Hex(code))).toBeUndefined();
  });

  it('registers nodes, keeps registeredAt and stats on re-register, and takes heartbeats and stats', async () => {
    const { store } = await harness.fresh();
    expect(await store.upsertNode('edge-02', 'http://10.0.0.2:9091', T0)).toStrictEqual({
      nodeId: 'edge-02',
      url: 'http://10.0.0.2:9091',
      registeredAt: T0.toISOString(),
      lastSeenAt: T0.toISOString(),
      stats: null,
    });
    await store.upsertNode('edge-01', 'http://10.0.0.1:9091', T0);

    const stats = { inflight: 3, functions: ['a', 'b'], load: { avg1: 0.5 }, ok: true, note: null };
    expect(await store.setNodeStats('edge-02', stats)).toBe(true);
    expect(await store.setNodeStats('edge-99', stats)).toBe(false);

    const touched = await store.touchNode('edge-02', T1);
    expect(touched).toStrictEqual({
      nodeId: 'edge-02',
      url: 'http://10.0.0.2:9091',
      registeredAt: T0.toISOString(),
      lastSeenAt: T1.toISOString(),
      stats,
    });
    expect(await store.touchNode('edge-99', T1)).toBeUndefined();

    const again = await store.upsertNode('edge-02', 'http://10.0.0.22:9091', T2);
    expect(again).toStrictEqual({ ...touched, url: 'http://10.0.0.22:9091', lastSeenAt: T2.toISOString() });

    expect((await store.listNodes()).map((n) => n.nodeId)).toStrictEqual(['edge-01', 'edge-02']);
    expect((await store.listNodes())[1]).toStrictEqual(again);

    expect(await store.deleteNode('edge-01')).toBe(true);
    expect(await store.deleteNode('edge-01')).toBe(false);
    expect((await store.listNodes()).map((n) => n.nodeId)).toStrictEqual(['edge-02']);
    expect(await store.touchNode('edge-01', T2)).toBeUndefined();
  });

  it('rejects node stats that are not a JSON object, and node ids that are not ids', async () => {
    const { store } = await harness.fresh();
    await store.upsertNode('n', 'http://n', T0);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const stats of [cyclic, [1, 2], null, { big: 1n }]) {
      await expectAetherError(store.setNodeStats('n', stats as Record<string, unknown>), 'AETHER_E_INVALID_ARGUMENT');
    }
    await expectAetherError(store.upsertNode('', 'http://n', T0), 'AETHER_E_INVALID_ARGUMENT');
    await expectAetherError(store.upsertNode('m', '', T0), 'AETHER_E_INVALID_ARGUMENT');
    expect((await store.listNodes())[0]?.stats).toBeNull();
  });

  it('ends concurrent deploys of one function in one consistent record, keeping only its code', async () => {
    const { store } = await harness.fresh();
    const codes = Array.from({ length: 8 }, (_, i) => bytes(`build ${i}`));
    const results = await Promise.all(codes.map((c) => store.putFunction(deploy('racy', c), c, T0)));
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toStrictEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const final = await store.getFunction('racy');
    expect(final?.version).toBe(8);
    const winner = codes.find((c) => sha256Hex(c) === final!.hash);
    expect(winner).toBeDefined();
    expect(final).toStrictEqual(results.find((r) => r.version === 8));
    expect(await store.getCode(final!.hash)).toStrictEqual(winner);
    for (const c of codes.filter((c) => c !== winner)) expect(await store.getCode(sha256Hex(c))).toBeUndefined();
  });

  it('rejects every call after close() with AETHER_E_SHUTTING_DOWN', async () => {
    const { store } = await harness.fresh();
    await store.close();
    await expectAetherError(store.listFunctions(), 'AETHER_E_SHUTTING_DOWN');
    await expectAetherError(store.putFunction(deploy('f', bytes('x')), bytes('x'), T0), 'AETHER_E_SHUTTING_DOWN');
    await expectAetherError(store.listNodes(), 'AETHER_E_SHUTTING_DOWN');
    await store.close(); // idempotent
  });

  // Only the durable backends can reopen their data or have rows to damage.
  if (kind === 'memory') return;

  it('keeps functions, code and nodes across a restart', async () => {
    const opened = await harness.fresh();
    const code = new Uint8Array(randomBytes(4096));
    const fn = await opened.store.putFunction(deploy('durable', code, { envVars: { K: 'v' } }), code, T0);
    const scaled = await opened.store.putFunction(
      {
        ...deploy('scaled', new Uint8Array(0), { runtime: 'node', hash: '', sizeBytes: 0 }),
        scaling: { min: 1, max: 1, targetConcurrency: 1, idleTimeoutS: 1.5 },
      },
      new Uint8Array(0),
      T0,
    );
    await opened.store.upsertNode('edge-01', 'http://edge:9091', T0);
    await opened.store.setNodeStats('edge-01', { up: true });

    const { store } = await opened.reopen!();
    expect(await store.getFunction('durable')).toStrictEqual(fn);
    expect(await store.getFunction('scaled')).toStrictEqual(scaled);
    expect(scaled.scaling).toStrictEqual({ min: 1, max: 1, targetConcurrency: 1, idleTimeoutS: 1.5 });
    expect(await store.listFunctions()).toStrictEqual([fn, scaled]);
    expect(await store.getCode(fn.hash)).toStrictEqual(code);
    expect(await store.listNodes()).toStrictEqual([
      {
        nodeId: 'edge-01',
        url: 'http://edge:9091',
        registeredAt: T0.toISOString(),
        lastSeenAt: T0.toISOString(),
        stats: { up: true },
      },
    ]);
    expect((await store.putFunction(deploy('durable', code), code, T1)).version).toBe(2);
  });

  it('adds the scaling columns to a registry created before them, reading its functions as unscaled', async () => {
    const opened = await harness.fresh();
    const code = bytes('an old module');
    const old = await opened.store.putFunction(deploy('old', code, { timeoutMs: 900 }), code, T0);
    // The registry as it was before scaling: the same table without the scale_* columns.
    await opened.exec!(
      ['scale_min', 'scale_max', 'scale_target_concurrency', 'scale_idle_timeout_s']
        .map((c) => `ALTER TABLE aether_functions DROP COLUMN ${c};`)
        .join('\n'),
    );
    const { store, reopen } = await opened.reopen!();
    expect(await store.getFunction('old')).toStrictEqual({ ...old, scaling: null });
    const none = new Uint8Array(0);
    const input = { ...deploy('new', none, { runtime: 'node', hash: '', sizeBytes: 0 }), scaling: { max: 2 } };
    expect((await store.putFunction(input, none, T1)).scaling).toStrictEqual({ max: 2 });
    // Opening an up-to-date registry again changes nothing.
    const again = await reopen!();
    expect((await again.store.getFunction('new'))?.scaling).toStrictEqual({ max: 2 });
    expect(await again.store.getFunction('old')).toStrictEqual(old);
  });

  it('reports a damaged row or code as AETHER_E_STORE_CORRUPT', async () => {
    const { store, exec } = await harness.fresh();
    const code = bytes('intact module');
    const fn = await store.putFunction(deploy('bad', code), code, T0);
    await store.putFunction(deploy('good', bytes('g')), bytes('g'), T0);

    await exec!(`UPDATE aether_function_code SET code = substr(code, 2) WHERE hash = '${fn.hash}'`);
    await expectAetherError(store.getCode(fn.hash), 'AETHER_E_STORE_CORRUPT');
    // A redeploy of the same bytes repairs the content-addressed row.
    await store.putFunction(deploy('bad', code), code, T1);
    expect(await store.getCode(fn.hash)).toStrictEqual(code);

    await exec!(`UPDATE aether_functions SET scale_max = 0 WHERE id = 'good'`);
    const zeroMax = await expectAetherError(store.getFunction('good'), 'AETHER_E_STORE_CORRUPT');
    expect(zeroMax.details).toMatchObject({ table: 'aether_functions', key: 'good', field: 'scale_max' });
    await exec!(`UPDATE aether_functions SET scale_max = NULL WHERE id = 'good'`);

    await exec!(`UPDATE aether_functions SET runtime = 'python' WHERE id = 'bad'`);
    const err = await expectAetherError(store.getFunction('bad'), 'AETHER_E_STORE_CORRUPT');
    expect(err.details).toMatchObject({ table: 'aether_functions', key: 'bad', field: 'runtime' });
    await expectAetherError(store.listFunctions(), 'AETHER_E_STORE_CORRUPT');
    expect((await store.getFunction('good'))?.name).toBe('good');

    await store.upsertNode('n', 'http://n', T0);
    await exec!(`UPDATE aether_edge_nodes SET stats = '[1]' WHERE node_id = 'n'`);
    await expectAetherError(store.listNodes(), 'AETHER_E_STORE_CORRUPT');
  });
});

describe('SQLite function store on the workflow store connection', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'aether-fn-shared-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function workflow(id: string): WorkflowRecord {
    return {
      id,
      type: 'order',
      state: 'PENDING',
      input: '[]',
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_000,
      attempts: 0,
      version: 1,
    };
  }

  it('leaves the workflow store working, before and after the registry closes', async () => {
    const spec = { db: path.join(dir, 'shared.db'), persistence: 'state-action-log' } as const;
    const workflows = await openStore(spec);
    const functions = await openFunctionStore(workflows, spec);
    const code = bytes('module');
    await functions.putFunction(deploy('f', code), code, T0);

    await workflows.apply([{ type: 'workflow.put', workflow: workflow('wf-1') }]);
    expect(await workflows.getWorkflow('wf-1')).toStrictEqual(workflow('wf-1'));
    await workflows.addWorkflowTypes(['order']);

    await functions.close(); // must not close the shared connection
    await workflows.apply([{ type: 'workflow.put', workflow: workflow('wf-2') }]);
    expect((await workflows.listWorkflows({})).items.map((w) => w.id)).toStrictEqual(['wf-2', 'wf-1']);
    await workflows.close();

    // The file, with the registry's tables in it, still opens as a workflow store.
    const reopened = await openStore(spec);
    const registry = await openFunctionStore(reopened, spec);
    expect(await reopened.listWorkflowTypes()).toStrictEqual(['order']);
    expect((await registry.getFunction('f'))?.version).toBe(1);
    await reopened.close();
    // The workflow store owns the connection: once it is closed, so is the registry.
    await expectAetherError(registry.listFunctions(), 'AETHER_E_SHUTTING_DOWN');
  });
});

describe('openFunctionStore', () => {
  let dir = '';
  let workflows: WorkflowStore | undefined;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'aether-fn-open-'));
  });
  afterEach(async () => {
    await workflows?.close();
    workflows = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('opens a memory store for the memory tier, ignoring db', async () => {
    const store = await openFunctionStore(createMemoryStore(), { persistence: 'memory', db: path.join(dir, 'x.db') });
    expect(store.kind).toBe('memory');
    await store.close();
  });

  it('refuses SQLite when the workflow store is not an open SQLite store, instead of falling back', async () => {
    const spec = { persistence: 'snapshot', db: path.join(dir, 'y.db') } as const;
    await expectAetherError(openFunctionStore(createMemoryStore(), spec), 'AETHER_E_CONFIG_INVALID');
    workflows = await openStore(spec);
    await workflows.close();
    await expectAetherError(openFunctionStore(workflows, spec), 'AETHER_E_CONFIG_INVALID');
  });

  it('rejects an unknown persistence tier', async () => {
    await expectAetherError(
      openFunctionStore(createMemoryStore(), { persistence: 'disk' as 'snapshot' }),
      'AETHER_E_CONFIG_INVALID',
    );
  });

  it('opens PostgreSQL for postgres:// and postgresql:// URLs', async () => {
    // Nothing listens on port 1: reaching the PostgreSQL store is enough to prove the choice.
    for (const db of ['postgres://u@127.0.0.1:1/db', 'postgresql://u@127.0.0.1:1/db']) {
      const err = await expectAetherError(
        openFunctionStore(createMemoryStore(), { persistence: 'snapshot', db }),
        'AETHER_E_STORE_UNAVAILABLE',
      );
      expect(err.message).toContain('PostgreSQL');
    }
  });
});

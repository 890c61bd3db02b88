/**
 * Node functions (seed 001): created with a name and env vars, given code as
 * a zip (each upload an immutable version, content-addressed in the code
 * store), invoked through the gateway. Each function has one live version
 * pool; an upload or a change starts the new version's first instance and
 * only then moves traffic to it, while the old version drains — so a rollout
 * under load fails no request, and code that cannot start never replaces
 * code that can (the upload answers with the start error instead).
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { aetherError } from '@aether/core';
import type { CodeCache, CodeStore } from '../code/code-store.js';
import type { ProcessInstance } from '../process/instance.js';
import type { FunctionContext } from '../process/process-function.js';
import type { FunctionRecord, FunctionScaling, FunctionStore } from '../registry/types.js';
import { checkScaling, effectiveScaling } from './function-scaling.js';
import { RequestPool, type PoolScaling, type Slot } from './request-pool.js';

/** The runner every node-function instance executes (plain JS, no build step). */
export const NODE_RUNNER = fileURLToPath(new URL('../../src/node-runtime/runner.mjs', import.meta.url));

/** Defaults of node functions (from aether.toml `[functions]`). */
export interface NodeFunctionDefaults {
  memoryLimitMb: number;
  timeoutMs: number;
  scaling: PoolScaling;
  /** Requests that may wait for an instance, per function. */
  maxQueue: number;
  /** Instances run under bubblewrap unless this is 'none'. */
  isolation: 'sandbox' | 'none';
}

/** What a create or a change may set. */
export interface NodeFunctionChange {
  envVars?: Record<string, string> | undefined;
  memoryLimitMb?: number | null | undefined;
  timeoutMs?: number | null | undefined;
  /** Replaces the function's scaling overrides; null returns to the node's defaults. */
  scaling?: FunctionScaling | null | undefined;
}

/** Per-function numbers for the API and the metrics. */
export interface NodeFunctionStats {
  id: string;
  version: number;
  instances: ReturnType<RequestPool['status']>['instances'];
  starting: number;
  queued: number;
  coldStarts: number;
}

/** The node functions of a node. */
export interface NodeFunctions {
  start(): Promise<void>;
  create(name: string, change: NodeFunctionChange): Promise<FunctionRecord>;
  /** Stores the zip as a new version and rolls it out. @throws the new version's start error (nothing changes) */
  upload(id: string, zip: Uint8Array): Promise<FunctionRecord>;
  update(id: string, change: NodeFunctionChange): Promise<FunctionRecord>;
  delete(id: string): Promise<FunctionRecord>;
  get(id: string): FunctionRecord | undefined;
  list(): FunctionRecord[];
  /** A slot on an instance of the live version. @throws AETHER_E_FN_NOT_FOUND, AETHER_E_FN_NO_CODE, AETHER_E_FN_OVERLOADED */
  acquire(id: string): Promise<Slot>;
  /** A slot when the function's live version has an instance with room now, else null (then call acquire). */
  tryAcquire(id: string, prefer?: ProcessInstance): Slot | null;
  /** True when `id` is a node function with code (the gateway relay takes its requests). */
  servable(id: string): boolean;
  /** The effective timeout of a function's requests. */
  timeoutMs(id: string): number;
  /** The effective scaling of a function: its overrides over the node's defaults. */
  scaling(id: string): PoolScaling;
  stats(): NodeFunctionStats[];
  close(): Promise<void>;
}

/** Collaborators of createNodeFunctions. */
export interface NodeFunctionsOptions {
  store: FunctionStore;
  code: CodeStore;
  cache: CodeCache;
  ctx: FunctionContext;
  defaults: NodeFunctionDefaults;
  onColdStart?: ((functionId: string, ms: number) => void) | undefined;
  now?: () => Date;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Creates the node-function service; start() loads the registry.
 * @example
 * const fns = createNodeFunctions({ store, code, cache, ctx: orchestrator.context, defaults });
 * await fns.start();
 * const f = await fns.create('hello', { envVars: { SECRET: '123' } });
 * await fns.upload(f.id, zipBytes);
 */
export function createNodeFunctions(options: NodeFunctionsOptions): NodeFunctions {
  const { store, code, cache, ctx, defaults } = options;
  const now = options.now ?? (() => new Date());
  const records = new Map<string, FunctionRecord>();
  const pools = new Map<string, RequestPool>();
  /** Functions whose stored version could not be loaded at start, with why. */
  const broken = new Map<string, Error>();
  if (defaults.isolation === 'sandbox' && ctx.bwrap === null) {
    ctx.log.event('-', 'node functions run without a sandbox: bubblewrap is not installed');
  }
  const tick = setInterval(() => {
    for (const p of pools.values()) p.tick();
  }, 250);
  tick.unref();

  const require = (id: string): FunctionRecord => {
    const r = records.get(id);
    if (r === undefined)
      throw aetherError('AETHER_E_FN_NOT_FOUND', `no node function ${JSON.stringify(id)}`, { function: id });
    return r;
  };

  const poolFor = async (record: FunctionRecord): Promise<RequestPool> => {
    const dir = await cache.dirFor(record.hash);
    const sandbox = defaults.isolation === 'sandbox';
    if (sandbox && ctx.bwrap === null) {
      throw aetherError(
        'AETHER_E_SANDBOX_UNAVAILABLE',
        `${record.id}: node functions run under bubblewrap, which is not installed`,
      );
    }
    return new RequestPool({
      functionId: record.id,
      version: record.version,
      command: process.execPath,
      // handler.js without a package.json "type" is CommonJS, or ESM when it uses ESM syntax (Node 22's default).
      args: ['--experimental-detect-module', NODE_RUNNER, dir],
      cwd: dir,
      readOnly: [dir, path.dirname(NODE_RUNNER)],
      env: record.envVars,
      memoryLimitMb: record.memoryLimitMb ?? defaults.memoryLimitMb,
      timeoutMs: record.timeoutMs ?? defaults.timeoutMs,
      scaling: effectiveScaling(record.scaling, defaults.scaling),
      sandbox,
      maxQueue: defaults.maxQueue,
      ctx,
      onColdStart: (ms) => options.onColdStart?.(record.id, ms),
    });
  };

  /** Writes `next` after its first instance is ready, then moves traffic and drains the old version. */
  const rollOut = async (next: FunctionRecord, write: () => Promise<FunctionRecord>): Promise<FunctionRecord> => {
    if (next.hash === '') {
      const stored = await write();
      records.set(stored.id, stored);
      return stored;
    }
    const pool = await poolFor(next);
    try {
      await pool.warm();
      if (pool.readyCount === 0) await pool.acquire().then((s) => s.release());
    } catch (err) {
      await pool.close(0);
      throw err;
    }
    let stored: FunctionRecord;
    try {
      stored = await write();
    } catch (err) {
      await pool.close(0);
      throw err;
    }
    records.set(stored.id, stored);
    broken.delete(stored.id);
    const old = pools.get(stored.id);
    pools.set(stored.id, pool);
    if (old !== undefined) void old.close(old.options.timeoutMs);
    return stored;
  };

  const checkChange = (change: NodeFunctionChange): void => {
    if (change.scaling !== undefined) checkScaling(change.scaling, defaults.scaling);
    if (change.envVars !== undefined) {
      for (const [k, v] of Object.entries(change.envVars)) {
        if (k === '' || k.includes('=') || k.includes('\0') || typeof v !== 'string' || v.includes('\0')) {
          throw aetherError(
            'AETHER_E_FN_INVALID',
            `env_vars: ${JSON.stringify(k)} is not a valid variable (a name without "=" and a string value)`,
          );
        }
      }
    }
  };

  return {
    async start() {
      for (const r of await store.listFunctions()) if (r.runtime === 'node') records.set(r.id, r);
      // Versions with code start on their first request (min instances start now). A version whose
      // code cannot be unpacked (e.g. the code directory was removed) does not stop the node: its
      // requests get the error instead.
      await Promise.all(
        [...records.values()]
          .filter((r) => r.hash !== '')
          .map(async (r) => {
            try {
              const pool = await poolFor(r);
              pools.set(r.id, pool);
              await pool.warm().catch(() => {});
            } catch (err) {
              broken.set(r.id, err as Error);
              ctx.log.event(r.id, `version ${r.version} cannot be served: ${(err as Error).message}`);
            }
          }),
      );
    },

    async create(name, change) {
      if (typeof name !== 'string' || !NAME.test(name)) {
        throw aetherError(
          'AETHER_E_FN_INVALID',
          'name must be 1-64 letters, digits, "_", "-" or "." starting with a letter or digit',
        );
      }
      checkChange(change);
      if ((await store.getFunction(name)) !== undefined) {
        throw aetherError('AETHER_E_FN_EXISTS', `a function named ${name} exists`, { function: name });
      }
      const record = await store.putFunction(
        {
          id: name,
          name,
          runtime: 'node',
          hash: '',
          sizeBytes: 0,
          memoryLimitMb: change.memoryLimitMb ?? null,
          timeoutMs: change.timeoutMs ?? null,
          scaling: change.scaling ?? null,
          envVars: change.envVars ?? {},
        },
        new Uint8Array(0),
        now(),
      );
      records.set(record.id, record);
      return record;
    },

    async upload(id, zip) {
      const record = require(id);
      const { hash, sizeBytes } = await code.put(zip);
      const next: FunctionRecord = { ...record, hash, sizeBytes, version: record.version + 1 };
      return rollOut(next, () => store.putFunction({ ...record, hash, sizeBytes }, new Uint8Array(0), now()));
    },

    async update(id, change) {
      const record = require(id);
      checkChange(change);
      const input = {
        ...record,
        envVars: change.envVars ?? record.envVars,
        memoryLimitMb: change.memoryLimitMb === undefined ? record.memoryLimitMb : change.memoryLimitMb,
        timeoutMs: change.timeoutMs === undefined ? record.timeoutMs : change.timeoutMs,
        scaling: change.scaling === undefined ? record.scaling : change.scaling,
      };
      return rollOut({ ...input, version: record.version + 1 }, () =>
        store.putFunction(input, new Uint8Array(0), now()),
      );
    },

    async delete(id) {
      const record = require(id);
      await store.deleteFunction(id);
      records.delete(id);
      const pool = pools.get(id);
      pools.delete(id);
      await pool?.close(0);
      return record;
    },

    get: (id) => records.get(id),
    list: () => [...records.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),

    async acquire(id) {
      const record = require(id);
      const pool = pools.get(id);
      const failure = broken.get(id);
      if (pool === undefined && failure !== undefined) throw failure;
      if (record.hash === '' || pool === undefined) {
        throw aetherError('AETHER_E_FN_NO_CODE', `${id} has no code yet`, { function: id });
      }
      return pool.acquire();
    },

    tryAcquire: (id, prefer) => pools.get(id)?.tryAcquire(prefer) ?? null,

    servable: (id) => {
      const r = records.get(id);
      return r !== undefined && r.hash !== '';
    },

    timeoutMs: (id) => records.get(id)?.timeoutMs ?? defaults.timeoutMs,

    scaling: (id) => effectiveScaling(require(id).scaling, defaults.scaling),

    stats: () =>
      [...records.values()].map((r) => {
        const s = pools.get(r.id)?.status();
        return {
          id: r.id,
          version: r.version,
          instances: s?.instances ?? [],
          starting: s?.starting ?? 0,
          queued: s?.queued ?? 0,
          coldStarts: s?.coldStarts ?? 0,
        };
      }),

    async close() {
      clearInterval(tick);
      await Promise.all([...pools.values()].map((p) => p.close(2000)));
      pools.clear();
    },
  };
}

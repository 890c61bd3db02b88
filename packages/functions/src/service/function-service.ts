/**
 * The function registry as the HTTP API sees it: deploy (check, compile,
 * store), look up, list, delete and execute WASM functions. Records are kept
 * in memory in front of the store (this node is the only writer), so an
 * execute costs no store round trip; code is read from the store only on a
 * compiled-module cache miss.
 */
import { createHash } from 'node:crypto';
import { aetherError } from '@aether/core';
import { sha256Hex } from '../registry/records.js';
import type { FunctionRecord, FunctionStore } from '../registry/types.js';
import type { WasmExecution, WasmRuntime } from '../wasm/wasm-runtime.js';
import type { DeployRequest } from './deploy-request.js';

const MIB = 1024 * 1024;

/** What `createFunctionService` needs. */
export interface FunctionServiceOptions {
  store: FunctionStore;
  runtime: WasmRuntime;
  /** Node-wide defaults for functions that set no limits of their own. */
  defaults: { timeoutMs: number; memoryLimitBytes: number };
  /** @default () => new Date() */
  now?: (() => Date) | undefined;
}

/** A change of the registry, for edge notifications and the dashboard. */
export type RegistryChange = { type: 'deployed'; record: FunctionRecord } | { type: 'deleted'; record: FunctionRecord };

/** The function registry and the local WASM executor of a node. */
export interface FunctionService {
  /** Loads the records from the store; call once before use. */
  start(): Promise<void>;
  /**
   * Compiles the module (warming the cache, rejecting bad modules with their
   * codes) and stores the function and its code; a redeploy makes a new version.
   */
  deploy(request: DeployRequest): Promise<FunctionRecord>;
  /** A function by id (= name). */
  get(id: string): FunctionRecord | undefined;
  /**
   * A function by id (= name).
   * @throws AetherError AETHER_E_FN_NOT_FOUND
   */
  require(id: string): FunctionRecord;
  /** Every function, by name. */
  list(): FunctionRecord[];
  /**
   * Deletes a function (and its code when no other function shares it).
   * @throws AetherError AETHER_E_FN_NOT_FOUND
   */
  delete(id: string): Promise<FunctionRecord>;
  /**
   * The module bytes of a function, checked against the recorded hash.
   * @throws AetherError AETHER_E_FN_NOT_FOUND, AETHER_E_STORE_CORRUPT
   */
  code(id: string): Promise<{ record: FunctionRecord; bytes: Uint8Array }>;
  /**
   * Runs a function here, with its limits or the node's defaults.
   * @throws AetherError AETHER_E_FN_NOT_FOUND and the runtime's AETHER_E_WASM_* errors
   */
  execute(name: string, input: unknown): Promise<WasmExecution>;
  /**
   * A digest of every (id, hash, version): edge nodes compare it with theirs
   * to notice deploys they missed while unreachable.
   */
  etag(): string;
  /** The WASM runtime's cache and worker-pool counters. */
  runtimeStats(): ReturnType<WasmRuntime['stats']>;
  /** Subscribes to registry changes; returns the unsubscribe function. */
  onChange(listener: (change: RegistryChange) => void): () => void;
}

/** The limits a function runs with: its own, else the node's defaults. */
export function effectiveLimits(
  record: Pick<FunctionRecord, 'timeoutMs' | 'memoryLimitMb'>,
  defaults: { timeoutMs: number; memoryLimitBytes: number },
): { timeoutMs: number; memoryLimitBytes: number } {
  return {
    timeoutMs: record.timeoutMs ?? defaults.timeoutMs,
    memoryLimitBytes: record.memoryLimitMb !== null ? record.memoryLimitMb * MIB : defaults.memoryLimitBytes,
  };
}

/**
 * Creates the function service of a node.
 * @example
 * const functions = createFunctionService({ store, runtime, defaults: { timeoutMs: 3000, memoryLimitBytes: 16 << 20 } });
 * await functions.start();
 * await functions.deploy(parseDeployRequest(body, 10 << 20));
 * const { output } = await functions.execute('hello_world', { msg: 'hi' });
 */
export function createFunctionService(options: FunctionServiceOptions): FunctionService {
  const { store, runtime, defaults } = options;
  const now = options.now ?? (() => new Date());
  const records = new Map<string, FunctionRecord>();
  const listeners = new Set<(change: RegistryChange) => void>();
  let currentEtag = '';

  const recomputeEtag = (): void => {
    const h = createHash('sha256');
    for (const r of [...records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      h.update(`${r.id}\0${r.hash}\0${r.version}\n`);
    }
    currentEtag = h.digest('hex').slice(0, 32);
  };
  const emit = (change: RegistryChange): void => {
    for (const listener of listeners) listener(change);
  };
  const require = (id: string): FunctionRecord => {
    const record = records.get(id);
    if (record === undefined) {
      throw aetherError('AETHER_E_FN_NOT_FOUND', `no function named "${id}" is deployed`, { function: id });
    }
    return record;
  };
  const loadCode = async (record: FunctionRecord): Promise<Uint8Array> => {
    const bytes = await store.getCode(record.hash);
    if (bytes === undefined || sha256Hex(bytes) !== record.hash) {
      throw aetherError(
        'AETHER_E_STORE_CORRUPT',
        `the stored code of function "${record.id}" is ${bytes === undefined ? 'missing' : 'not the deployed module (hash mismatch)'}: deploy it again`,
        { function: record.id, hash: record.hash },
      );
    }
    return bytes;
  };

  return {
    async start() {
      records.clear();
      // Node functions share the registry; they are served by the gateway, not by this service.
      for (const record of await store.listFunctions()) if (record.runtime === 'wasm') records.set(record.id, record);
      recomputeEtag();
    },

    async deploy(request) {
      const limits = effectiveLimits(request, defaults);
      const existing = await store.getFunction(request.name);
      if (existing !== undefined && existing.runtime !== 'wasm') {
        throw aetherError('AETHER_E_FN_EXISTS', `a ${existing.runtime} function named ${request.name} exists`, {
          function: request.name,
        });
      }
      const prepared = await runtime.prepare(request.code, { memoryLimitBytes: limits.memoryLimitBytes });
      const record = await store.putFunction(
        {
          id: request.name,
          name: request.name,
          runtime: 'wasm',
          hash: prepared.hash,
          sizeBytes: prepared.sizeBytes,
          memoryLimitMb: request.memoryLimitMb,
          timeoutMs: request.timeoutMs,
          // WASM functions run on the node's shared worker pool: nothing to scale per function.
          scaling: null,
          envVars: request.envVars,
        },
        request.code,
        now(),
      );
      records.set(record.id, record);
      recomputeEtag();
      emit({ type: 'deployed', record });
      return record;
    },

    get: (id) => records.get(id),
    require,
    list: () => [...records.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),

    async delete(id) {
      const record = require(id);
      await store.deleteFunction(id);
      records.delete(id);
      if (![...records.values()].some((r) => r.hash === record.hash)) runtime.evict(record.hash);
      recomputeEtag();
      emit({ type: 'deleted', record });
      return record;
    },

    async code(id) {
      const record = require(id);
      return { record, bytes: await loadCode(record) };
    },

    async execute(name, input) {
      const record = require(name);
      const limits = effectiveLimits(record, defaults);
      return await runtime.execute({
        name: record.name,
        hash: record.hash,
        loadCode: () => loadCode(record),
        input,
        timeoutMs: limits.timeoutMs,
        memoryLimitBytes: limits.memoryLimitBytes,
        env: record.envVars,
      });
    },

    etag: () => currentEtag,
    runtimeStats: () => runtime.stats(),

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

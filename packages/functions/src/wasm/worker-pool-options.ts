/**
 * The options of the worker pool (worker-pool.ts), their defaults and their
 * checks, and the logger it writes to.
 */
import { availableParallelism } from 'node:os';
import { aetherError } from '@aether/core';
import { DEFAULT_WASM_TRANSPORT, type WasmTransport } from './worker-protocol.js';

/** Minimal structured logger (pino-compatible subset). */
export interface WasmLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface WorkerPoolOptions {
  /** Worker threads. @default os.availableParallelism() */
  size?: number | undefined;
  /** Requests waiting beyond the busy workers before new ones fail with AETHER_E_FN_OVERLOADED. @default 256 */
  maxQueue?: number | undefined;
  /** @default DEFAULT_WASM_TRANSPORT ('message') */
  transport?: WasmTransport | undefined;
  /** Largest stdin, sizes the request ring. @default 1 MiB */
  maxInputBytes?: number | undefined;
  /** Largest stdout + stderr of one run, sizes the response ring. @default 1 MiB */
  maxOutputBytes?: number | undefined;
  /** Modules a worker keeps before the least recently used is evicted. @default 100 */
  maxModulesPerWorker?: number | undefined;
  /** The worker's main. @default dist/wasm/worker-entry.js beside this file */
  workerUrl?: URL | undefined;
  /** @default a silent logger */
  logger?: WasmLogger | undefined;
}

export interface ResolvedWorkerPoolOptions {
  size: number;
  maxQueue: number;
  transport: WasmTransport;
  maxInputBytes: number;
  maxOutputBytes: number;
  maxModulesPerWorker: number;
  workerUrl: URL;
  logger: WasmLogger;
}

/** A logger that drops everything: the default of the pool and the runtime. */
export const silentLogger: WasmLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** The compiled worker: tests run this file from TypeScript sources, the worker from dist. */
function defaultWorkerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/wasm/worker-entry.js', import.meta.url)
    : new URL('./worker-entry.js', import.meta.url);
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw aetherError('AETHER_E_CONFIG_INVALID', `${name} must be a positive integer, got ${value}`, { [name]: value });
  }
  return value;
}

/** Fills defaults and checks values. */
export function resolveWorkerPoolOptions(options: WorkerPoolOptions = {}): ResolvedWorkerPoolOptions {
  const maxQueue = options.maxQueue ?? 256;
  if (!Number.isInteger(maxQueue) || maxQueue < 0) {
    throw aetherError('AETHER_E_CONFIG_INVALID', `maxQueue must be a non-negative integer, got ${maxQueue}`, {
      maxQueue,
    });
  }
  return {
    size: positiveInt('workers', options.size ?? availableParallelism()),
    maxQueue,
    transport: options.transport ?? DEFAULT_WASM_TRANSPORT,
    maxInputBytes: positiveInt('maxInputBytes', options.maxInputBytes ?? 1024 * 1024),
    maxOutputBytes: positiveInt('maxOutputBytes', options.maxOutputBytes ?? 1024 * 1024),
    maxModulesPerWorker: positiveInt('maxModulesPerWorker', options.maxModulesPerWorker ?? 100),
    workerUrl: options.workerUrl ?? defaultWorkerUrl(),
    logger: options.logger ?? silentLogger,
  };
}

/**
 * Engine options and their defaults: `EngineOptions` -> `resolveEngineOptions`
 * -> `ResolvedEngineOptions`. Collaborators (store, clock, logger, ids) are
 * passed in, never module singletons.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowStore } from '../store/types.js';
import type { PersistenceMode } from './types.js';

/** Time source and timers, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Minimal structured logger (pino-compatible subset). */
export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EngineOptions {
  /** Where workflows live. For `memory` persistence pass a memory store. */
  store: WorkflowStore;
  /** Persistence tier. @default 'state-action-log' */
  persistence?: PersistenceMode | undefined;
  /** Snapshot tier: how often dirty state is written to the store. @default 1000 */
  snapshotIntervalMs?: number | undefined;
  /** A worker silent for this long loses its workflows. @default 10000 */
  leaseMs?: number | undefined;
  /** Largest input, step result or workflow result in bytes. @default 2097152 */
  maxPayloadBytes?: number | undefined;
  /** @default the system clock */
  clock?: Clock | undefined;
  /** @default a silent logger */
  logger?: EngineLogger | undefined;
  /** Workflow id generator. @default crypto.randomUUID */
  newId?: (() => string) | undefined;
}

export interface ResolvedEngineOptions {
  store: WorkflowStore;
  persistence: PersistenceMode;
  snapshotIntervalMs: number;
  leaseMs: number;
  heartbeatIntervalMs: number;
  maxPayloadBytes: number;
  clock: Clock;
  logger: EngineLogger;
  newId: () => string;
}

/** The system clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

const silentLogger: EngineLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** Fills defaults. */
export function resolveEngineOptions(options: EngineOptions): ResolvedEngineOptions {
  const leaseMs = options.leaseMs ?? 10_000;
  return {
    store: options.store,
    persistence: options.persistence ?? 'state-action-log',
    snapshotIntervalMs: options.snapshotIntervalMs ?? 1000,
    leaseMs,
    heartbeatIntervalMs: Math.max(50, Math.floor(leaseMs / 3)),
    maxPayloadBytes: options.maxPayloadBytes ?? 2 * 1024 * 1024,
    clock: options.clock ?? systemClock,
    logger: options.logger ?? silentLogger,
    newId: options.newId ?? randomUUID,
  };
}

/**
 * zod pieces shared by the config files (aether.toml, the edge node's file):
 * ports, counts, strings, and the WASM runtime limits of `[functions]` /
 * seed 002's `[runtime]` with their resolution to defaults.
 */
import { z } from 'zod';
import { durationSchema, sizeSchema } from './units.js';

/** A TCP port. */
export const portSchema = z
  .number({ error: 'must be a port number (0-65535)' })
  .int('must be a whole port number (0-65535)')
  .min(0, 'must be a port number (0-65535)')
  .max(65535, 'must be a port number (0-65535)');

/** A whole number above zero. */
export const positiveIntSchema = z
  .number({ error: 'must be a positive whole number' })
  .int('must be a positive whole number')
  .positive('must be a positive whole number');

/** A string that is not empty. */
export const nonEmptyStringSchema = z.string({ error: 'must be a string' }).min(1, 'must not be empty');

/** How requests and responses travel between the main thread and WASM worker threads. */
export const WASM_TRANSPORTS = ['shared-memory', 'message'] as const;

/** Defaults of the WASM runtime limits. */
export const FUNCTIONS_CONFIG_DEFAULTS = {
  execTimeoutMs: 3000,
  memoryLimitBytes: 16 * 1024 * 1024,
  cacheSize: 100,
  maxModuleBytes: 10 * 1024 * 1024,
  maxQueue: 256,
} as const;

/** Seed 002's `[runtime]` keys, the WASM limits every function gets unless it sets its own. */
const runtimeKeys = {
  exec_timeout: durationSchema.optional(),
  memory_limit: sizeSchema.optional(),
  cache_size: positiveIntSchema.optional(),
};

/** Seed 002's `[runtime]` section. */
export const runtimeSectionSchema = z.strictObject(runtimeKeys);

/** Defaults of node functions (seed 001), `[functions.node]`. */
export const NODE_FUNCTIONS_CONFIG_DEFAULTS = {
  memoryLimitBytes: 256 * 1024 * 1024,
  timeoutMs: 30_000,
  minInstances: 0,
  maxInstances: 4,
  targetConcurrency: 100,
  idleTimeoutMs: 60_000,
  maxWaiting: 1000,
  isolation: 'sandbox',
  maxZipBytes: 64 * 1024 * 1024,
} as const;

/** `[functions.node]`: limits, scaling and isolation of node functions. */
const nodeFunctionsSchema = z
  .strictObject({
    memory_limit: sizeSchema.optional(),
    timeout: durationSchema.optional(),
    min_instances: z
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(0, 'must not be negative')
      .optional(),
    max_instances: positiveIntSchema.optional(),
    target_concurrency: positiveIntSchema.optional(),
    idle_timeout: durationSchema.optional(),
    max_waiting: positiveIntSchema.optional(),
    isolation: z.enum(['sandbox', 'none'], { error: 'must be "sandbox" or "none"' }).optional(),
    max_zip_size: sizeSchema.optional(),
  })
  .superRefine((n, ctx) => {
    const min = n.min_instances ?? NODE_FUNCTIONS_CONFIG_DEFAULTS.minInstances;
    const max = n.max_instances ?? NODE_FUNCTIONS_CONFIG_DEFAULTS.maxInstances;
    if (min > max) {
      ctx.addIssue({ code: 'custom', path: ['min_instances'], message: `must not be above max_instances (${max})` });
    }
  });

/** Aether's `[functions]` section: seed 002's `[runtime]` keys plus pool settings, and `[functions.node]`. */
export const functionsSectionSchema = z.strictObject({
  ...runtimeKeys,
  max_module_size: sizeSchema.optional(),
  workers: positiveIntSchema.optional(),
  transport: z.enum(WASM_TRANSPORTS, { error: 'must be "shared-memory" or "message"' }).optional(),
  max_queue: positiveIntSchema.optional(),
  node: nodeFunctionsSchema.optional(),
});

/** Node functions' settings with every default filled in. */
export interface ResolvedNodeFunctionsConfig {
  /** Memory of one instance (its cgroup limit), unless the function sets memory_limit_mb. @default "256MB" */
  memoryLimitBytes: number;
  /** Request timeout, unless the function sets timeout_ms. @default "30s" */
  timeoutMs: number;
  /** Instances kept running per function. @default 0 */
  minInstances: number;
  /** @default 4 */
  maxInstances: number;
  /** Requests one instance takes before more start. @default 16 */
  targetConcurrency: number;
  /** Idle time before an extra instance stops. @default "60s" */
  idleTimeoutMs: number;
  /** Requests that may wait for an instance, per function; beyond, 503 with Retry-After. @default 1000 */
  maxWaiting: number;
  /** @default "sandbox" (bubblewrap) */
  isolation: 'sandbox' | 'none';
  /** Largest zip accepted by POST /api/functions/{id}/code. @default "64MB" */
  maxZipBytes: number;
}

/** WASM runtime limits and pool settings with every default filled in. */
export interface ResolvedFunctionsConfig {
  /** Time a function may run before it is stopped. @default 3000 ("3s") */
  execTimeoutMs: number;
  /** Memory a WASM function may grow to. @default 16777216 ("16MB") */
  memoryLimitBytes: number;
  /** Compiled modules kept in the LRU cache. @default 100 */
  cacheSize: number;
  /** Largest module accepted on deploy. @default 10485760 ("10MB") */
  maxModuleBytes: number;
  /** Worker threads running WASM. @default the number of CPUs */
  workers?: number | undefined;
  /** Main thread <-> worker transport. @default the runtime's measured winner */
  transport?: (typeof WASM_TRANSPORTS)[number] | undefined;
  /** Requests waiting for a busy pool before new ones get 503. @default 256 */
  maxQueue: number;
  /** `[functions.node]`. */
  node: ResolvedNodeFunctionsConfig;
}

/** Merges `[functions]` and seed 002's `[runtime]` (one of them at most sets a key) over the defaults. */
export function resolveFunctionsConfig(
  functions: z.output<typeof functionsSectionSchema>,
  runtime: z.output<typeof runtimeSectionSchema> | undefined,
): ResolvedFunctionsConfig {
  const d = FUNCTIONS_CONFIG_DEFAULTS;
  return {
    execTimeoutMs: functions.exec_timeout ?? runtime?.exec_timeout ?? d.execTimeoutMs,
    memoryLimitBytes: functions.memory_limit ?? runtime?.memory_limit ?? d.memoryLimitBytes,
    cacheSize: functions.cache_size ?? runtime?.cache_size ?? d.cacheSize,
    maxModuleBytes: functions.max_module_size ?? d.maxModuleBytes,
    workers: functions.workers,
    transport: functions.transport,
    maxQueue: functions.max_queue ?? d.maxQueue,
    node: resolveNodeFunctions(functions.node ?? {}),
  };
}

function resolveNodeFunctions(n: z.output<typeof nodeFunctionsSchema>): ResolvedNodeFunctionsConfig {
  const d = NODE_FUNCTIONS_CONFIG_DEFAULTS;
  return {
    memoryLimitBytes: n.memory_limit ?? d.memoryLimitBytes,
    timeoutMs: n.timeout ?? d.timeoutMs,
    minInstances: n.min_instances ?? d.minInstances,
    maxInstances: n.max_instances ?? d.maxInstances,
    targetConcurrency: n.target_concurrency ?? d.targetConcurrency,
    idleTimeoutMs: n.idle_timeout ?? d.idleTimeoutMs,
    maxWaiting: n.max_waiting ?? d.maxWaiting,
    isolation: n.isolation ?? d.isolation,
    maxZipBytes: n.max_zip_size ?? d.maxZipBytes,
  };
}

/** Reports keys set both in `[functions]` and in `[runtime]`. */
export function checkRuntimeClash(
  functions: z.output<typeof functionsSectionSchema>,
  runtime: z.output<typeof runtimeSectionSchema> | undefined,
  ctx: z.RefinementCtx,
): void {
  for (const key of ['exec_timeout', 'memory_limit', 'cache_size'] as const) {
    if (runtime?.[key] !== undefined && functions[key] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['runtime', key],
        message: `is the same setting as functions.${key}: set only one`,
      });
    }
  }
}

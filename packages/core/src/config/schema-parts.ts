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

/** Aether's `[functions]` section: seed 002's `[runtime]` keys plus pool settings. */
export const functionsSectionSchema = z.strictObject({
  ...runtimeKeys,
  max_module_size: sizeSchema.optional(),
  workers: positiveIntSchema.optional(),
  transport: z.enum(WASM_TRANSPORTS, { error: 'must be "shared-memory" or "message"' }).optional(),
  max_queue: positiveIntSchema.optional(),
});

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

/**
 * Durations ("3s", "500ms", "1m") and sizes ("16MB", "512KB") as written in
 * config files (seed 002 writes `exec_timeout = "3s"`, `memory_limit = "16MB"`),
 * as zod schemas so errors keep naming the file, line and key.
 */
import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
// Sizes are binary: "16MB" of WASM memory is 256 pages of 64 KiB.
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a duration: a number of milliseconds, or a string such as "3s",
 * "500ms", "1.5m", "2h". Returns undefined when it is not one.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/i.exec(value);
  if (m === null) return undefined;
  const unit = DURATION_UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/**
 * Parses a size: a number of bytes, or a string such as "16MB", "512KB",
 * "1GiB" (binary units: 1 MB = 1,048,576 bytes). Returns undefined when it is not one.
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)\s*$/i.exec(value);
  if (m === null) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

/** A positive duration in a config file, resolved to milliseconds. */
export const durationSchema = z
  .union([z.string(), z.number()], { error: 'must be a duration such as "3s"' })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: 'must be a positive duration such as "3s", "500ms" or "1m"' });
      return z.NEVER;
    }
    return ms;
  });

/** A positive size in a config file, resolved to bytes. */
export const sizeSchema = z
  .union([z.string(), z.number()], { error: 'must be a size such as "16MB"' })
  .transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined || bytes <= 0) {
      ctx.addIssue({ code: 'custom', message: 'must be a positive size such as "16MB", "512KB" or a number of bytes' });
      return z.NEVER;
    }
    return bytes;
  });

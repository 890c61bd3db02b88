/**
 * What the three function stores share, so they accept, reject and read back
 * exactly the same things: argument checks (AETHER_E_INVALID_ARGUMENT before
 * anything is written), the row shapes of the SQL stores and their conversion
 * to records, checked on the way out (AETHER_E_STORE_CORRUPT), and the byte
 * order names are listed in.
 */
import { createHash } from 'node:crypto';
import { TerminalError, aetherError, type AetherError } from '@aether/core';
import type { FunctionInput, FunctionRecord, FunctionScaling, NodeRecord, FunctionRuntime } from './types.js';

const HASH_PATTERN = /^[0-9a-f]{64}$/;

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}

function invalid(what: string, field: string, value: unknown): TerminalError {
  return new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid ${what}: field ${field} is ${shown(value)}`, {
    record: what,
    field,
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Ids go to text primary keys; PostgreSQL text cannot hold NUL, so no store accepts it. */
function requireId(what: string, field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\u0000')) throw invalid(what, field, value);
}

function optionalPositiveInt(what: string, field: string, value: unknown): void {
  if (value !== null && (!Number.isSafeInteger(value) || (value as number) <= 0)) throw invalid(what, field, value);
}

const SCALING_KEYS = ['min', 'max', 'targetConcurrency', 'idleTimeoutS'] as const;

/**
 * Checks a function's scaling overrides and returns them with only the fields
 * that are set (null when none is): every store reads back exactly this.
 */
function checkScaling(what: string, value: unknown): FunctionScaling | null {
  if (value === null) return null;
  if (!isPlainObject(value)) throw invalid(what, 'scaling', value);
  for (const key of Object.keys(value)) {
    if (!(SCALING_KEYS as readonly string[]).includes(key)) throw invalid(what, `scaling.${key}`, 'an unknown field');
  }
  const scaling: FunctionScaling = {};
  const int = (key: 'min' | 'max' | 'targetConcurrency', min: number): void => {
    const v = value[key];
    if (v === undefined) return;
    if (!Number.isSafeInteger(v) || (v as number) < min) throw invalid(what, `scaling.${key}`, v);
    scaling[key] = v as number;
  };
  int('min', 0);
  int('max', 1);
  int('targetConcurrency', 1);
  const idle = value.idleTimeoutS;
  if (idle !== undefined) {
    if (typeof idle !== 'number' || !Number.isFinite(idle) || idle < 0)
      throw invalid(what, 'scaling.idleTimeoutS', idle);
    scaling.idleTimeoutS = idle;
  }
  return Object.keys(scaling).length === 0 ? null : scaling;
}

/** The sha256 of `bytes` in lowercase hex, the key code is stored under. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Milliseconds since the epoch of a valid Date; AETHER_E_INVALID_ARGUMENT otherwise. */
export function millisOf(now: Date): number {
  const ms = now instanceof Date ? now.getTime() : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw invalid('timestamp', 'now', now);
  return ms;
}

/** The deploy a store may write: checked, copied and with its env vars as JSON text. */
export interface CheckedDeploy {
  input: FunctionInput;
  code: Uint8Array;
  envJson: string;
}

/** Checks a deploy completely before any store writes it. */
export function checkDeploy(input: FunctionInput, code: Uint8Array): CheckedDeploy {
  const what = 'function record';
  if (!isPlainObject(input)) throw invalid(what, 'input', input);
  requireId(what, 'id', input.id);
  requireId(what, 'name', input.name);
  // Seed 002 answers a deploy with function_id = name; listings go by name.
  if (input.name !== input.id) throw invalid(what, 'name', `${input.name} (differs from id ${input.id})`);
  if (input.runtime !== 'wasm' && input.runtime !== 'node') throw invalid(what, 'runtime', input.runtime);
  if (!(code instanceof Uint8Array)) throw invalid(what, 'code', code);
  if (input.runtime === 'node') {
    // The zip lives in the code store; the record only names it ('' before the first upload).
    if (code.byteLength !== 0)
      throw invalid(what, 'code', `${code.byteLength} bytes (node code goes to the code store)`);
    if (typeof input.hash !== 'string' || (input.hash !== '' && !HASH_PATTERN.test(input.hash))) {
      throw invalid(what, 'hash', input.hash);
    }
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes < 0)
      throw invalid(what, 'sizeBytes', input.sizeBytes);
  } else {
    if (typeof input.hash !== 'string' || !HASH_PATTERN.test(input.hash)) throw invalid(what, 'hash', input.hash);
    const actual = sha256Hex(code);
    if (actual !== input.hash) throw invalid(what, 'hash', `${input.hash} (the code's sha256 is ${actual})`);
    if (input.sizeBytes !== code.byteLength) {
      throw invalid(what, 'sizeBytes', `${String(input.sizeBytes)} (the code has ${code.byteLength} bytes)`);
    }
  }
  optionalPositiveInt(what, 'memoryLimitMb', input.memoryLimitMb);
  optionalPositiveInt(what, 'timeoutMs', input.timeoutMs);
  const scaling = checkScaling(what, input.scaling);
  if (!isPlainObject(input.envVars)) throw invalid(what, 'envVars', input.envVars);
  const entries = Object.entries(input.envVars);
  for (const [key, value] of entries) {
    if (key.length === 0) throw invalid(what, 'envVars', 'a variable with an empty name');
    if (typeof value !== 'string') throw invalid(what, `envVars.${key}`, value);
  }
  // fromEntries defines own properties: a variable named __proto__ stays a variable.
  const envVars = Object.fromEntries(entries) as Record<string, string>;
  return {
    input: {
      id: input.id,
      name: input.name,
      runtime: input.runtime,
      hash: input.hash,
      sizeBytes: input.sizeBytes,
      memoryLimitMb: input.memoryLimitMb,
      timeoutMs: input.timeoutMs,
      scaling,
      envVars,
    },
    code: code.slice(),
    envJson: JSON.stringify(envVars),
  };
}

/** Checks a function id or hash argument of a read or delete. */
export function checkKey(field: 'id' | 'hash' | 'nodeId', value: unknown): string {
  if (typeof value !== 'string') throw invalid('argument', field, value);
  return value;
}

/** Checks the arguments of upsertNode. */
export function checkNode(nodeId: unknown, url: unknown): void {
  requireId('node record', 'nodeId', nodeId);
  requireId('node record', 'url', url);
}

/** Checks node stats and returns them as JSON text (what every store keeps). */
export function statsJson(stats: unknown): string {
  if (!isPlainObject(stats)) throw invalid('node stats', 'stats', stats);
  try {
    return JSON.stringify(stats);
  } catch (err) {
    throw new TerminalError(
      'AETHER_E_INVALID_ARGUMENT',
      `invalid node stats: not serializable as JSON (${err instanceof Error ? err.message : String(err)})`,
      { record: 'node stats', field: 'stats' },
    );
  }
}

/** Compares strings by the byte order of their UTF-8 form, like SQLite's BINARY and PostgreSQL's "C" collation. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A row of `aether_functions`; `env_vars` is JSON text (SQLite) or already parsed (PostgreSQL json). */
export interface FunctionRow {
  id: unknown;
  name: unknown;
  runtime: unknown;
  hash: unknown;
  size_bytes: unknown;
  memory_limit_mb: unknown;
  timeout_ms: unknown;
  /** Scaling overrides, one nullable column each (null: the node's default). */
  scale_min: unknown;
  scale_max: unknown;
  scale_target_concurrency: unknown;
  scale_idle_timeout_s: unknown;
  env_vars: unknown;
  version: unknown;
  deployed_at: unknown;
  updated_at: unknown;
}

/** The scaling columns of a checked deploy, in FunctionRow's names (null: not set). */
export function scalingColumns(scaling: FunctionScaling | null): {
  scale_min: number | null;
  scale_max: number | null;
  scale_target_concurrency: number | null;
  scale_idle_timeout_s: number | null;
} {
  return {
    scale_min: scaling?.min ?? null,
    scale_max: scaling?.max ?? null,
    scale_target_concurrency: scaling?.targetConcurrency ?? null,
    scale_idle_timeout_s: scaling?.idleTimeoutS ?? null,
  };
}

/** A row of `aether_edge_nodes`; `stats` is JSON text, parsed JSON or null. */
export interface NodeRow {
  node_id: unknown;
  url: unknown;
  registered_at: unknown;
  last_seen_at: unknown;
  stats: unknown;
}

/** Reads rows of one table of one store, failing with AETHER_E_STORE_CORRUPT on the first bad field. */
class RowReader {
  constructor(
    private readonly location: string,
    private readonly table: string,
    private readonly key: string,
  ) {}

  corrupt(field: string, value: unknown): AetherError {
    return aetherError(
      'AETHER_E_STORE_CORRUPT',
      `${this.location}: row ${JSON.stringify(this.key)} of ${this.table} is corrupt: column ${field} is ${shown(value)}`,
      { location: this.location, table: this.table, key: this.key, field },
    );
  }

  id(field: string, value: unknown): string {
    if (typeof value !== 'string' || value.length === 0) throw this.corrupt(field, value);
    return value;
  }

  /** bigint columns may come back as strings from a pool without an int8 parser. */
  int(field: string, value: unknown, min: number): number {
    const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (!Number.isSafeInteger(n) || (n as number) < min) throw this.corrupt(field, value);
    return n as number;
  }

  optionalInt(field: string, value: unknown): number | null {
    return value === null ? null : this.int(field, value, 1);
  }

  /** A finite number at or above `min` (double precision columns). */
  number(field: string, value: unknown, min: number): number {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min) throw this.corrupt(field, value);
    return n;
  }

  /** The scaling columns as a record's scaling: only the set ones, null when none is. */
  scaling(row: FunctionRow): FunctionScaling | null {
    const scaling: FunctionScaling = {};
    // A column that is absent (undefined) is as corrupt as a bad value: the schema always has it.
    if (row.scale_min !== null) scaling.min = this.int('scale_min', row.scale_min, 0);
    if (row.scale_max !== null) scaling.max = this.int('scale_max', row.scale_max, 1);
    if (row.scale_target_concurrency !== null) {
      scaling.targetConcurrency = this.int('scale_target_concurrency', row.scale_target_concurrency, 1);
    }
    if (row.scale_idle_timeout_s !== null) {
      scaling.idleTimeoutS = this.number('scale_idle_timeout_s', row.scale_idle_timeout_s, 0);
    }
    return Object.keys(scaling).length === 0 ? null : scaling;
  }

  time(field: string, value: unknown): string {
    const ms = this.int(field, value, 0);
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) throw this.corrupt(field, value);
    return date.toISOString();
  }

  json(field: string, value: unknown): Record<string, unknown> {
    let parsed: unknown = value;
    if (typeof value === 'string') {
      try {
        parsed = JSON.parse(value);
      } catch {
        throw this.corrupt(field, value);
      }
    }
    if (!isPlainObject(parsed)) throw this.corrupt(field, value);
    return parsed;
  }
}

/** The record of a function row, checked field by field. */
export function rowToFunction(row: FunctionRow, location: string): FunctionRecord {
  const r = new RowReader(location, 'aether_functions', typeof row.id === 'string' ? row.id : '?');
  const id = r.id('id', row.id);
  const name = r.id('name', row.name);
  if (row.runtime !== 'wasm' && row.runtime !== 'node') throw r.corrupt('runtime', row.runtime);
  const runtime: FunctionRuntime = row.runtime;
  const noCodeYet = runtime === 'node' && row.hash === '';
  if (typeof row.hash !== 'string' || (!noCodeYet && !HASH_PATTERN.test(row.hash))) throw r.corrupt('hash', row.hash);
  const env = r.json('env_vars', row.env_vars);
  for (const value of Object.values(env)) if (typeof value !== 'string') throw r.corrupt('env_vars', row.env_vars);
  return {
    id,
    name,
    runtime,
    hash: row.hash,
    sizeBytes: r.int('size_bytes', row.size_bytes, 0),
    memoryLimitMb: r.optionalInt('memory_limit_mb', row.memory_limit_mb),
    timeoutMs: r.optionalInt('timeout_ms', row.timeout_ms),
    scaling: r.scaling(row),
    envVars: env as Record<string, string>,
    version: r.int('version', row.version, 1),
    deployedAt: r.time('deployed_at', row.deployed_at),
    updatedAt: r.time('updated_at', row.updated_at),
  };
}

/** The record of a node row, checked field by field. */
export function rowToNode(row: NodeRow, location: string): NodeRecord {
  const r = new RowReader(location, 'aether_edge_nodes', typeof row.node_id === 'string' ? row.node_id : '?');
  return {
    nodeId: r.id('node_id', row.node_id),
    url: r.id('url', row.url),
    registeredAt: r.time('registered_at', row.registered_at),
    lastSeenAt: r.time('last_seen_at', row.last_seen_at),
    stats: row.stats === null ? null : r.json('stats', row.stats),
  };
}

/** A copy of stored code (a plain Uint8Array), after checking it still hashes to its key. */
export function checkedCode(hash: string, stored: unknown, location: string): Uint8Array {
  const r = new RowReader(location, 'aether_function_code', hash);
  if (!(stored instanceof Uint8Array)) throw r.corrupt('code', stored);
  if (sha256Hex(stored) !== hash) throw r.corrupt('code', `${stored.byteLength} bytes that do not hash to the key`);
  return new Uint8Array(stored);
}

/** The error of any call on a function store after close(). */
export function storeClosed(location: string): AetherError {
  return aetherError('AETHER_E_SHUTTING_DOWN', `the function store ${location} is closed`, { location });
}

/**
 * The schema of `aether.toml` (seed 003's `[server] [persistence] [metrics]`,
 * plus `[auth] [functions] [edge] [cluster]`), its defaults, and the parser
 * that turns TOML text into a ResolvedServerConfig. Errors name the file, the
 * line and the key. No I/O here: the server reads the file and passes the text.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { TerminalError } from '../errors/aether-error.js';
import { keyAtTomlLine, locateTomlKey } from './toml-locate.js';
import { durationSchema, sizeSchema } from './units.js';

/** The persistence tiers of seed 003: L0 memory, L1 snapshot, L2 state-action-log. */
export const PERSISTENCE_MODES = ['memory', 'snapshot', 'state-action-log'] as const;

/** One persistence tier's name. */
export type PersistenceModeName = (typeof PERSISTENCE_MODES)[number];

/** Whether `value` names a persistence tier. */
export function isPersistenceMode(value: unknown): value is PersistenceModeName {
  return typeof value === 'string' && (PERSISTENCE_MODES as readonly string[]).includes(value);
}

/** Default values of every `aether.toml` key. */
export const SERVER_CONFIG_DEFAULTS = {
  grpcPort: 7233,
  httpPort: 7234,
  host: '127.0.0.1',
  dbPath: './data/aether.db',
  maxPayloadBytes: 2 * 1024 * 1024,
  persistence: 'state-action-log' as PersistenceModeName,
  snapshotIntervalMs: 1000,
  metricsEnabled: true,
  execTimeoutMs: 3000,
  memoryLimitBytes: 16 * 1024 * 1024,
  cacheSize: 100,
  maxModuleBytes: 10 * 1024 * 1024,
  maxQueue: 256,
  nodeTimeoutMs: 30_000,
} as const;

/** How requests and responses travel between the main thread and WASM worker threads. */
export const WASM_TRANSPORTS = ['shared-memory', 'message'] as const;

const port = z
  .number({ error: 'must be a port number (0-65535)' })
  .int('must be a whole port number (0-65535)')
  .min(0, 'must be a port number (0-65535)')
  .max(65535, 'must be a port number (0-65535)');

const positiveInt = z
  .number({ error: 'must be a positive whole number' })
  .int('must be a positive whole number')
  .positive('must be a positive whole number');

const nonEmptyString = z.string({ error: 'must be a string' }).min(1, 'must not be empty');

/** A table accepted as is for now; later issues give it a schema. */
const openTable = z.record(z.string(), z.unknown(), { error: 'must be a table' });

/** Seed 002's `[runtime]` keys, the WASM limits every function gets unless it sets its own. */
const runtimeKeys = {
  exec_timeout: durationSchema.optional(),
  memory_limit: sizeSchema.optional(),
  cache_size: positiveInt.optional(),
};

/**
 * The zod schema of `aether.toml`, with snake_case keys as written in the file.
 * Unknown keys are errors.
 */
export const serverConfigFileSchema = z
  .strictObject({
    server: z
      .strictObject({
        grpc_port: port.default(SERVER_CONFIG_DEFAULTS.grpcPort),
        http_port: port.default(SERVER_CONFIG_DEFAULTS.httpPort),
        host: nonEmptyString.default(SERVER_CONFIG_DEFAULTS.host),
        db_path: nonEmptyString.default(SERVER_CONFIG_DEFAULTS.dbPath),
        max_payload_bytes: positiveInt.default(SERVER_CONFIG_DEFAULTS.maxPayloadBytes),
        /** Seed 002's name for the HTTP port. */
        port: port.optional(),
      })
      .prefault({}),
    persistence: z
      .strictObject({
        mode: z
          .enum(PERSISTENCE_MODES, { error: `must be one of ${PERSISTENCE_MODES.map((m) => `"${m}"`).join(', ')}` })
          .default(SERVER_CONFIG_DEFAULTS.persistence),
        snapshot_interval_ms: positiveInt.default(SERVER_CONFIG_DEFAULTS.snapshotIntervalMs),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        enabled: z.boolean({ error: 'must be true or false' }).default(SERVER_CONFIG_DEFAULTS.metricsEnabled),
        port: port.optional(),
      })
      .prefault({}),
    auth: z.strictObject({ token: nonEmptyString.optional() }).prefault({}),
    functions: z
      .strictObject({
        ...runtimeKeys,
        max_module_size: sizeSchema.optional(),
        workers: positiveInt.optional(),
        transport: z.enum(WASM_TRANSPORTS, { error: 'must be "shared-memory" or "message"' }).optional(),
        max_queue: positiveInt.optional(),
      })
      .prefault({}),
    edge: z
      .strictObject({
        node_timeout: durationSchema.optional(),
        token: nonEmptyString.optional(),
      })
      .prefault({}),
    cluster: openTable.prefault({}),
    // Seed 002's control-plane file (control.toml) names, accepted as written there:
    // [database] path, [registry] node_timeout, [runtime] (= [functions]), [server] port (= http_port).
    database: z.strictObject({ path: nonEmptyString.optional() }).optional(),
    registry: z.strictObject({ node_timeout: durationSchema.optional() }).optional(),
    runtime: z.strictObject(runtimeKeys).optional(),
  })
  .superRefine((file, ctx) => {
    const clash = (a: string[], b: string[]): void => {
      ctx.addIssue({
        code: 'custom',
        path: b,
        message: `is the same setting as ${a.join('.')}: set only one`,
      });
    };
    // A key left at its default cannot be told from an absent one; only real clashes are reported.
    if (file.server.port !== undefined && file.server.http_port !== SERVER_CONFIG_DEFAULTS.httpPort)
      clash(['server', 'http_port'], ['server', 'port']);
    if (file.database?.path !== undefined && file.server.db_path !== SERVER_CONFIG_DEFAULTS.dbPath)
      clash(['server', 'db_path'], ['database', 'path']);
    if (file.registry?.node_timeout !== undefined && file.edge.node_timeout !== undefined)
      clash(['edge', 'node_timeout'], ['registry', 'node_timeout']);
    for (const key of ['exec_timeout', 'memory_limit', 'cache_size'] as const) {
      if (file.runtime?.[key] !== undefined && file.functions[key] !== undefined)
        clash(['functions', key], ['runtime', key]);
    }
  });

/** The contents of an `aether.toml` file as written (snake_case, every key optional). */
export type ServerConfigFile = z.input<typeof serverConfigFileSchema>;

/** Server configuration with every default filled in. */
export interface ResolvedServerConfig {
  server: {
    /** gRPC port. @default 7233 */
    grpcPort: number;
    /** HTTP port (API, metrics, dashboard). @default 7234 */
    httpPort: number;
    /** Address both listeners bind to. @default "127.0.0.1" */
    host: string;
    /** SQLite file path or `postgres://` URL. @default "./data/aether.db" */
    dbPath: string;
    /** Largest request body or payload accepted, in bytes. @default 2097152 (2 MiB) */
    maxPayloadBytes: number;
  };
  persistence: {
    /** Persistence tier. @default "state-action-log" */
    mode: PersistenceModeName;
    /** Snapshot period of the snapshot tier, in milliseconds. @default 1000 */
    snapshotIntervalMs: number;
  };
  metrics: {
    /** Whether `/metrics` is served. @default true */
    enabled: boolean;
    /** A separate port that also serves `/metrics` (e.g. 9090). @default undefined (none) */
    port?: number | undefined;
  };
  auth: {
    /** Bearer token required by the HTTP and gRPC APIs. @default undefined (no auth) */
    token?: string | undefined;
  };
  /** `[functions]` (seed 002's `[runtime]`): WASM runtime limits and pool. */
  functions: {
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
  };
  /** `[edge]` (seed 002's `[registry]`): the control plane's view of edge nodes. */
  edge: {
    /** A node without a heartbeat for this long is marked down. @default 30000 ("30s") */
    nodeTimeoutMs: number;
    /** Token edge nodes present to register (besides `[auth] token`). @default undefined */
    token?: string | undefined;
  };
  /** `[cluster]`, accepted as is until cluster support lands. */
  cluster: Record<string, unknown>;
}

function toResolved(file: z.output<typeof serverConfigFileSchema>): ResolvedServerConfig {
  return {
    server: {
      grpcPort: file.server.grpc_port,
      httpPort: file.server.port ?? file.server.http_port,
      host: file.server.host,
      dbPath: file.database?.path ?? file.server.db_path,
      maxPayloadBytes: file.server.max_payload_bytes,
    },
    persistence: { mode: file.persistence.mode, snapshotIntervalMs: file.persistence.snapshot_interval_ms },
    metrics: { enabled: file.metrics.enabled, port: file.metrics.port },
    auth: { token: file.auth.token },
    functions: {
      execTimeoutMs: file.functions.exec_timeout ?? file.runtime?.exec_timeout ?? SERVER_CONFIG_DEFAULTS.execTimeoutMs,
      memoryLimitBytes:
        file.functions.memory_limit ?? file.runtime?.memory_limit ?? SERVER_CONFIG_DEFAULTS.memoryLimitBytes,
      cacheSize: file.functions.cache_size ?? file.runtime?.cache_size ?? SERVER_CONFIG_DEFAULTS.cacheSize,
      maxModuleBytes: file.functions.max_module_size ?? SERVER_CONFIG_DEFAULTS.maxModuleBytes,
      workers: file.functions.workers,
      transport: file.functions.transport,
      maxQueue: file.functions.max_queue ?? SERVER_CONFIG_DEFAULTS.maxQueue,
    },
    edge: {
      nodeTimeoutMs: file.edge.node_timeout ?? file.registry?.node_timeout ?? SERVER_CONFIG_DEFAULTS.nodeTimeoutMs,
      token: file.edge.token,
    },
    cluster: file.cluster,
  };
}

/** The configuration used when no `aether.toml` exists. */
export function defaultServerConfig(): ResolvedServerConfig {
  return toResolved(serverConfigFileSchema.parse({}));
}

/** One problem found in a configuration file. */
export interface ConfigProblem {
  /** 1-based line, when it could be located. */
  line?: number | undefined;
  /** Dotted key, e.g. `server.grpc_port`. */
  key: string;
  message: string;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return value === null ? 'null' : typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** Levenshtein distance, for "did you mean" suggestions on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = serverConfigFileSchema;
  for (const part of path) {
    const shape: Record<string, z.ZodType> = unwrapObject(schema)?.shape ?? {};
    const next = shape[String(part)];
    if (next === undefined) return [];
    schema = next;
  }
  return Object.keys(unwrapObject(schema)?.shape ?? {});
}

function unwrapObject(schema: z.ZodType): z.ZodObject | undefined {
  let current: unknown = schema;
  // Peel default/prefault/optional wrappers down to the object schema.
  for (let i = 0; i < 5; i++) {
    if (current instanceof z.ZodObject) return current;
    const def = (current as { def?: { innerType?: unknown } }).def;
    if (def?.innerType === undefined) return undefined;
    current = def.innerType;
  }
  return undefined;
}

function sectionLabel(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'the top level' : `[${path.map(String).join('.')}]`;
}

function problemsOf(error: z.ZodError, data: unknown, text: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const path = issue.path;
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(path);
      for (const key of issue.keys) {
        const fullPath = [...path.map(String), key];
        const close = known.filter((k) => distance(k, key) <= 2);
        const suggestion = close.length > 0 ? `; did you mean "${close[0]}"?` : '';
        const knownText = known.length > 0 ? ` (known keys: ${known.join(', ')})` : '';
        problems.push({
          line: locateTomlKey(text, fullPath),
          key: fullPath.join('.'),
          message: `unknown key "${key}" in ${sectionLabel(path)}${suggestion}${suggestion ? '' : knownText}`,
        });
      }
      continue;
    }
    const value = valueAt(data, path);
    let message = issue.message;
    if (issue.code === 'invalid_type' && (issue.expected === 'object' || issue.expected === 'record')) {
      message = 'must be a table';
    }
    const stringPath = path.map(String);
    problems.push({
      line: locateTomlKey(text, stringPath),
      key: stringPath.join('.'),
      message: `${message}, got ${describeValue(value)}`,
    });
  }
  return problems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
}

function where(fileName: string, line: number | undefined): string {
  return line === undefined ? fileName : `${fileName}:${line}`;
}

/**
 * Parses the text of an `aether.toml` file into a resolved configuration.
 *
 * @param text - the file's contents
 * @param fileName - the file's name as the user knows it, used in error messages
 * @throws TerminalError AETHER_E_CONFIG_INVALID with details `{file, line, key}`
 *   (and `column` for syntax errors, `problems` when there are several)
 * @example
 * const config = parseServerConfig('[server]\ngrpc_port = 8000\n', 'aether.toml');
 * config.server.grpcPort; // 8000
 */
export function parseServerConfig(text: string, fileName: string): ResolvedServerConfig {
  let data: unknown;
  try {
    data = parseToml(text, { unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    if (err instanceof TomlError) {
      const keyPath = keyAtTomlLine(text, err.line);
      const key = keyPath?.join('.');
      const firstLine = err.message.split('\n')[0] ?? err.message;
      throw new TerminalError(
        'AETHER_E_CONFIG_INVALID',
        `${fileName}:${err.line}:${err.column}: TOML syntax error${key ? ` near ${key}` : ''}: ${firstLine}`,
        { file: fileName, line: err.line, column: err.column, key },
        { cause: err },
      );
    }
    throw new TerminalError(
      'AETHER_E_CONFIG_INVALID',
      `${fileName}: ${String(err)}`,
      { file: fileName },
      { cause: err },
    );
  }
  const parsed = serverConfigFileSchema.safeParse(data);
  if (parsed.success) return toResolved(parsed.data);

  const problems = problemsOf(parsed.error, data, text);
  const first = problems[0] ?? { key: '', message: 'invalid configuration' };
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  throw new TerminalError(
    'AETHER_E_CONFIG_INVALID',
    `${where(fileName, first.line)}: ${first.key}: ${first.message}${more}`,
    { file: fileName, line: first.line, key: first.key, ...(problems.length > 1 ? { problems } : {}) },
  );
}

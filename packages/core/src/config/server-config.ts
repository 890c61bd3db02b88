/**
 * The schema of `aether.toml` (seed 003's `[server] [persistence] [metrics]`,
 * plus `[auth] [functions] [edge] [cluster]`), its defaults, and the parser
 * that turns TOML text into a ResolvedServerConfig. Errors name the file, the
 * line and the key. No I/O here: the server reads the file and passes the text.
 */
import { z } from 'zod';
import { parseTomlConfig } from './toml-config.js';
import {
  FUNCTIONS_CONFIG_DEFAULTS,
  checkRuntimeClash,
  functionsSectionSchema,
  nonEmptyStringSchema,
  portSchema,
  positiveIntSchema,
  resolveFunctionsConfig,
  runtimeSectionSchema,
  type ResolvedFunctionsConfig,
} from './schema-parts.js';
import { durationSchema } from './units.js';

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
  ...FUNCTIONS_CONFIG_DEFAULTS,
  nodeTimeoutMs: 30_000,
} as const;

const port = portSchema;
const positiveInt = positiveIntSchema;
const nonEmptyString = nonEmptyStringSchema;

/** A table accepted as is for now; later issues give it a schema. */
const openTable = z.record(z.string(), z.unknown(), { error: 'must be a table' });

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
    functions: functionsSectionSchema.prefault({}),
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
    runtime: runtimeSectionSchema.optional(),
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
    checkRuntimeClash(file.functions, file.runtime, ctx);
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
  functions: ResolvedFunctionsConfig;
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
    functions: resolveFunctionsConfig(file.functions, file.runtime),
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
  return toResolved(parseTomlConfig(text, fileName, serverConfigFileSchema));
}

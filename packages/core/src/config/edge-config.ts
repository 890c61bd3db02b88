/**
 * The edge node's config file (`aether edge -c edge.toml`): seed 002's edge
 * file (`[runtime] exec_timeout, memory_limit, cache_size`, `[server] host,
 * port`) as written there, plus `[functions]` (the same keys as aether.toml's)
 * and `[edge]` for how the node joins its control plane. CLI flags override it.
 */
import { z } from 'zod';
import {
  checkRuntimeClash,
  functionsSectionSchema,
  nonEmptyStringSchema,
  portSchema,
  resolveFunctionsConfig,
  runtimeSectionSchema,
  type ResolvedFunctionsConfig,
} from './schema-parts.js';
import { parseTomlConfig } from './toml-config.js';
import { durationSchema } from './units.js';

/** Defaults of the edge node's settings. */
export const EDGE_CONFIG_DEFAULTS = {
  host: '127.0.0.1',
  port: 9091,
} as const;

/** The zod schema of an edge node's TOML file (snake_case keys as written). Unknown keys are errors. */
export const edgeConfigFileSchema = z
  .strictObject({
    server: z
      .strictObject({
        host: nonEmptyStringSchema.default(EDGE_CONFIG_DEFAULTS.host),
        port: portSchema.default(EDGE_CONFIG_DEFAULTS.port),
      })
      .prefault({}),
    runtime: runtimeSectionSchema.optional(),
    functions: functionsSectionSchema.prefault({}),
    edge: z
      .strictObject({
        control_plane: nonEmptyStringSchema.optional(),
        node_id: nonEmptyStringSchema.optional(),
        token: nonEmptyStringSchema.optional(),
        url: nonEmptyStringSchema.optional(),
        heartbeat_interval: durationSchema.optional(),
      })
      .prefault({}),
  })
  .superRefine((file, ctx) => checkRuntimeClash(file.functions, file.runtime, ctx));

/** An edge node's configuration with every default filled in (CLI flags not yet applied). */
export interface ResolvedEdgeConfig {
  server: {
    /** Address `/execute` and `/health` listen on. @default "127.0.0.1" */
    host: string;
    /** Port. @default 9091 */
    port: number;
  };
  /** WASM limits and pool (seed 002's `[runtime]` or `[functions]`). */
  functions: ResolvedFunctionsConfig;
  edge: {
    /** The control plane's HTTP URL, e.g. `http://127.0.0.1:7234`. Required (here or `--control-plane`). */
    controlPlane?: string | undefined;
    /** This node's id. @default the host name */
    nodeId?: string | undefined;
    /** Token presented to the control plane (its `[edge] token` or `[auth] token`). */
    token?: string | undefined;
    /** URL the control plane uses to reach this node. @default http://<host>:<port> */
    url?: string | undefined;
    /** Heartbeat period. @default what the control plane asks for (a third of its node_timeout) */
    heartbeatIntervalMs?: number | undefined;
  };
}

function toResolved(file: z.output<typeof edgeConfigFileSchema>): ResolvedEdgeConfig {
  return {
    server: { host: file.server.host, port: file.server.port },
    functions: resolveFunctionsConfig(file.functions, file.runtime),
    edge: {
      controlPlane: file.edge.control_plane,
      nodeId: file.edge.node_id,
      token: file.edge.token,
      url: file.edge.url,
      heartbeatIntervalMs: file.edge.heartbeat_interval,
    },
  };
}

/** The edge configuration used when no file is given. */
export function defaultEdgeConfig(): ResolvedEdgeConfig {
  return toResolved(edgeConfigFileSchema.parse({}));
}

/**
 * Parses the text of an edge node's TOML file.
 * @throws TerminalError AETHER_E_CONFIG_INVALID naming file, line and key
 * @example
 * parseEdgeConfig('[runtime]\nexec_timeout = "3s"\n[server]\nport = 9091\n', 'edge.toml');
 */
export function parseEdgeConfig(text: string, fileName: string): ResolvedEdgeConfig {
  return toResolved(parseTomlConfig(text, fileName, edgeConfigFileSchema));
}

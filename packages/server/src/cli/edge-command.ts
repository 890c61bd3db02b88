/**
 * `aether edge --control-plane URL [--port 9091] [--node-id ID] [--token T]`:
 * resolves the edge configuration (defaults < `-c edge.toml` < env < flags),
 * starts an edge node, prints where it listens, and leaves gracefully (telling
 * the control plane) on SIGINT/SIGTERM.
 */
import { aetherError, defaultEdgeConfig, parseEdgeConfig, type ResolvedEdgeConfig } from '@aether/core';
import { isTomlFile, parsePortFlag, readConfigText } from '../config/load-config.js';
import { startEdgeNode } from '../edge/start-edge.js';
import type { CliIo } from './io.js';
import { createCliLogger, waitForShutdown } from './serve-command.js';
import type { GlobalOptions } from './serve-command.js';

/** Options of `aether edge`, as commander parses them. */
export interface EdgeCommandOptions {
  controlPlane?: string | undefined;
  port?: string | undefined;
  host?: string | undefined;
  nodeId?: string | undefined;
  token?: string | undefined;
  url?: string | undefined;
}

/**
 * Resolves the configuration `aether edge` would use: the `-c` file when it is
 * a `.toml`, then env `AETHER_EDGE_TOKEN`, then flags.
 * @throws TerminalError AETHER_E_CONFIG_INVALID / AETHER_E_CONFIG_UNREADABLE / AETHER_E_USAGE
 */
export function resolveEdgeConfig(options: EdgeCommandOptions & GlobalOptions, io: CliIo): ResolvedEdgeConfig {
  let config = defaultEdgeConfig();
  if (options.config !== undefined) {
    if (!isTomlFile(options.config)) {
      throw aetherError(
        'AETHER_E_USAGE',
        `-c ${options.config}: aether edge reads a .toml file (seed 002's edge.toml)`,
        {
          flag: '-c',
        },
      );
    }
    const text = readConfigText(options.config, io.cwd, true) ?? '';
    config = parseEdgeConfig(text, options.config);
  }
  const edge = { ...config.edge };
  const server = { ...config.server };
  const envToken = io.env.AETHER_EDGE_TOKEN;
  if (envToken !== undefined && envToken !== '') edge.token = envToken;
  if (options.controlPlane !== undefined) edge.controlPlane = options.controlPlane;
  if (options.nodeId !== undefined) edge.nodeId = options.nodeId;
  if (options.token !== undefined) {
    if (options.token === '')
      throw aetherError('AETHER_E_CONFIG_INVALID', '--token must not be empty', { flag: '--token' });
    edge.token = options.token;
  }
  if (options.url !== undefined) edge.url = options.url;
  if (options.port !== undefined) server.port = parsePortFlag('--port', options.port);
  if (options.host !== undefined) {
    if (options.host.trim() === '')
      throw aetherError('AETHER_E_CONFIG_INVALID', '--host must not be empty', { flag: '--host' });
    server.host = options.host.trim();
  }
  return { ...config, server, edge };
}

/**
 * Runs `aether edge` until SIGINT or SIGTERM.
 * @returns the exit code
 */
export async function runEdge(options: EdgeCommandOptions & GlobalOptions, io: CliIo): Promise<number> {
  const config = resolveEdgeConfig(options, io);
  const logger = createCliLogger(io, options.verbose === true);
  const edge = await startEdgeNode(config, { logger, logRequests: options.verbose === true });
  for (const line of edge.banner) io.stdout(`${line}\n`);
  await waitForShutdown('aether edge', () => edge.close(), io);
  return 0;
}

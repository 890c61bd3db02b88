/**
 * `aether serve`: resolves the configuration (defaults < aether.toml < env <
 * flags), starts the node, prints where it listens, and shuts it down
 * gracefully on SIGINT/SIGTERM.
 */
import { aetherError, type ResolvedServerConfig } from '@aether/core';
import { pino, type Logger } from 'pino';
import { isTomlFile, loadServerConfig, type ServeFlags } from '../config/load-config.js';
import { assertSafeBind, startServer } from '../serve.js';
import type { CliIo } from './io.js';

/** Options of `aether serve`, as commander parses them. */
export interface ServeCommandOptions extends ServeFlags {
  insecure?: boolean | undefined;
}

/** Global options (`aether -c FILE -v`). */
export interface GlobalOptions {
  config?: string | undefined;
  verbose?: boolean | undefined;
}

/** Resolves the configuration `aether serve` would use. */
export function resolveServeConfig(options: ServeCommandOptions & GlobalOptions, io: CliIo): ResolvedServerConfig {
  if (options.config !== undefined && !isTomlFile(options.config)) {
    if (/\.ya?ml$/i.test(options.config)) {
      throw aetherError(
        'AETHER_E_USAGE',
        `${options.config} is a functions file: \`aether serve\` reads server configuration from a .toml file (functions files are for \`aether -c FILE up\`)`,
        { file: options.config, flag: '-c' },
      );
    }
    throw aetherError(
      'AETHER_E_USAGE',
      `-c ${options.config}: expected a server configuration (.toml) or a functions file (.yaml/.yml)`,
      { file: options.config, flag: '-c' },
    );
  }
  const { config } = loadServerConfig({
    configFile: options.config,
    cwd: io.cwd,
    env: io.env,
    flags: {
      grpcPort: options.grpcPort,
      httpPort: options.httpPort,
      host: options.host,
      persistence: options.persistence,
      db: options.db,
      token: options.token,
    },
  });
  return config;
}

/** The logger of long-running commands: pino to stderr, level from AETHER_LOG_LEVEL or -v. */
export function createCliLogger(io: CliIo, verbose: boolean): Logger {
  const level = io.env.AETHER_LOG_LEVEL ?? (verbose ? 'debug' : 'info');
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/**
 * Runs `aether serve` until SIGINT or SIGTERM, then closes everything.
 * @returns the exit code
 */
export async function runServe(options: ServeCommandOptions & GlobalOptions, io: CliIo): Promise<number> {
  const config = resolveServeConfig(options, io);
  const insecure = options.insecure === true;
  assertSafeBind(config.server.host, config.auth.token, insecure);
  const logger = createCliLogger(io, options.verbose === true);
  if (insecure && config.auth.token === undefined) {
    io.stderr(
      `warning: listening on ${config.server.host} without a token (--insecure): anyone who can reach it can run workflows and deploy functions\n`,
    );
  }
  const node = await startServer(config, { insecure, logger, logRequests: options.verbose === true });
  // Listening for signals before the banner: whoever waits for the banner may stop the node at once.
  const stopped = waitForShutdown('aether serve', () => node.close(), io);
  for (const line of node.banner) io.stdout(`${line}\n`);
  await stopped;
  return 0;
}

/**
 * Waits for SIGINT or SIGTERM, then runs `close`; a second signal while
 * closing exits at once.
 */
export async function waitForShutdown(name: string, close: () => Promise<void>, io: CliIo): Promise<void> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  io.stderr(`${name}: ${signal}, shutting down\n`);
  const force = (): void => {
    io.stderr(`${name}: forced exit\n`);
    process.exit(1);
  };
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await close();
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  io.stderr(`${name}: stopped\n`);
}

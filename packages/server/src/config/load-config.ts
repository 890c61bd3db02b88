/**
 * Server configuration resolution, the I/O half of `@aether/core`'s parser:
 * defaults < `./aether.toml` (or `-c FILE.toml`) < env `AETHER_TOKEN` < CLI flags.
 * Flag values are checked here and their errors name the flag.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  PERSISTENCE_MODES,
  TerminalError,
  defaultServerConfig,
  isPersistenceMode,
  parseServerConfig,
  type ResolvedServerConfig,
} from '@aether/core';

/** Overrides given on the command line (`aether serve --grpc-port ...`), as typed. */
export interface ServeFlags {
  grpcPort?: string | undefined;
  httpPort?: string | undefined;
  host?: string | undefined;
  persistence?: string | undefined;
  db?: string | undefined;
  token?: string | undefined;
}

/** Where the configuration comes from. */
export interface ConfigSources {
  /** `-c FILE`, as the user typed it. */
  configFile?: string | undefined;
  /** Directory searched for `aether.toml`. @default process.cwd() */
  cwd?: string | undefined;
  /** Environment (for AETHER_TOKEN). @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  flags?: ServeFlags | undefined;
}

/** A resolved configuration and the file it was read from, if any. */
export interface LoadedServerConfig {
  config: ResolvedServerConfig;
  /** The TOML file read, as the user would name it; undefined when only defaults applied. */
  file?: string | undefined;
}

/** True for `-c` files that are server configuration (as opposed to a functions YAML). */
export function isTomlFile(file: string): boolean {
  return /\.toml$/i.test(file);
}

/**
 * Reads a config file relative to `cwd`; a missing optional file is undefined.
 * @throws TerminalError AETHER_E_CONFIG_UNREADABLE
 */
export function readConfigText(file: string, cwd: string, required: boolean): string | undefined {
  try {
    return readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new TerminalError(
      'AETHER_E_CONFIG_UNREADABLE',
      `cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      { file, errno: code },
      { cause: err },
    );
  }
}

function flagError(flag: string, value: string, problem: string): TerminalError {
  return new TerminalError('AETHER_E_CONFIG_INVALID', `${flag} ${JSON.stringify(value)}: ${problem}`, {
    flag,
    key: flag,
    value,
  });
}

/** Parses a port given as a flag; errors name the flag. */
export function parsePortFlag(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw flagError(flag, value, 'must be a port number (0-65535)');
  return n;
}

/** Applies command-line flags over a configuration; errors name the flag. */
export function applyServeFlags(base: ResolvedServerConfig, flags: ServeFlags): ResolvedServerConfig {
  const config: ResolvedServerConfig = {
    ...base,
    server: { ...base.server },
    persistence: { ...base.persistence },
    metrics: { ...base.metrics },
    auth: { ...base.auth },
  };
  if (flags.grpcPort !== undefined) config.server.grpcPort = parsePortFlag('--grpc-port', flags.grpcPort);
  if (flags.httpPort !== undefined) config.server.httpPort = parsePortFlag('--http-port', flags.httpPort);
  if (flags.host !== undefined) {
    if (flags.host.trim() === '') throw flagError('--host', flags.host, 'must not be empty');
    config.server.host = flags.host.trim();
  }
  if (flags.persistence !== undefined) {
    if (!isPersistenceMode(flags.persistence)) {
      throw flagError(
        '--persistence',
        flags.persistence,
        `unknown persistence mode: expected one of ${PERSISTENCE_MODES.join(', ')}`,
      );
    }
    config.persistence.mode = flags.persistence;
  }
  if (flags.db !== undefined) {
    if (flags.db.trim() === '') throw flagError('--db', flags.db, 'must be a file path or a postgres:// URL');
    config.server.dbPath = flags.db;
  }
  if (flags.token !== undefined) {
    if (flags.token === '') throw flagError('--token', flags.token, 'must not be empty');
    config.auth.token = flags.token;
  }
  return config;
}

/**
 * Resolves the server configuration: defaults, then `./aether.toml` when present
 * (or the `-c` file when it is a `.toml`), then AETHER_TOKEN, then flags.
 * @throws TerminalError AETHER_E_CONFIG_INVALID / AETHER_E_CONFIG_UNREADABLE
 */
export function loadServerConfig(sources: ConfigSources = {}): LoadedServerConfig {
  const cwd = sources.cwd ?? process.cwd();
  const env = sources.env ?? process.env;
  const explicit = sources.configFile !== undefined && isTomlFile(sources.configFile) ? sources.configFile : undefined;
  const file = explicit ?? 'aether.toml';
  const text = readConfigText(file, cwd, explicit !== undefined);
  let config = text === undefined ? defaultServerConfig() : parseServerConfig(text, file);
  const envToken = env.AETHER_TOKEN;
  if (envToken !== undefined && envToken !== '') config = { ...config, auth: { ...config.auth, token: envToken } };
  config = applyServeFlags(config, sources.flags ?? {});
  return { config, file: text === undefined ? undefined : file };
}

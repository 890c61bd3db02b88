/** Tests of configuration resolution: defaults < aether.toml (or -c) < AETHER_TOKEN < flags. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AetherError, defaultServerConfig } from '@aether/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from './load-config.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'aether-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function thrown(fn: () => unknown): AetherError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return err as AetherError;
  }
  throw new Error('expected an error');
}

describe('loadServerConfig', () => {
  it('uses the defaults when there is no aether.toml', () => {
    const loaded = loadServerConfig({ cwd: dir, env: {} });
    expect(loaded.file).toBeUndefined();
    expect(loaded.config).toEqual(defaultServerConfig());
  });

  it('reads ./aether.toml from the working directory', () => {
    writeFileSync(path.join(dir, 'aether.toml'), '[server]\nhttp_port = 8001\n[persistence]\nmode = "snapshot"\n');
    const loaded = loadServerConfig({ cwd: dir, env: {} });
    expect(loaded.file).toBe('aether.toml');
    expect(loaded.config.server.httpPort).toBe(8001);
    expect(loaded.config.persistence.mode).toBe('snapshot');
  });

  it('reads the -c file instead of ./aether.toml when it is a .toml', () => {
    writeFileSync(path.join(dir, 'aether.toml'), '[server]\nhttp_port = 8001\n');
    writeFileSync(path.join(dir, 'other.toml'), '[server]\nhttp_port = 8002\n');
    expect(loadServerConfig({ cwd: dir, env: {}, configFile: 'other.toml' }).config.server.httpPort).toBe(8002);
    // A functions YAML does not replace the server configuration.
    expect(loadServerConfig({ cwd: dir, env: {}, configFile: 'functions.yaml' }).config.server.httpPort).toBe(8001);
  });

  it('lets AETHER_TOKEN override [auth] token, and --token override both', () => {
    writeFileSync(path.join(dir, 'aether.toml'), '[auth]\ntoken = "from-file"\n');
    expect(loadServerConfig({ cwd: dir, env: {} }).config.auth.token).toBe('from-file');
    expect(loadServerConfig({ cwd: dir, env: { AETHER_TOKEN: 'from-env' } }).config.auth.token).toBe('from-env');
    const flagged = loadServerConfig({ cwd: dir, env: { AETHER_TOKEN: 'from-env' }, flags: { token: 'from-flag' } });
    expect(flagged.config.auth.token).toBe('from-flag');
  });

  it('lets flags override the file', () => {
    writeFileSync(
      path.join(dir, 'aether.toml'),
      '[server]\ngrpc_port = 1000\nhttp_port = 1001\nhost = "127.0.0.2"\ndb_path = "a.db"\n[persistence]\nmode = "snapshot"\n',
    );
    const { config } = loadServerConfig({
      cwd: dir,
      env: {},
      flags: { grpcPort: '2000', httpPort: '0', host: '::1', persistence: 'memory', db: 'postgres://x@h/db' },
    });
    expect(config.server).toMatchObject({ grpcPort: 2000, httpPort: 0, host: '::1', dbPath: 'postgres://x@h/db' });
    expect(config.persistence.mode).toBe('memory');
  });

  it('names the flag of an unknown persistence mode or a bad port', () => {
    const mode = thrown(() => loadServerConfig({ cwd: dir, env: {}, flags: { persistence: 'disk' } }));
    expect(mode.code).toBe('AETHER_E_CONFIG_INVALID');
    expect(mode.details).toMatchObject({ flag: '--persistence', value: 'disk' });
    expect(mode.message).toContain('--persistence "disk"');
    const port = thrown(() => loadServerConfig({ cwd: dir, env: {}, flags: { httpPort: '70000' } }));
    expect(port.details).toMatchObject({ flag: '--http-port' });
    expect(thrown(() => loadServerConfig({ cwd: dir, env: {}, flags: { grpcPort: 'x' } })).details.flag).toBe(
      '--grpc-port',
    );
  });

  it('reports a missing -c file as AETHER_E_CONFIG_UNREADABLE', () => {
    const err = thrown(() => loadServerConfig({ cwd: dir, env: {}, configFile: 'missing.toml' }));
    expect(err.code).toBe('AETHER_E_CONFIG_UNREADABLE');
    expect(err.details).toMatchObject({ file: 'missing.toml', errno: 'ENOENT' });
  });

  it('names the file as the user gave it in schema errors', () => {
    writeFileSync(path.join(dir, 'conf.toml'), '[server]\n\nhttp_port = "x"\n');
    const err = thrown(() => loadServerConfig({ cwd: dir, env: {}, configFile: 'conf.toml' }));
    expect(err.code).toBe('AETHER_E_CONFIG_INVALID');
    expect(err.details).toMatchObject({ file: 'conf.toml', line: 3, key: 'server.http_port' });
  });
});

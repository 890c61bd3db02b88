/** Tests of the aether.toml schema: defaults, overrides and errors that name file, line and key. */
import { describe, expect, it } from 'vitest';
import { TerminalError } from '../errors/aether-error.js';
import { defaultServerConfig, parseServerConfig } from './server-config.js';

function configError(text: string, file = 'aether.toml'): TerminalError {
  try {
    parseServerConfig(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(TerminalError);
    return err as TerminalError;
  }
  throw new Error('expected parseServerConfig to throw');
}

describe('parseServerConfig', () => {
  it('fills every default for an empty file', () => {
    const config = parseServerConfig('', 'aether.toml');
    expect(config).toEqual(defaultServerConfig());
    expect(config.server).toEqual({
      grpcPort: 7233,
      httpPort: 7234,
      host: '127.0.0.1',
      dbPath: './data/aether.db',
      maxPayloadBytes: 2097152,
    });
    expect(config.persistence).toEqual({ mode: 'state-action-log', snapshotIntervalMs: 1000 });
    expect(config.metrics).toEqual({ enabled: true, port: undefined });
    expect(config.auth.token).toBeUndefined();
    expect(config.functions).toEqual({
      execTimeoutMs: 3000,
      memoryLimitBytes: 16 * 1024 * 1024,
      cacheSize: 100,
      maxModuleBytes: 10 * 1024 * 1024,
      workers: undefined,
      transport: undefined,
      maxQueue: 256,
      node: expect.objectContaining({ maxInstances: 4 }) as unknown,
    });
    expect(config.edge).toEqual({ nodeTimeoutMs: 30_000, token: undefined });
  });

  it("reads seed 003's example file", () => {
    const config = parseServerConfig(
      [
        '[server]',
        'grpc_port = 7233',
        'http_port = 7234',
        'db_path = "./data/aether.db"',
        '',
        '[persistence]',
        'mode = "snapshot"',
        '',
        '[metrics]',
        'enabled = true',
        'port = 9090',
        '',
        '[auth]',
        'token = "s3cret"',
        '',
        '[functions]',
        'cache_size = 2',
        '[edge]',
        '[cluster]',
      ].join('\n'),
      'aether.toml',
    );
    expect(config.persistence.mode).toBe('snapshot');
    expect(config.metrics.port).toBe(9090);
    expect(config.auth.token).toBe('s3cret');
    expect(config.functions.cacheSize).toBe(2);
  });

  it("reads seed 002's control-plane file (control.toml) as written", () => {
    const config = parseServerConfig(
      [
        '[database]',
        'path = "./data/control.db"   # Sled DB location',
        '',
        '[server]',
        'host = "0.0.0.0"',
        'port = 9090',
        '',
        '[registry]',
        'node_timeout = "30s"   # Node heartbeat timeout',
      ].join('\n'),
      'control.toml',
    );
    expect(config.server).toMatchObject({ host: '0.0.0.0', httpPort: 9090, dbPath: './data/control.db' });
    expect(config.edge.nodeTimeoutMs).toBe(30_000);
  });

  it("reads seed 002's [runtime] limits and aether's [functions] / [edge] names", () => {
    const seed = parseServerConfig(
      '[runtime]\nexec_timeout = "3s"\nmemory_limit = "16MB"\ncache_size = 100\n',
      'edge.toml',
    );
    expect(seed.functions).toMatchObject({ execTimeoutMs: 3000, memoryLimitBytes: 16777216, cacheSize: 100 });
    const own = parseServerConfig(
      [
        '[functions]',
        'exec_timeout = "250ms"',
        'memory_limit = "512KB"',
        'max_module_size = "2MB"',
        'workers = 3',
        'transport = "message"',
        'max_queue = 8',
        '[edge]',
        'node_timeout = "1.5s"',
        'token = "join"',
      ].join('\n'),
      'aether.toml',
    );
    expect(own.functions).toEqual({
      execTimeoutMs: 250,
      memoryLimitBytes: 512 * 1024,
      cacheSize: 100,
      maxModuleBytes: 2 * 1024 * 1024,
      workers: 3,
      transport: 'message',
      maxQueue: 8,
      node: expect.objectContaining({ minInstances: 0 }) as unknown,
    });
    expect(own.edge).toEqual({ nodeTimeoutMs: 1500, token: 'join' });
  });

  it('rejects bad durations and sizes naming the line and key', () => {
    const err = configError('[functions]\nexec_timeout = "soon"\n');
    expect(err.details).toMatchObject({ line: 2, key: 'functions.exec_timeout' });
    expect(err.message).toContain('must be a positive duration');
    expect(configError('[runtime]\nmemory_limit = "16 parsecs"\n').details).toMatchObject({
      line: 2,
      key: 'runtime.memory_limit',
    });
    expect(configError('[functions]\ntransport = "pigeon"\n').details).toMatchObject({ key: 'functions.transport' });
  });

  it("reads [functions.node]: node functions' limits, scaling and isolation, with defaults", () => {
    expect(parseServerConfig('', 'aether.toml').functions.node).toEqual({
      memoryLimitBytes: 256 * 1024 * 1024,
      timeoutMs: 30_000,
      minInstances: 0,
      maxInstances: 4,
      targetConcurrency: 100,
      idleTimeoutMs: 60_000,
      maxWaiting: 1000,
      isolation: 'sandbox',
      maxZipBytes: 64 * 1024 * 1024,
    });
    const config = parseServerConfig(
      '[functions.node]\nmemory_limit = "128MB"\ntimeout = "5s"\nmin_instances = 1\nmax_instances = 8\ntarget_concurrency = 4\nidle_timeout = "2m"\nmax_waiting = 50\nisolation = "none"\nmax_zip_size = "10MB"\n',
      'aether.toml',
    );
    expect(config.functions.node).toEqual({
      memoryLimitBytes: 128 * 1024 * 1024,
      timeoutMs: 5000,
      minInstances: 1,
      maxInstances: 8,
      targetConcurrency: 4,
      idleTimeoutMs: 120_000,
      maxWaiting: 50,
      isolation: 'none',
      maxZipBytes: 10 * 1024 * 1024,
    });
    const err = configError('[functions.node]\nmax_instances = 2\nmin_instances = 3\n');
    expect(err.details).toMatchObject({ line: 3, key: 'functions.node.min_instances' });
    expect(configError('[functions.node]\nisolation = "vm"\n').details).toMatchObject({
      key: 'functions.node.isolation',
    });
    expect(configError('[functions.node]\nreplicas = 3\n').message).toContain('replicas');
  });

  it('rejects the same setting given under its seed name and its own name', () => {
    const err = configError('[functions]\ncache_size = 5\n[runtime]\ncache_size = 6\n');
    expect(err.details).toMatchObject({ line: 4, key: 'runtime.cache_size' });
    expect(err.message).toContain('set only one');
    expect(configError('[server]\nhttp_port = 1\nport = 2\n').details).toMatchObject({ key: 'server.port' });
  });

  it('accepts dotted keys and inline tables', () => {
    const config = parseServerConfig('server.http_port = 8000\npersistence = { mode = "memory" }\n', 'a.toml');
    expect(config.server.httpPort).toBe(8000);
    expect(config.persistence.mode).toBe('memory');
  });

  it('names file, line and column of a TOML syntax error', () => {
    const err = configError('[server]\ngrpc_port = 7233\nhttp_port = = 1\n', 'conf/aether.toml');
    expect(err.code).toBe('AETHER_E_CONFIG_INVALID');
    expect(err.details).toMatchObject({ file: 'conf/aether.toml', line: 3, key: 'server.http_port' });
    expect(typeof err.details.column).toBe('number');
    expect(err.message).toMatch(/^conf\/aether\.toml:3:\d+: TOML syntax error/);
  });

  it('names file, line and key of a value of the wrong type', () => {
    const err = configError('# ports\n[server]\nhost = "0.0.0.0"\ngrpc_port = "abc"\n');
    expect(err.code).toBe('AETHER_E_CONFIG_INVALID');
    expect(err.details).toMatchObject({ file: 'aether.toml', line: 4, key: 'server.grpc_port' });
    expect(err.message).toBe('aether.toml:4: server.grpc_port: must be a port number (0-65535), got "abc"');
  });

  it('rejects out-of-range ports and non-positive sizes', () => {
    expect(configError('[server]\nhttp_port = 70000\n').details).toMatchObject({ line: 2, key: 'server.http_port' });
    expect(configError('[server]\nmax_payload_bytes = 0\n').details).toMatchObject({
      line: 2,
      key: 'server.max_payload_bytes',
    });
    expect(configError('[persistence]\nsnapshot_interval_ms = 1.5\n').details).toMatchObject({
      key: 'persistence.snapshot_interval_ms',
    });
  });

  it('rejects an unknown key with a suggestion', () => {
    const err = configError('[server]\ngrpc_port = 1\n\n[metrics]\nenabled = true\nprot = 9090\n');
    expect(err.details).toMatchObject({ file: 'aether.toml', line: 6, key: 'metrics.prot' });
    expect(err.message).toContain('unknown key "prot" in [metrics]; did you mean "port"?');
  });

  it('rejects an unknown section', () => {
    const err = configError('[server]\n[persistance]\nmode = "memory"\n');
    expect(err.details).toMatchObject({ line: 2, key: 'persistance' });
    expect(err.message).toContain('did you mean "persistence"?');
  });

  it('rejects an unknown persistence mode and lists the valid ones', () => {
    const err = configError('[persistence]\nmode = "disk"\n');
    expect(err.details).toMatchObject({ line: 2, key: 'persistence.mode' });
    expect(err.message).toContain('"memory", "snapshot", "state-action-log"');
    expect(err.message).toContain('got "disk"');
  });

  it('requires [functions], [edge] and [cluster] to be tables', () => {
    const err = configError('edge = 3\n');
    expect(err.details).toMatchObject({ line: 1, key: 'edge' });
    expect(err.message).toContain('must be a table');
  });

  it('locates a wrongly typed key inside an inline table on its line', () => {
    const err = configError('\n\nserver = { grpc_port = true }\n');
    expect(err.details).toMatchObject({ line: 3, key: 'server.grpc_port' });
  });

  it('reports every problem in details, the first one (by line) in the message', () => {
    const err = configError('[server]\nhttp_port = "x"\ngrpc_port = "y"\n');
    expect(err.details.line).toBe(2);
    expect(err.message).toContain('(and 1 more problem)');
    expect(err.details.problems).toHaveLength(2);
  });

  it('rejects an empty token', () => {
    expect(configError('[auth]\ntoken = ""\n').details).toMatchObject({ line: 2, key: 'auth.token' });
  });
});

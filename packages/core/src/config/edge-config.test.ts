/** Tests of the edge node's config file: seed 002's edge file as written, and errors. */
import { describe, expect, it } from 'vitest';
import { TerminalError } from '../errors/aether-error.js';
import { defaultEdgeConfig, parseEdgeConfig } from './edge-config.js';

describe('parseEdgeConfig', () => {
  it("reads seed 002's edge file as written", () => {
    const config = parseEdgeConfig(
      [
        '[runtime]',
        'exec_timeout = "3s"      # Maximum execution time',
        'memory_limit = "16MB"    # Max memory per module',
        'cache_size = 100         # Number of cached modules',
        '',
        '[server]',
        'host = "0.0.0.0"',
        'port = 9091',
      ].join('\n'),
      'edge.toml',
    );
    expect(config.server).toEqual({ host: '0.0.0.0', port: 9091 });
    expect(config.functions).toMatchObject({ execTimeoutMs: 3000, memoryLimitBytes: 16 * 1024 * 1024, cacheSize: 100 });
  });

  it('reads how the node joins its control plane', () => {
    const config = parseEdgeConfig(
      '[edge]\ncontrol_plane = "http://cp:7234"\nnode_id = "edge-01"\ntoken = "t"\nheartbeat_interval = "2s"\n',
      'edge.toml',
    );
    expect(config.edge).toEqual({
      controlPlane: 'http://cp:7234',
      nodeId: 'edge-01',
      token: 't',
      url: undefined,
      heartbeatIntervalMs: 2000,
    });
  });

  it('defaults to loopback port 9091', () => {
    expect(defaultEdgeConfig().server).toEqual({ host: '127.0.0.1', port: 9091 });
  });

  it('names file, line and key of a bad value and of an unknown key', () => {
    let err: unknown;
    try {
      parseEdgeConfig('[server]\nport = 9091\n[runtime]\nexec_timout = "3s"\n', 'edge.toml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).code).toBe('AETHER_E_CONFIG_INVALID');
    expect((err as TerminalError).details).toMatchObject({ file: 'edge.toml', line: 4, key: 'runtime.exec_timout' });
    expect((err as TerminalError).message).toContain('did you mean "exec_timeout"?');
  });
});

/** Unit tests of the CLI's pieces: error format and exit codes, tables, SDK spec of `init`, bind safety. */
import path from 'node:path';
import { aetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';
import { assertSafeBind, isLoopbackHost } from '../serve.js';
import { sdkSpecFor } from './init-command.js';
import type { CliIo } from './io.js';
import { runCli } from './main.js';
import { exitCodeFor, formatCliError } from './report-error.js';
import { formatDuration, formatTable, formatTime, truncate } from './table.js';

function memoryIo(cwd = process.cwd()): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env: {},
    cwd,
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
  };
  return io;
}

describe('error reporting', () => {
  it('prints error[CODE]: message and the hint of the catalogue', () => {
    const text = formatCliError(aetherError('AETHER_E_PORT_IN_USE', 'HTTP port 1 is taken'), false);
    expect(text).toBe(
      'error[AETHER_E_PORT_IN_USE]: HTTP port 1 is taken\n' +
        'hint: another process listens on that port; choose another with --grpc-port/--http-port\n',
    );
  });

  it('prints no hint line when the catalogue has none, and wraps foreign errors as AETHER_E_INTERNAL', () => {
    expect(formatCliError(aetherError('AETHER_E_WF_NOT_FOUND', 'gone'), false)).toBe(
      'error[AETHER_E_WF_NOT_FOUND]: gone\n',
    );
    expect(formatCliError(new Error('boom'), false)).toBe('error[AETHER_E_INTERNAL]: boom\n');
  });

  it('adds details, stack and causes when verbose', () => {
    const err = aetherError('AETHER_E_UNAVAILABLE', 'down', { serverUrl: 'x' }, new Error('ECONNREFUSED'));
    const text = formatCliError(err, true);
    expect(text).toContain('details: {"serverUrl":"x"}');
    expect(text).toContain('caused by: Error: ECONNREFUSED');
  });

  it('exits 2 for usage and configuration errors, 1 for the rest', () => {
    for (const code of [
      'AETHER_E_USAGE',
      'AETHER_E_CONFIG_INVALID',
      'AETHER_E_CONFIG_UNREADABLE',
      'AETHER_E_INSECURE_BIND',
    ] as const) {
      expect(exitCodeFor(aetherError(code, 'x'))).toBe(2);
    }
    for (const code of [
      'AETHER_E_PORT_IN_USE',
      'AETHER_E_UNAVAILABLE',
      'AETHER_E_STORE_LOCKED',
      'AETHER_E_INTERNAL',
    ] as const) {
      expect(exitCodeFor(aetherError(code, 'x'))).toBe(1);
    }
  });
});

describe('runCli in-process', () => {
  it('returns 0 for --help and --version', async () => {
    const io = memoryIo();
    expect(await runCli(['node', 'aether', '--help'], io)).toBe(0);
    expect(io.out).toContain('Usage: aether');
    expect(await runCli(['node', 'aether', '--version'], io)).toBe(0);
    expect(io.out).toMatch(/\d+\.\d+\.\d+/);
  });

  it('returns 2 for a usage error and prints it in the Aether format', async () => {
    const io = memoryIo();
    expect(await runCli(['node', 'aether', 'workflow', 'list', '--limit'], io)).toBe(2);
    expect(io.err).toMatch(/^error\[AETHER_E_USAGE\]: option '--limit <n>' argument missing\n/);
  });

  it('rejects a functions YAML for serve with a usage error', async () => {
    const io = memoryIo();
    expect(await runCli(['node', 'aether', '-c', 'functions.yaml', 'serve'], io)).toBe(2);
    expect(io.err).toContain('error[AETHER_E_USAGE]: functions.yaml is a functions file');
  });
});

describe('tables', () => {
  it('pads columns to their widest cell and trims line ends', () => {
    expect(
      formatTable(
        ['ID', 'STATE'],
        [
          ['a', 'RUNNING'],
          ['long-id', 'X'],
        ],
      ),
    ).toBe('ID       STATE\na        RUNNING\nlong-id  X\n');
  });

  it('formats times, durations and long text', () => {
    expect(formatTime('2025-01-02T03:04:05.678Z')).toBe('2025-01-02 03:04:05');
    expect(formatTime(null)).toBe('-');
    expect(formatDuration(35)).toBe('35ms');
    expect(formatDuration(1234)).toBe('1.2s');
    expect(formatDuration(123_000)).toBe('2m03s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(truncate('abcdef', 4)).toBe('abc…');
  });
});

describe('init SDK dependency', () => {
  const sdk = '/repo/packages/sdk';
  it('points at the local SDK by a relative path inside the checkout', () => {
    expect(sdkSpecFor('/repo/examples/my-app', sdk)).toBe('file:../../packages/sdk');
  });
  it('points at the local SDK by an absolute path outside the checkout', () => {
    expect(sdkSpecFor('/tmp/my-app', sdk)).toBe(`file:${path.resolve(sdk)}`);
  });
  it('uses the published package outside a checkout', () => {
    expect(sdkSpecFor('/tmp/my-app', undefined)).toBe('^0.1.0');
  });
});

describe('bind safety', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com', '128.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('refuses a public bind without a token unless insecure', () => {
    expect(() => assertSafeBind('0.0.0.0', undefined, false)).toThrow(
      expect.objectContaining({ code: 'AETHER_E_INSECURE_BIND' }),
    );
    expect(() => assertSafeBind('0.0.0.0', 'tok', false)).not.toThrow();
    expect(() => assertSafeBind('0.0.0.0', undefined, true)).not.toThrow();
    expect(() => assertSafeBind('127.0.0.1', undefined, false)).not.toThrow();
  });
});

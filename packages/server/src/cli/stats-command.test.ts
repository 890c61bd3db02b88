/** `aether stats` printed once: the table and --json from a node's GET /api/orchestrator, flags and errors. */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AetherError } from '@aether/core';
import type { InstanceStatus, OrchestratorStatus, ProcessFunctionStatus } from '@aether/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../../tests/support/processes.js';
import type { CliIo } from './io.js';
import { parseStatsInterval, runStats, type StatsOptions } from './stats-command.js';
import { formatInstanceCounts, formatLatency, formatMemory } from './stats-format.js';

const MiB = 1024 * 1024;

function instance(id: string, state: InstanceStatus['state'], extra: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    id,
    pid: 100,
    port: 40000,
    state,
    inFlight: 0,
    connections: 0,
    memoryBytes: 20 * MiB,
    startedAt: '2025-06-01T09:00:00.000Z',
    startMs: 12,
    exit: null,
    ...extra,
  };
}

function fn(id: string, extra: Partial<ProcessFunctionStatus>): ProcessFunctionStatus {
  return {
    id,
    runtime: 'process',
    triggerPort: 8080,
    handlerPath: `/opt/handlers/${id}.py`,
    memoryLimitMb: 128,
    timeoutMs: 30_000,
    isolation: 'none',
    scaling: { min: 1, max: 4, targetConcurrency: 10, idleTimeoutS: 60 },
    warm: 0,
    generation: 1,
    instances: [],
    restarts: 0,
    lastExit: null,
    requests: { total: 0, errors: 0, timeouts: 0, rps: 0, p50Ms: null, p99Ms: null },
    memoryBytes: null,
    ...extra,
  };
}

const crash = {
  reason: 'crashed' as const,
  code: 1,
  signal: null,
  at: '2025-06-01T09:57:57.000Z',
  message: 'exited with code 1',
  stderrTail: 'Traceback (most recent call last):\nKeyError: x\n',
};

const STATUS: OrchestratorStatus = {
  at: '2025-06-01T10:00:00.000Z',
  file: '/srv/functions.yaml',
  orchestrator: {
    shmBufferSize: 4 * MiB,
    warmPoolSize: 2,
    restoreTimeoutMs: 2000,
    snapshotDir: '/tmp/snapshots',
    startTimeoutMs: 10_000,
  },
  limits: { cgroup: 'v2', detail: 'cgroup v2 at /sys/fs/cgroup/aether' },
  notes: ['warm_pool_size: CRIU snapshots are not available on this host; warm instances are started processes'],
  functions: [
    fn('api', {
      triggerPort: 8080,
      instances: [
        instance('api-1', 'READY', { pid: 101, port: 40001 }),
        instance('api-2', 'READY', { pid: 102, port: 40002 }),
        instance('api-3', 'BUSY', { pid: 103, port: 40003, inFlight: 2 }),
      ],
      requests: { total: 1200, errors: 3, timeouts: 1, rps: 12.5, p50Ms: 3.2, p99Ms: 48 },
      memoryBytes: 64 * MiB,
    }),
    fn('worker', {
      triggerPort: 8081,
      instances: [
        instance('worker-2', 'STARTING', { pid: 202, memoryBytes: null, startMs: null }),
        instance('worker-1', 'FAILED', { pid: 201, exit: crash }),
      ],
      restarts: 2,
      lastExit: crash,
      memoryBytes: 3.5 * MiB,
    }),
  ],
};

function memoryIo(env: NodeJS.ProcessEnv = {}): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env,
    cwd: process.cwd(),
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
  };
  return io;
}

async function rejection(promise: Promise<unknown>): Promise<AetherError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  return err as AetherError;
}

describe('aether stats against a node', () => {
  let server: Server;
  let url: string;
  let answer: unknown = STATUS;
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
      const found = req.url === '/api/orchestrator';
      res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(found ? answer : { error: { code: 'AETHER_E_NOT_FOUND', message: 'no route' } }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  it('prints one row per function (instances by state, rates, latencies, memory, restarts, last exit), then the notes', async () => {
    answer = STATUS;
    const io = memoryIo();
    expect(await runStats({ server: url }, io)).toBe(0);
    expect(io.out).toBe(
      [
        'FUNCTION  PORT  INSTANCES             REQ/S  P50    P99   ERRORS         MEMORY  RESTARTS  LAST EXIT',
        'api       8080  2 ready, 1 busy       12.5   3.2ms  48ms  3 (1 timeout)  64 MB   0         -',
        'worker    8081  1 starting, 1 failed  0.0    -      -     0              3.5 MB  2         exited with code 1, 2m03s ago',
        '',
        'note: warm_pool_size: CRIU snapshots are not available on this host; warm instances are started processes',
        '',
      ].join('\n'),
    );
    expect(io.err).toBe('');
  });

  it('says so when the orchestrator runs no functions', async () => {
    answer = { ...STATUS, notes: [], functions: [] };
    const io = memoryIo();
    expect(await runStats({ server: url }, io)).toBe(0);
    expect(io.out).toBe('no functions: the orchestrator runs none\n');
  });

  it('prints the raw answer with --json, and finds the node through AETHER_SERVER with the AETHER_TOKEN bearer token', async () => {
    answer = STATUS;
    requests.length = 0;
    const io = memoryIo({ AETHER_SERVER: url, AETHER_TOKEN: 's3cret' });
    expect(await runStats({ json: true }, io)).toBe(0);
    expect(JSON.parse(io.out)).toStrictEqual(STATUS);
    expect(requests).toStrictEqual(['GET /api/orchestrator Bearer s3cret']);
  });

  it('fails with AETHER_E_INTERNAL when the answer is not an orchestrator status', async () => {
    answer = { workflows: [] };
    const err = await rejection(runStats({ server: url }, memoryIo()));
    expect(err.code).toBe('AETHER_E_INTERNAL');
    expect(err.message).toContain('/api/orchestrator');
  });

  it('fails with AETHER_E_UNAVAILABLE, naming the address, when no node listens there', async () => {
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const err = await rejection(runStats({ server: deadUrl }, memoryIo()));
    expect(err.code).toBe('AETHER_E_UNAVAILABLE');
    expect(err.details.serverUrl).toBe(deadUrl);
  });
});

describe('aether stats flags', () => {
  it('reads --interval as a duration or milliseconds, from 100ms to 1h', () => {
    expect(parseStatsInterval(undefined)).toBe(1000);
    expect(parseStatsInterval('500ms')).toBe(500);
    expect(parseStatsInterval('2s')).toBe(2000);
    expect(parseStatsInterval('1500')).toBe(1500);
    expect(parseStatsInterval('1h')).toBe(3_600_000);
    for (const bad of ['50ms', '0', 'fast', '-1s', '2h', '']) {
      expect(() => parseStatsInterval(bad), bad).toThrow(
        expect.objectContaining({ code: 'AETHER_E_USAGE', details: { flag: '--interval' } }),
      );
    }
  });

  it.each<[string, StatsOptions, string]>([
    ['--json with --dashboard', { dashboard: true, json: true }, '--json'],
    ['--interval without --dashboard', { interval: '2s' }, '--interval'],
    ['a bad --interval with --dashboard', { dashboard: true, interval: 'soon' }, '--interval'],
  ])('refuses %s with AETHER_E_USAGE before asking the node', async (_what, options, flag) => {
    // No node listens on port 9: asking it would fail with AETHER_E_UNAVAILABLE instead.
    const err = await rejection(runStats({ server: 'http://127.0.0.1:9', ...options }, memoryIo()));
    expect(err.code).toBe('AETHER_E_USAGE');
    expect(err.details.flag).toBe(flag);
  });
});

describe('stats cells', () => {
  it('counts instances in the order of their life, and formats memory in binary MB and latencies', () => {
    expect(formatInstanceCounts([])).toBe('none');
    expect(
      formatInstanceCounts([
        instance('a', 'FAILED'),
        instance('b', 'BUSY'),
        instance('c', 'STARTING'),
        instance('d', 'BUSY'),
      ]),
    ).toBe('1 starting, 2 busy, 1 failed');
    expect(formatMemory(null)).toBe('-');
    expect(formatMemory(512 * 1024)).toBe('0.5 MB');
    expect(formatMemory(256 * MiB)).toBe('256 MB');
    expect(formatLatency(null)).toBe('-');
    expect(formatLatency(0.42)).toBe('0.4ms');
    expect(formatLatency(35.4)).toBe('35ms');
    expect(formatLatency(1234)).toBe('1.2s');
  });
});

import type { FunctionRecord, FunctionService, NodeFunctions } from '@aether/functions';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { ProcessHost } from '../process-host.js';
import { createFunctionRequestStats, registerFunctionStatsRoute } from './function-stats.js';

describe('function request stats', () => {
  it('counts requests and errors and reads percentiles from the latency buckets', () => {
    const stats = createFunctionRequestStats();
    expect(stats.get('f')).toEqual({ requests: 0, errors: 0, p50Ms: null, p99Ms: null });
    for (let i = 0; i < 98; i++) stats.record('f', 200, 0.002);
    stats.record('f', 500, 0.1);
    stats.record('f', 503, 0.1);
    const s = stats.get('f');
    expect(s.requests).toBe(100);
    expect(s.errors).toBe(2);
    // Within one bucket (about 12 %) above the true value.
    expect(s.p50Ms).toBeGreaterThanOrEqual(2);
    expect(s.p50Ms).toBeLessThan(2.25);
    expect(s.p99Ms).toBeGreaterThanOrEqual(100);
    expect(s.p99Ms).toBeLessThan(112.5);
    expect(stats.get('other').requests).toBe(0);
  });
});

describe('GET /api/functions/stats', () => {
  it('joins WASM, node and process functions with their counters, instances and cold starts', async () => {
    const stats = createFunctionRequestStats();
    stats.record('wasm-a', 200, 0.001);
    stats.record('node-b', 502, 0.01);
    const wasm = { id: 'wasm-a', version: 3 } as FunctionRecord;
    const app = Fastify();
    registerFunctionStatsRoute(app, {
      stats,
      functions: { list: () => [wasm] } as unknown as FunctionService,
      nodeFunctions: {
        stats: () => [
          {
            id: 'node-b',
            version: 2,
            instances: [{ state: 'READY' }, { state: 'READY' }, { state: 'DRAINING' }],
            starting: 1,
            queued: 0,
            coldStarts: 4,
          },
        ],
      } as unknown as NodeFunctions,
      processes: {
        status: () => ({
          functions: [
            {
              id: 'proc-c',
              generation: 1,
              instances: [{ state: 'READY' }],
              requests: { total: 7, errors: 1, timeouts: 0, rps: 0.7, p50Ms: 1.5, p99Ms: 9 },
            },
          ],
        }),
      } as unknown as ProcessHost,
    });
    const res = await app.inject({ method: 'GET', url: '/api/functions/stats' });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ functions: Record<string, unknown>[] }>();
    expect(body.functions).toEqual([
      expect.objectContaining({
        id: 'node-b',
        runtime: 'node',
        version: 2,
        instances: { READY: 2, DRAINING: 1, STARTING: 1 },
        requests_total: 1,
        errors_total: 1,
        cold_starts: 4,
      }),
      {
        id: 'proc-c',
        runtime: 'process',
        version: 1,
        instances: { READY: 1 },
        requests_total: 7,
        errors_total: 1,
        p50_ms: 1.5,
        p99_ms: 9,
        cold_starts: null,
      },
      expect.objectContaining({
        id: 'wasm-a',
        runtime: 'wasm',
        version: 3,
        instances: {},
        requests_total: 1,
        errors_total: 0,
      }),
    ]);
    await app.close();
  });

  it('answers an empty list on a node without functions', async () => {
    const app = Fastify();
    registerFunctionStatsRoute(app, {
      stats: createFunctionRequestStats(),
      functions: { list: () => [] } as unknown as FunctionService,
    });
    const res = await app.inject({ method: 'GET', url: '/api/functions/stats' });
    expect(res.json()).toMatchObject({ functions: [] });
    await app.close();
  });
});

/**
 * End-to-end tests of WASM functions on a node started in-process: seed 002's
 * deploy / execute / manifest / delete round trip with its JSON shapes, the
 * compiled-module cache, limits (an infinite loop stopped at its timeout while
 * other requests keep being served, a memory hog stopped), bad input with
 * stable codes, and a restart that keeps deployed functions and their code.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultServerConfig, type ResolvedServerConfig } from '@aether/core';
import { startServer, type RunningServer } from '@aether/server';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { compileC } from '../packages/functions/src/test-support/compile-wasm.js';
import { ROOT } from './support/processes.js';

const nodes: RunningServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A module of examples/wasm, built by `npm run build` (scripts/build-wasm.sh). */
function example(name: string): Buffer {
  const file = path.join(ROOT, 'examples/wasm/build', `${name}.wasm`);
  if (!existsSync(file))
    throw new Error(`${file} is missing: run \`npm run build\` (needs clang, see scripts/setup-system.sh)`);
  return readFileSync(file);
}

function config(patch: (c: ResolvedServerConfig) => void = () => {}): ResolvedServerConfig {
  const c = defaultServerConfig();
  c.server.grpcPort = 0;
  c.server.httpPort = 0;
  c.persistence.mode = 'memory';
  patch(c);
  return c;
}

interface Node {
  node: RunningServer;
  url: string;
  post(route: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  get(route: string): Promise<{ status: number; body: any }>;
  deploy(name: string, wasm: Buffer, extra?: Record<string, unknown>): Promise<{ status: number; body: any }>;
}

async function start(c: ResolvedServerConfig): Promise<Node> {
  const node = await startServer(c);
  nodes.push(node);
  const url = `http://127.0.0.1:${node.httpPort}`;
  const post = async (route: string, body: unknown) => {
    const res = await fetch(url + route, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json(), headers: res.headers };
  };
  return {
    node,
    url,
    post,
    async get(route) {
      const res = await fetch(url + route);
      return { status: res.status, body: await res.json() };
    },
    deploy: (name, wasm, extra = {}) => post('/api/functions', { name, wasm_b64: wasm.toString('base64'), ...extra }),
  };
}

describe('WASM functions over HTTP', () => {
  it("deploys, executes, lists and deletes a function with seed 002's JSON shapes", async () => {
    const n = await start(config());
    const deployed = await n.deploy('hello_world', example('hello'));
    expect(deployed.status).toBe(201);
    expect(deployed.body).toMatchObject({
      status: 'success',
      function_id: 'hello_world',
      id: 'hello_world',
      name: 'hello_world',
    });
    expect(deployed.body.deployed_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const run = await n.post('/execute', { function: 'hello_world', input: { msg: 'Hello from Aether!' } });
    expect(run.status).toBe(200);
    expect(run.body.output).toBe('Hello from Aether!');
    expect(typeof run.body.execution_time_ms).toBe('number');
    expect(run.body.memory_used_kb).toBeGreaterThan(0);
    expect(Object.keys(run.body).sort()).toEqual(['execution_time_ms', 'memory_used_kb', 'output']);

    const manifest = await n.get('/api/functions/manifest');
    expect(manifest.body).toEqual({
      functions: [
        {
          name: 'hello_world',
          size_kb: Math.ceil(example('hello').length / 1024),
          uploaded_at: deployed.body.deployed_at,
        },
      ],
    });
    const detail = await n.get('/api/functions/hello_world');
    expect(detail.body).toMatchObject({
      id: 'hello_world',
      runtime: 'wasm',
      version: 1,
      size_bytes: example('hello').length,
    });

    const del = await fetch(`${n.url}/api/functions/hello_world`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await n.get('/api/functions/manifest')).body).toEqual({ functions: [] });
    const gone = await n.post('/execute', { function: 'hello_world', input: {} });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('AETHER_E_FN_NOT_FOUND');
  });

  it('returns stdout parsed as JSON when it is JSON, and a redeploy makes a new version', async () => {
    const n = await start(config());
    await n.deploy('t', example('transform'));
    const run = await n.post('/execute', {
      function: 't',
      input: {
        items: [
          { name: 'tea', price: 2.5, qty: 2 },
          { name: 'cake', price: 1 },
        ],
        currency: 'EUR',
      },
    });
    expect(run.body.output).toEqual({ count: 2, total: 6, currency: 'EUR', names: ['TEA', 'CAKE'] });

    const again = await n.deploy('t', example('echo'));
    expect(again.body.status).toBe('success');
    expect((await n.get('/api/functions/t')).body.version).toBe(2);
    expect((await n.post('/execute', { function: 't', input: [1, { a: 'b' }] })).body.output).toEqual([1, { a: 'b' }]);
  });

  it('reports a failing function with its exit code and stderr', async () => {
    const n = await start(config());
    await n.deploy('t', example('transform'));
    const bad = await n.post('/execute', { function: 't', input: { items: 'nope' } });
    expect(bad.status).toBe(500);
    expect(bad.body.error.code).toBe('AETHER_E_WASM_EXIT');
    expect(bad.body.error.details.exitCode).toBe(2);
    expect(bad.body.error.details.stderr).toContain('transform:');
  });

  it('compiles a module once: deploy warms the cache, executions hit it, a cold node misses once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-wasm-cache-'));
    dirs.push(dir);
    const db = path.join(dir, 'aether.db');
    const durable = config((c) => {
      c.persistence.mode = 'state-action-log';
      c.server.dbPath = db;
    });
    const first = await start(durable);
    await first.deploy('fib', example('fib'));
    const before = (await first.get('/health')).body.wasm.cache;
    await first.post('/execute', { function: 'fib', input: { n: 10 } });
    const after = (await first.get('/health')).body.wasm.cache;
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(0);
    await first.node.close();

    // The restarted node has the function and its code, but no compiled module yet.
    const second = await start(durable);
    const cold = (await second.get('/health')).body.wasm.cache;
    expect((await second.post('/execute', { function: 'fib', input: { n: 20 } })).body.output).toEqual({
      n: 20,
      fib: 6765,
    });
    expect((await second.post('/execute', { function: 'fib', input: { n: 21 } })).body.output).toEqual({
      n: 21,
      fib: 10946,
    });
    const warm = (await second.get('/health')).body.wasm.cache;
    expect(warm.misses - cold.misses).toBe(1);
    expect(warm.hits - cold.hits).toBe(1);
    expect((await second.get('/api/functions/manifest')).body.functions.map((f: any) => f.name)).toEqual(['fib']);
  });

  it('stops an infinite loop at its timeout while concurrent requests keep succeeding', async () => {
    const n = await start(config((c) => (c.functions.execTimeoutMs = 3000)));
    await n.deploy('hello_world', example('hello'));
    await n.deploy('spin', example('loop'), { timeout_ms: 700 });
    const spinning = n.post('/execute', { function: 'spin', input: {} });
    const hellos = Array.from({ length: 30 }, (_, i) =>
      n.post('/execute', { function: 'hello_world', input: { msg: `hi ${i}` } }),
    );
    const results = await Promise.all(hellos);
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(200);
      expect(r.body.output).toBe(`hi ${i}`);
    }
    const stopped = await spinning;
    expect(stopped.status).toBe(504);
    expect(stopped.body.error.code).toBe('AETHER_E_WASM_TIMEOUT');
    // The pool replaced the stopped worker and keeps serving.
    expect((await n.post('/execute', { function: 'hello_world', input: { msg: 'after' } })).body.output).toBe('after');
    const workers = (await n.get('/health')).body.wasm.workers;
    expect(workers.timeouts).toBe(1);
    expect(workers.size).toBeGreaterThan(0);
  });

  it('stops a memory hog at the memory limit', async () => {
    const n = await start(config());
    await n.deploy('hog', example('hog'), { memory_limit_mb: 8 });
    const r = await n.post('/execute', { function: 'hog', input: {} });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('AETHER_E_WASM_MEMORY_LIMIT');
    // The node-wide default (16 MB) applies to a function without its own limit.
    await n.deploy('hog16', example('hog'));
    const r16 = await n.post('/execute', { function: 'hog16', input: {} });
    expect(r16.body.error.code).toBe('AETHER_E_WASM_MEMORY_LIMIT');
    expect(r16.body.error.details.limitBytes).toBe(16 * 1024 * 1024);
    await n.deploy('hello_world', example('hello'));
    expect((await n.post('/execute', { function: 'hello_world', input: { msg: 'still here' } })).body.output).toBe(
      'still here',
    );
  });

  it('refuses bad deploys and bad calls with 4xx and stable codes, and stores nothing', async () => {
    const n = await start(config((c) => (c.functions.maxModuleBytes = 30 * 1024)));
    const cases: [unknown, number, string][] = [
      [{ name: 'f', wasm_b64: 'not base64!!' }, 400, 'AETHER_E_WASM_INVALID_BASE64'],
      [
        { name: 'f', wasm_b64: Buffer.from('hello, this is not wasm').toString('base64') },
        400,
        'AETHER_E_WASM_INVALID_MODULE',
      ],
      [
        { name: 'f', wasm_b64: example('hello').subarray(0, 100).toString('base64') },
        400,
        'AETHER_E_WASM_INVALID_MODULE',
      ],
      [
        {
          name: 'f',
          wasm_b64: Buffer.from(compileC('int add(int a, int b) { return a + b; }', ['-mexec-model=reactor'])).toString(
            'base64',
          ),
        },
        400,
        'AETHER_E_WASM_NO_START',
      ],
      [{ name: 'f', wasm_b64: example('fib').toString('base64') }, 413, 'AETHER_E_WASM_TOO_LARGE'],
      [{ name: 'bad name!', wasm_b64: example('echo').toString('base64') }, 400, 'AETHER_E_FN_INVALID'],
      [{ name: 'f' }, 400, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: example('echo').toString('base64'), colour: 'red' }, 400, 'AETHER_E_FN_INVALID'],
      [
        { name: 'f', runtime: 'python', wasm_b64: example('echo').toString('base64') },
        400,
        'AETHER_E_FN_RUNTIME_UNSUPPORTED',
      ],
      // A node function takes its code from a zip upload, not wasm_b64.
      [{ name: 'f', runtime: 'node', wasm_b64: example('echo').toString('base64') }, 400, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: example('echo').toString('base64'), memory_limit_mb: 0 }, 400, 'AETHER_E_FN_INVALID'],
      ['{"name": "f", "wasm_b64": ', 400, 'AETHER_E_INVALID_ARGUMENT'],
    ];
    for (const [body, status, code] of cases) {
      const r = await n.post('/api/functions', body);
      expect({ body, status: r.status, code: r.body.error?.code }).toEqual({ body, status, code });
    }
    expect((await n.get('/api/functions/manifest')).body).toEqual({ functions: [] });

    const missing = await n.post('/execute', { function: 'nope', input: {} });
    expect([missing.status, missing.body.error.code]).toEqual([404, 'AETHER_E_FN_NOT_FOUND']);
    const noName = await n.post('/execute', { input: {} });
    expect([noName.status, noName.body.error.code]).toEqual([400, 'AETHER_E_FN_INVALID']);
    expect((await n.get('/api/functions/nope')).body.error.code).toBe('AETHER_E_FN_NOT_FOUND');
    const del = await fetch(`${n.url}/api/functions/nope`, { method: 'DELETE' });
    expect(del.status).toBe(404);
    // The node is still healthy and serves a good deploy.
    expect((await n.deploy('echo', example('echo'))).status).toBe(201);
  });

  it('serves the module bytes to edge nodes', async () => {
    const n = await start(config());
    await n.deploy('echo', example('echo'));
    const res = await fetch(`${n.url}/api/functions/echo/wasm`);
    expect(res.headers.get('content-type')).toBe('application/wasm');
    expect(Buffer.from(await res.arrayBuffer()).equals(example('echo'))).toBe(true);
  });
});

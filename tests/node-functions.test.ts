/**
 * Node functions through the gateway of a node started in-process (seed
 * 001): the quick start (create, upload a zip, invoke with sub-path and
 * query), both handler shapes, streaming bodies, 200 concurrent requests to a
 * function at zero, scale to max and back to zero, a rollout under constant
 * load with zero failed requests, a throwing handler (500, instance kept), an
 * exiting handler (replaced), bad zips with their codes, env vars that
 * stay with their function, and per-function scaling (checked, shown, kept
 * across a restart, and obeyed: max instances and min instances).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultServerConfig } from '@aether/core';
import { startServer, type RunningServer } from '@aether/server';
import { Client, request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildZip, deflatedZeros } from '../packages/functions/src/code/test-zips.js';
import { waitFor } from './support/processes.js';

const nodes: RunningServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A node on free ports with the defaults `adjust` changes; closed after the test. */
async function startNode(
  adjust: (config: ReturnType<typeof defaultServerConfig>) => void,
  options?: Parameters<typeof startServer>[1],
) {
  const config = defaultServerConfig();
  config.server.grpcPort = 0;
  config.server.httpPort = 0;
  adjust(config);
  const n = await startServer(config, options);
  nodes.push(n);
  return { n, base: `http://127.0.0.1:${n.httpPort}` };
}

/** A node on the memory tier, with node-function scaling defaults when given. */
function node(
  scaling?: { min?: number; max?: number; targetConcurrency?: number; idleTimeoutS?: number },
  maxQueue?: number,
) {
  return startNode((c) => (c.persistence.mode = 'memory'), {
    nodeFunctionDefaults: scaling && {
      scaling: { min: 0, max: 4, targetConcurrency: 16, idleTimeoutS: 60, ...scaling },
      ...(maxQueue !== undefined && { maxQueue }),
    },
  });
}

/** Starts a node on SQLite in `dir` (again, after a restart). */
const onSqlite = (dir: string) => () => startNode((c) => (c.server.dbPath = path.join(dir, 'aether.db')));

/** A zip of `files` made with the zip CLI. */
function zipOf(files: Record<string, string>): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-zip-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  execFileSync('zip', ['-q', '-r', 'code.zip', ...Object.keys(files)], { cwd: dir });
  return execFileSync('cat', [path.join(dir, 'code.zip')]);
}

async function create(base: string, name: string, env: Record<string, string> = {}) {
  const res = await fetch(`${base}/api/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, runtime: 'node', env_vars: env }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; version: number };
}

/** A JSON request to the node's API: its status and body. */
async function api(base: string, method: string, route: string, body?: unknown) {
  const res = await fetch(`${base}${route}`, {
    method,
    ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}

async function upload(base: string, id: string, zip: Buffer) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(zip)]), 'code.zip');
  const res = await fetch(`${base}/api/functions/${id}/code`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const HELLO = `module.exports = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ method: req.method, url: req.url, secret: process.env.SECRET ?? null, pid: process.pid }));
};`;

describe('node functions (seed 001)', () => {
  it('runs the quick start: create with env vars, upload a zip, invoke with sub-path and query', async () => {
    const { base } = await node();
    const created = await create(base, 'hello', { SECRET: '123' });
    expect(created).toMatchObject({ id: 'hello', version: 1 });
    const up = await upload(base, 'hello', zipOf({ 'handler.js': HELLO }));
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ id: 'hello', version: 2 });
    const res = await fetch(`${base}/functions/hello/users/7?x=1&y=2`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ method: 'GET', url: '/users/7?x=1&y=2', secret: '123' });
    const root = await fetch(`${base}/functions/hello/`);
    expect(((await root.json()) as { url: string }).url).toBe('/');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/aether_function_cold_start_seconds_count\{function="hello"\} [1-9]/);
    expect(metrics).toMatch(/aether_function_request_duration_seconds_count\{function="hello",status="2xx"\} 2/);
    expect(metrics).toMatch(/aether_function_instances\{function="hello",runtime="node",state="READY"\} 1/);
    expect(metrics).toMatch(/aether_function_queue_depth\{function="hello"\} 0/);
    const list = (await (await fetch(`${base}/api/functions`)).json()) as {
      functions: { id: string; runtime: string }[];
    };
    expect(list.functions).toContainEqual(expect.objectContaining({ id: 'hello', runtime: 'node' }));
  });

  it('relays /functions requests on the HTTP port itself, asking for the API token like every route', async () => {
    const { n, base } = await startNode((c) => {
      c.persistence.mode = 'memory';
      c.auth.token = 's3cret';
    });
    const auth = { authorization: 'Bearer s3cret' };
    const created = await fetch(`${base}/api/functions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'hello', runtime: 'node', env_vars: { SECRET: 'k' } }),
    });
    expect(created.status).toBe(201);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(zipOf({ 'handler.js': HELLO }))]), 'code.zip');
    expect(
      (await fetch(`${base}/api/functions/hello/code`, { method: 'POST', headers: auth, body: form })).status,
    ).toBe(201);
    const relay = n.gatewayRelay!;
    const before = relay.relayed;
    // Without the token: handed to the API app, which answers 401 (nothing reaches the function).
    const refused = await request(`${base}/functions/hello/`);
    expect(refused.statusCode).toBe(401);
    expect(((await refused.body.json()) as { error: { code: string } }).error.code).toBe('AETHER_E_UNAUTHENTICATED');
    expect(relay.relayed).toBe(before);
    // With it, on one keep-alive connection: every request relayed.
    const client = new Client(base);
    try {
      for (const p of ['/a', '/b?c=1', '/']) {
        const res = await client.request({ method: 'GET', path: `/functions/hello${p}`, headers: auth });
        expect(res.statusCode).toBe(200);
        expect(await res.body.json()).toMatchObject({ url: p, secret: 'k' });
      }
      expect(relay.relayed).toBe(before + 3);
      // Unknown functions are the API's to answer.
      const missing = await client.request({ method: 'GET', path: '/functions/nope/', headers: auth });
      expect(missing.statusCode).toBe(404);
      expect(((await missing.body.json()) as { error: { code: string } }).error.code).toBe('AETHER_E_FN_NOT_FOUND');
    } finally {
      await client.close();
    }
    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/aether_function_request_duration_seconds_count\{function="hello",status="2xx"\} 3/);
  });

  it('queues requests up to max_waiting and answers the rest 503 with Retry-After, losing none', async () => {
    // The handler answers only when the test writes a byte to the connection it opens to `gate`.
    const held: Socket[] = [];
    const gate = createNetServer((s) => void held.push(s));
    gate.listen(0, '127.0.0.1');
    await once(gate, 'listening');
    try {
      const { n, base } = await node({ min: 1, max: 1, targetConcurrency: 1 }, 2);
      const port = (gate.address() as AddressInfo).port;
      await create(base, 'gated', { GATE: String(port) });
      const handler = `const net = require('node:net');
        module.exports = (req, res) => {
          const s = net.connect(Number(process.env.GATE), '127.0.0.1');
          s.once('data', () => { s.destroy(); res.end('done'); });
        };`;
      // min 1: the upload leaves one ready instance.
      expect((await upload(base, 'gated', zipOf({ 'handler.js': handler }))).status).toBe(201);
      const first = request(`${base}/functions/gated/1`);
      await waitFor(() => held.length === 1, 'the first request in the handler', 10_000);
      const rest = Array.from({ length: 5 }, (_, i) => request(`${base}/functions/gated/${i + 2}`));
      // max_waiting 2 (below): two wait, three are refused at once.
      const refused: { status: number; retry: unknown; code: string }[] = [];
      for (const r of rest) {
        void r.then(async (res) => {
          if (res.statusCode === 503)
            refused.push({
              status: res.statusCode,
              retry: res.headers['retry-after'],
              code: ((await res.body.json()) as { error: { code: string } }).error.code,
            });
        });
      }
      await waitFor(() => refused.length === 3, 'three refusals', 10_000);
      expect(refused).toEqual(
        Array.from({ length: 3 }, () => ({ status: 503, retry: '1', code: 'AETHER_E_FN_OVERLOADED' })),
      );
      expect(n.nodeFunctions.stats().find((s) => s.id === 'gated')?.queued).toBe(2);
      // Let every handler answer, including the two that waited.
      const answered: number[] = [];
      for (const r of [first, ...rest]) void r.then((res) => res.statusCode === 200 && answered.push(res.statusCode));
      await waitFor(
        () => {
          for (const s of held.splice(0)) s.write('go');
          return answered.length === 3;
        },
        'three answers',
        10_000,
      );
    } finally {
      for (const s of held) s.destroy();
      gate.close();
    }
  });

  it('streams request and response bodies through a web-standard fetch handler', async () => {
    const { base } = await node();
    await create(base, 'echo');
    const handler = `module.exports = { async fetch(request) {
      const body = new Uint8Array(await request.arrayBuffer());
      let sum = 0; for (const b of body) sum = (sum + b) % 65521;
      return new Response(JSON.stringify({ bytes: body.length, sum, method: request.method, ct: request.headers.get('content-type'), url: request.url }), { status: 201, headers: { 'content-type': 'application/json', 'x-echo': 'yes' } });
    } };`;
    expect((await upload(base, 'echo', zipOf({ 'handler.js': handler }))).status).toBe(201);
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    let sum = 0;
    for (const b of payload) sum = (sum + b) % 65521;
    const res = await fetch(`${base}/functions/echo/upload`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: payload,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(await res.json()).toEqual({
      bytes: payload.length,
      sum,
      method: 'PUT',
      ct: 'application/octet-stream',
      url: `${base}/upload`,
    });
  });

  it('serves 200 concurrent requests to a function at zero, rises to max, and returns to zero after idle', async () => {
    const { n, base } = await node({ min: 0, max: 3, targetConcurrency: 4, idleTimeoutS: 1 });
    await create(base, 'slow');
    // Sandboxed instances all see themselves as pid 2: tell them apart by AETHER_INSTANCE_ID.
    const handler = `module.exports = (req, res) => setTimeout(() => res.end(process.env.AETHER_INSTANCE_ID), 50);`;
    expect((await upload(base, 'slow', zipOf({ 'handler.js': handler }))).status).toBe(201);
    // The rollout's first instance goes idle and stops: the function is at zero.
    await waitFor(() => n.nodeFunctions.stats()[0]?.instances.length === 0, 'scale to zero', 20_000);
    const answers = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const r = await fetch(`${base}/functions/slow/`);
        return [r.status, await r.text()] as const;
      }),
    );
    expect(answers.filter(([s]) => s !== 200)).toEqual([]);
    expect(new Set(answers.map(([, instance]) => instance)).size).toBe(3);
    await waitFor(() => n.nodeFunctions.stats()[0]?.instances.length === 0, 'back to zero', 20_000);
  });

  it('rolls out a new version under constant load with zero failed requests', async () => {
    const { base } = await node({ min: 1, max: 2, targetConcurrency: 8, idleTimeoutS: 60 });
    await create(base, 'roll');
    const version = (v: string): Buffer =>
      zipOf({ 'handler.js': `module.exports = (req, res) => res.end(${JSON.stringify(v)});` });
    expect((await upload(base, 'roll', version('v1'))).status).toBe(201);
    let stop = false;
    const seen = new Set<string>();
    const failures: string[] = [];
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const r = await fetch(`${base}/functions/roll/`);
          const text = await r.text();
          if (r.status === 200) seen.add(text);
          else failures.push(`${r.status} ${text}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    await waitFor(() => seen.has('v1'), 'v1 traffic');
    expect((await upload(base, 'roll', version('v2'))).status).toBe(201);
    await waitFor(() => seen.has('v2'), 'v2 traffic');
    expect((await upload(base, 'roll', version('v3'))).status).toBe(201);
    await waitFor(() => seen.has('v3'), 'v3 traffic');
    stop = true;
    await Promise.all(load);
    expect(failures).toEqual([]);
  });

  it('answers 500 when the handler throws and keeps the instance; replaces an instance that exits', async () => {
    const { n, base } = await node({ min: 1, max: 1 });
    await create(base, 'flaky');
    const handler = `module.exports = (req, res) => {
      if (req.url === '/throw') throw new Error('boom in handler');
      if (req.url === '/exit') process.exit(3);
      res.end(process.env.AETHER_INSTANCE_ID);
    };`;
    expect((await upload(base, 'flaky', zipOf({ 'handler.js': handler }))).status).toBe(201);
    const first = await (await fetch(`${base}/functions/flaky/`)).text();
    const thrown = await fetch(`${base}/functions/flaky/throw`);
    expect(thrown.status).toBe(500);
    expect(await thrown.json()).toMatchObject({
      error: { code: 'AETHER_E_FN_HANDLER_ERROR', message: expect.stringContaining('boom in handler') },
    });
    expect(await (await fetch(`${base}/functions/flaky/`)).text()).toBe(first);
    const exited = await fetch(`${base}/functions/flaky/exit`);
    expect(exited.status).toBe(502);
    await waitFor(() => {
      const instances = n.nodeFunctions.stats()[0]?.instances ?? [];
      return instances.length === 1 && instances[0]!.state === 'READY' && instances[0]!.id !== first;
    }, 'a replacement');
    const after = await fetch(`${base}/functions/flaky/`);
    expect(after.status).toBe(200);
    expect(await after.text()).not.toBe(first);
  });

  it('rejects bad code with 4xx codes and keeps the running version', async () => {
    const { base } = await node();
    await create(base, 'safe');
    expect((await upload(base, 'safe', zipOf({ 'handler.js': HELLO }))).status).toBe(201);
    const notZip = await upload(base, 'safe', Buffer.from('this is not a zip'));
    expect([notZip.status, (notZip.body.error as { code: string }).code]).toEqual([400, 'AETHER_E_CODE_INVALID_ZIP']);
    const noHandler = await upload(base, 'safe', zipOf({ 'index.js': HELLO }));
    expect([noHandler.status, (noHandler.body.error as { code: string }).code]).toEqual([
      400,
      'AETHER_E_CODE_NO_HANDLER',
    ]);
    const broken = await upload(base, 'safe', zipOf({ 'handler.js': 'module.exports = ;' }));
    expect(broken.status).toBe(503);
    expect((broken.body.error as { code: string }).code).toBe('AETHER_E_FN_EXITED_EARLY');
    const still = await fetch(`${base}/functions/safe/`);
    expect(still.status).toBe(200);
    const unknown = await fetch(`${base}/api/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', runtime: 'python' }),
    });
    expect(unknown.status).toBe(400);
    const noCode = await create(base, 'empty');
    const invoke = await fetch(`${base}/functions/${noCode.id}/`);
    expect([invoke.status, ((await invoke.json()) as { error: { code: string } }).error.code]).toEqual([
      409,
      'AETHER_E_FN_NO_CODE',
    ]);
  });

  it('refuses zip slip, absolute paths, symlinks and a zip bomb over HTTP, writing nothing outside the code store', async () => {
    const { base } = await node();
    await create(base, 'hostile');
    const handler = { name: 'handler.js', data: 'module.exports = (req, res) => res.end("ok");' };
    const bomb = await deflatedZeros(300 * 1024 * 1024);
    const cases: [string, Uint8Array, number, string][] = [
      [
        'zip slip',
        buildZip([handler, { name: '../../escaped-by-zip-slip.js', data: 'x' }]),
        400,
        'AETHER_E_CODE_UNSAFE_PATH',
      ],
      [
        'absolute path',
        buildZip([handler, { name: '/tmp/escaped-absolute.js', data: 'x' }]),
        400,
        'AETHER_E_CODE_UNSAFE_PATH',
      ],
      [
        'symlink',
        buildZip([handler, { name: 'passwd', data: '/etc/passwd', unixMode: 0o120777 }]),
        400,
        'AETHER_E_CODE_UNSAFE_PATH',
      ],
      [
        'bomb',
        buildZip([
          handler,
          { name: 'zeros.bin', compressed: bomb.compressed, crc32: bomb.crc32, uncompressedSize: 300 * 1024 * 1024 },
        ]),
        413,
        'AETHER_E_CODE_TOO_LARGE',
      ],
    ];
    for (const [what, zip, status, code] of cases) {
      const up = await upload(base, 'hostile', Buffer.from(zip));
      expect({ what, status: up.status, code: (up.body.error as { code?: string } | undefined)?.code }).toEqual({
        what,
        status,
        code,
      });
    }
    expect(existsSync('/tmp/escaped-absolute.js')).toBe(false);
    // The node's code directory is a temp dir (memory tier): nothing named like the slipped entry anywhere below /tmp.
    const found: string[] = [];
    const walk = (dir: string, depth: number): void => {
      if (depth > 5) return;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.name.startsWith('escaped-by-zip-slip')) found.push(path.join(dir, e.name));
        else if (e.isDirectory()) walk(path.join(dir, e.name), depth + 1);
      }
    };
    walk(tmpdir(), 0);
    expect(found).toEqual([]);
    // Nothing was stored: the function still has no code.
    const fn = (await (await fetch(`${base}/api/functions/hostile`)).json()) as { hash: string; version: number };
    expect(fn).toMatchObject({ hash: '', version: 1 });
  });

  it('keeps node functions and their code across a restart of a node on SQLite', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-nodefn-'));
    dirs.push(dir);
    const start = onSqlite(dir);
    const first = await start();
    await create(first.base, 'durable', { SECRET: 'kept' });
    expect((await upload(first.base, 'durable', zipOf({ 'handler.js': HELLO }))).status).toBe(201);
    await first.n.close();
    const second = await start();
    const res = await fetch(`${second.base}/functions/durable/again`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ url: '/again', secret: 'kept' });
  });

  it("keeps one function's env vars away from another", async () => {
    const { base } = await node();
    await create(base, 'a', { SECRET: 'only-a' });
    await create(base, 'b');
    const zip = zipOf({ 'handler.js': HELLO });
    await upload(base, 'a', zip);
    await upload(base, 'b', zip);
    expect(((await (await fetch(`${base}/functions/a/`)).json()) as { secret: string }).secret).toBe('only-a');
    expect(((await (await fetch(`${base}/functions/b/`)).json()) as { secret: string | null }).secret).toBeNull();
  });

  it('takes scaling on create and PATCH, shows the effective scaling, and refuses bad scaling with AETHER_E_FN_INVALID', async () => {
    const { base } = await node({ min: 0, max: 4, targetConcurrency: 16, idleTimeoutS: 60 });
    const created = await api(base, 'POST', '/api/functions', {
      name: 'scaled',
      runtime: 'node',
      scaling: { max: 2, target_concurrency: 3 },
    });
    expect(created.status).toBe(201);
    // Missing fields take the node's defaults.
    expect((await api(base, 'GET', '/api/functions/scaled')).body.scaling).toEqual({
      min: 0,
      max: 2,
      target_concurrency: 3,
      idle_timeout_s: 60,
    });
    await create(base, 'plain');
    const defaults = { min: 0, max: 4, target_concurrency: 16, idle_timeout_s: 60 };
    expect((await api(base, 'GET', '/api/functions/plain')).body.scaling).toEqual(defaults);
    const listed = (await api(base, 'GET', '/api/functions')).body.functions as { id: string; scaling: unknown }[];
    expect(listed.find((f) => f.id === 'scaled')?.scaling).toMatchObject({ max: 2, target_concurrency: 3 });

    // PATCH replaces the overrides; null returns to the defaults.
    const patched = await api(base, 'PATCH', '/api/functions/scaled', { scaling: { min: 1, idle_timeout_s: 0.5 } });
    expect(patched.status).toBe(200);
    expect(patched.body.scaling).toEqual({ min: 1, max: 4, target_concurrency: 16, idle_timeout_s: 0.5 });
    expect((await api(base, 'GET', '/api/functions/scaled')).body.scaling).toEqual(patched.body.scaling);
    const reset = await api(base, 'PATCH', '/api/functions/scaled', { scaling: null });
    expect(reset.body.scaling).toEqual(defaults);

    const bad: [unknown, string][] = [
      [{ min: -1 }, 'scaling.min'],
      [{ min: 1.5 }, 'scaling.min'],
      [{ max: 0 }, 'scaling.max'],
      [{ max: 100_000 }, 'scaling.max'],
      [{ target_concurrency: 0 }, 'scaling.target_concurrency'],
      [{ idle_timeout_s: -1 }, 'scaling.idle_timeout_s'],
      [{ idle_timeout_s: '60' }, 'scaling.idle_timeout_s'],
      [{ min: 3, max: 2 }, 'scaling.min (3) must not be above scaling.max (2)'],
      // Above the node's default max of 4.
      [{ min: 5 }, "scaling.min (5) must not be above the node's default max (4)"],
      [{ max: 2, burst: 3 }, '"burst"'],
      ['lots', 'scaling'],
    ];
    for (const [scaling, mentions] of bad) {
      const r = await api(base, 'POST', '/api/functions', { name: 'bad', runtime: 'node', scaling });
      expect({ scaling, status: r.status, code: r.body.error?.code }).toEqual({
        scaling,
        status: 400,
        code: 'AETHER_E_FN_INVALID',
      });
      expect(r.body.error?.message).toContain(mentions);
      const p = await api(base, 'PATCH', '/api/functions/plain', { scaling });
      expect([p.status, p.body.error?.code]).toEqual([400, 'AETHER_E_FN_INVALID']);
    }
    expect((await api(base, 'GET', '/api/functions/bad')).status).toBe(404);
    expect((await api(base, 'GET', '/api/functions/plain')).body).toMatchObject({ version: 1, scaling: defaults });

    // A WASM function runs on the shared worker pool: its scaling is refused, not ignored.
    const wasm = await api(base, 'POST', '/api/functions', {
      name: 'mod',
      wasm_b64: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).toString('base64'),
      scaling: { max: 1 },
    });
    expect([wasm.status, wasm.body.error?.code]).toEqual([400, 'AETHER_E_FN_INVALID']);
    expect(wasm.body.error?.message).toMatch(/scaling applies to node functions only/);
  });

  it('never runs more than scaling.max instances: {max: 1, target_concurrency: 1} serves 10 concurrent requests one at a time', async () => {
    const { n, base } = await node({ min: 0, max: 4, targetConcurrency: 16, idleTimeoutS: 60 });
    const created = await api(base, 'POST', '/api/functions', {
      name: 'single',
      runtime: 'node',
      scaling: { max: 1, target_concurrency: 1 },
    });
    expect(created.status).toBe(201);
    // Each answer tells which instance served it and how many requests that instance ever held at once.
    const handler = `let active = 0, peak = 0;
      module.exports = (req, res) => {
        active++; peak = Math.max(peak, active);
        setTimeout(() => { active--; res.end(JSON.stringify({ instance: process.env.AETHER_INSTANCE_ID, peak })); }, 40);
      };`;
    expect((await upload(base, 'single', zipOf({ 'handler.js': handler }))).status).toBe(201);
    const stats = () => n.nodeFunctions.stats().find((s) => s.id === 'single')!;
    const before = stats();
    expect(before.instances).toHaveLength(1);
    // Watch the pool in-process for the whole load: instances running plus starting.
    let most = 0;
    let mostQueued = 0;
    const watch = setInterval(() => {
      const s = stats();
      most = Math.max(most, s.instances.length + s.starting);
      mostQueued = Math.max(mostQueued, s.queued);
    }, 1);
    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const r = await fetch(`${base}/functions/single/`);
        return { status: r.status, ...((await r.json()) as { instance: string; peak: number }) };
      }),
    ).finally(() => clearInterval(watch));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.instance))).toEqual(new Set([before.instances[0]!.id]));
    expect(Math.max(...answers.map((a) => a.peak))).toBe(1);
    expect(most).toBe(1);
    // The requests did arrive together: they waited in the queue for the one instance.
    expect(mostQueued).toBeGreaterThan(0);
    expect(stats().coldStarts).toBe(before.coldStarts);
  });

  it('keeps scaling.min instances ready before any request, across a restart of a node on SQLite', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-nodefn-'));
    dirs.push(dir);
    const start = onSqlite(dir);
    const instancesOf = (n: RunningServer, id: string) =>
      n.nodeFunctions.stats().find((s) => s.id === id)?.instances ?? [];
    const first = await start();
    // Both stop idle instances at once; only the minimum of "warm" is kept.
    for (const [name, min] of [
      ['warm', 1],
      ['cold', 0],
    ] as const) {
      const r = await api(first.base, 'POST', '/api/functions', {
        name,
        runtime: 'node',
        scaling: { min, idle_timeout_s: 0 },
      });
      expect(r.status).toBe(201);
      expect((await upload(first.base, name, zipOf({ 'handler.js': HELLO }))).status).toBe(201);
    }
    await waitFor(() => instancesOf(first.n, 'cold').length === 0, 'the idle instance of cold to stop');
    expect(instancesOf(first.n, 'warm')).toHaveLength(1);
    await first.n.close();

    const second = await start();
    // No request has reached the new node: warm's instance was started for its minimum.
    expect(instancesOf(second.n, 'warm').map((i) => i.state)).toEqual(['READY']);
    expect(instancesOf(second.n, 'cold')).toEqual([]);
    expect((await api(second.base, 'GET', '/api/functions/warm')).body.scaling).toMatchObject({
      min: 1,
      idle_timeout_s: 0,
    });
    const res = await fetch(`${second.base}/functions/warm/`);
    expect(res.status).toBe(200);
    expect(second.n.nodeFunctions.stats().find((s) => s.id === 'warm')?.coldStarts).toBe(1);
  });
});

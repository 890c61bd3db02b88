/**
 * Edge nodes end to end, as separate processes (seed 002): `aether edge`
 * registers with an `aether serve` control plane, receives deploys and warms
 * its cache, executes on its own port, is reported down within node_timeout
 * after a SIGKILL while traffic moves to the remaining node, reports events
 * through /callback, survives a control-plane restart, and is refused with a
 * wrong token.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AETHER_BIN,
  ROOT,
  childEnv,
  crashAndRestart,
  freePort,
  runCli,
  startAether,
  startProcess,
  waitFor,
  type AetherServer,
  type Proc,
} from './support/processes.js';

const NODE_TIMEOUT_MS = 2000;
const EDGE_TOKEN = 'edge-join-secret';

const procs: Proc[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Edge extends Proc {
  url: string;
  nodeId: string;
}

async function startEdge(controlPlane: string, nodeId: string, token = EDGE_TOKEN): Promise<Edge> {
  const port = await freePort();
  const proc = startProcess(
    process.execPath,
    [
      AETHER_BIN,
      'edge',
      '--control-plane',
      controlPlane,
      '--port',
      String(port),
      '--node-id',
      nodeId,
      '--token',
      token,
    ],
    childEnv(),
  );
  procs.push(proc);
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error(`aether edge exited:\n${proc.output()}`);
      const r = await fetch(`${url}/health`).catch(() => undefined);
      return r?.ok === true && ((await r.json()) as { registered?: boolean }).registered === true;
    },
    `edge ${nodeId} to register`,
    30_000,
  );
  return Object.assign(proc, { url, nodeId });
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json(), headers: res.headers };
}

function post(url: string, body: unknown, token?: string) {
  return json(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

const hello = readFileSync(path.join(ROOT, 'examples/wasm/build/hello.wasm'));

async function nodeStatus(cp: AetherServer): Promise<Record<string, string>> {
  const { body } = await json(`${cp.httpUrl}/api/nodes`);
  return Object.fromEntries((body.nodes as { node_id: string; status: string }[]).map((n) => [n.node_id, n.status]));
}

describe('edge nodes', () => {
  it('register, execute, fail over, report, survive a control-plane restart and refuse a wrong token', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-edge-'));
    dirs.push(dir);
    writeFileSync(
      path.join(dir, 'aether.toml'),
      `[edge]\nnode_timeout = "${NODE_TIMEOUT_MS}ms"\ntoken = "${EDGE_TOKEN}"\n`,
    );
    let cp = await startAether({ cwd: dir, db: path.join(dir, 'control.db') });
    procs.push(cp);

    const a = await startEdge(cp.httpUrl, 'edge-a');
    const b = await startEdge(cp.httpUrl, 'edge-b');
    expect(await nodeStatus(cp)).toEqual({ 'edge-a': 'up', 'edge-b': 'up' });

    // A deploy reaches both nodes, which fetch the code, warm their cache and say so.
    const deployed = await post(`${cp.httpUrl}/api/functions`, {
      name: 'hello_world',
      wasm_b64: hello.toString('base64'),
    });
    expect(deployed.status).toBe(201);
    await waitFor(
      async () => {
        const { body } = await json(`${cp.httpUrl}/api/nodes/events`);
        const warmed = new Set(
          (body.events as { event: string; node_id: string; data: { function_id?: string } }[])
            .filter((e) => e.event === 'deployed' && e.data.function_id === 'hello_world')
            .map((e) => e.node_id),
        );
        return warmed.has('edge-a') && warmed.has('edge-b');
      },
      'both edges to report the deploy',
      20_000,
    );
    for (const edge of [a, b]) {
      const health = await json(`${edge.url}/health`);
      expect(health.body).toMatchObject({ status: 'ok', node_id: edge.nodeId, functions: 1 });
      expect(health.body.cache.size).toBeGreaterThanOrEqual(1);
    }

    // Seed 002's edge call: POST :9091/execute on the node itself, a cache hit.
    const direct = await post(`${a.url}/execute`, { function: 'hello_world', input: { msg: 'Hello from Aether!' } });
    expect(direct.status).toBe(200);
    expect(direct.body.output).toBe('Hello from Aether!');
    expect((await json(`${a.url}/health`)).body.cache.hits).toBeGreaterThanOrEqual(1);

    // The control plane sends /execute to its nodes in turn.
    const servedBy = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await post(`${cp.httpUrl}/execute`, { function: 'hello_world', input: { msg: `m${i}` } });
      expect(r.body.output).toBe(`m${i}`);
      servedBy.add(r.headers.get('x-aether-node') ?? '');
    }
    expect(servedBy).toEqual(new Set(['edge-a', 'edge-b']));

    // Errors on a node come back as the node reported them, and a failing function reaches the
    // control plane as an execution_error event.
    const missing = await post(`${a.url}/execute`, { function: 'nope', input: {} });
    expect(missing.body.error.code).toBe('AETHER_E_FN_NOT_FOUND');
    const transform = readFileSync(path.join(ROOT, 'examples/wasm/build/transform.wasm'));
    await post(`${cp.httpUrl}/api/functions`, { name: 'transform', wasm_b64: transform.toString('base64') });
    const failed = await post(`${a.url}/execute`, { function: 'transform', input: { items: 'not a list' } });
    expect([failed.status, failed.body.error.code]).toEqual([500, 'AETHER_E_WASM_EXIT']);
    await waitFor(
      async () => {
        const { body } = await json(`${cp.httpUrl}/api/nodes/events`);
        return (body.events as { event: string; node_id: string; data: { code?: string } }[]).some(
          (e) => e.event === 'execution_error' && e.node_id === 'edge-a' && e.data.code === 'AETHER_E_WASM_EXIT',
        );
      },
      'edge-a to report the execution error',
      10_000,
    );

    // Kill edge-a: traffic moves to edge-b at once, and edge-a is down within node_timeout.
    await a.kill('SIGKILL');
    for (let i = 0; i < 4; i++) {
      const r = await post(`${cp.httpUrl}/execute`, { function: 'hello_world', input: { msg: `after ${i}` } });
      expect([r.status, r.body.output, r.headers.get('x-aether-node')]).toEqual([200, `after ${i}`, 'edge-b']);
    }
    await waitFor(
      async () => (await nodeStatus(cp))['edge-a'] === 'down',
      'edge-a to be marked down',
      NODE_TIMEOUT_MS + 3000,
    );
    expect((await nodeStatus(cp))['edge-b']).toBe('up');

    // cache_stats callbacks from edge-b landed in its stats.
    await waitFor(
      async () => {
        const { body } = await json(`${cp.httpUrl}/api/nodes`);
        return (body.nodes as any[]).some((n) => n.node_id === 'edge-b' && n.stats?.cache !== undefined);
      },
      'edge-b to report cache stats',
      10_000,
    );

    // A control-plane crash and restart keeps functions and nodes; edge-b comes back up by heartbeat.
    cp = await crashAndRestart(cp);
    procs.push(cp);
    expect((await json(`${cp.httpUrl}/api/functions/manifest`)).body.functions.map((f: any) => f.name)).toEqual([
      'hello_world',
      'transform',
    ]);
    expect(Object.keys(await nodeStatus(cp)).sort()).toEqual(['edge-a', 'edge-b']);
    await waitFor(
      async () => (await nodeStatus(cp))['edge-b'] === 'up',
      'edge-b to heartbeat the new control plane',
      15_000,
    );
    const afterRestart = await post(`${cp.httpUrl}/execute`, { function: 'hello_world', input: { msg: 'back' } });
    expect([afterRestart.body.output, afterRestart.headers.get('x-aether-node')]).toEqual(['back', 'edge-b']);

    // A wrong token is refused, by the API and by `aether edge` at start.
    const refused = await post(`${cp.httpUrl}/register`, { node_id: 'intruder', url: 'http://127.0.0.1:1' }, 'wrong');
    expect([refused.status, refused.body.error.code]).toEqual([401, 'AETHER_E_UNAUTHENTICATED']);
    const noToken = await post(`${cp.httpUrl}/register`, { node_id: 'intruder', url: 'http://127.0.0.1:1' });
    expect(noToken.status).toBe(401);
    const port = await freePort();
    const cli = await runCli(['edge', '--control-plane', cp.httpUrl, '--port', String(port), '--token', 'wrong']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('error[AETHER_E_UNAUTHENTICATED]');
    expect(Object.keys(await nodeStatus(cp)).sort()).toEqual(['edge-a', 'edge-b']);

    // With every node down the control plane runs the function itself.
    await b.kill('SIGTERM');
    await waitFor(async () => (await nodeStatus(cp))['edge-b'] === 'down', 'edge-b to leave', 10_000);
    const local = await post(`${cp.httpUrl}/execute`, { function: 'hello_world', input: { msg: 'local' } });
    expect([local.body.output, local.headers.get('x-aether-node')]).toEqual(['local', 'local']);
  });
});

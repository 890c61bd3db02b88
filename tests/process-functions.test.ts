/**
 * End-to-end tests of process functions (seed 000's handler protocol) through
 * the orchestrator with real handler processes: the READY handshake and its
 * failures (no READY, wrong bytes, early exit) with typed errors and the
 * stderr tail, the trigger-port relay, crash replacement, an OOM kill under
 * the cgroup memory limit reported as OOM, the 504 at timeout_ms, a port in
 * use, scaling up to max, hot-loading a changed file under load, and the
 * bubblewrap sandbox.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseFunctionsFile, toAetherError } from '@aether/core';
import { createOrchestrator, type Orchestrator, type ProcessFunctionStatus } from '@aether/functions';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, freeNamedPort, waitFor } from './support/processes.js';

const BEHAVE = path.join(ROOT, 'tests/fixtures/handlers/behave.py');
const running: Orchestrator[] = [];
const blockers: Server[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((o) => o.close(500)));
  for (const b of blockers.splice(0)) b.close();
});

interface FnOptions {
  id?: string;
  port: number;
  mode?: string;
  memory?: number;
  timeoutMs?: number;
  env?: Record<string, string>;
  extra?: string;
}

function functionYaml(o: FnOptions): string {
  const env = { MODE: o.mode ?? 'ok', ...o.env };
  return [
    `  - id: ${o.id ?? 'behave'}`,
    `    memory_limit_mb: ${o.memory ?? 128}`,
    `    trigger_port: ${o.port}`,
    `    handler_path: ${BEHAVE}`,
    `    timeout_ms: ${o.timeoutMs ?? 30000}`,
    '    environment:',
    ...Object.entries(env).map(([k, v]) => `      ${k}: "${v}"`),
    ...(o.extra !== undefined ? [o.extra] : []),
  ].join('\n');
}

function fileOf(
  fns: FnOptions[],
  orchestrator = 'warm_pool_size: 0\n  start_timeout_ms: 3000',
): ReturnType<typeof parseFunctionsFile> {
  return parseFunctionsFile(
    `orchestrator:\n  ${orchestrator}\nfunctions:\n${fns.map(functionYaml).join('\n')}\n`,
    'test.yaml',
  );
}

function start(): Orchestrator {
  const o = createOrchestrator();
  running.push(o);
  return o;
}

function fnStatus(o: Orchestrator, id = 'behave'): ProcessFunctionStatus {
  const f = o.status().functions.find((x) => x.id === id);
  if (f === undefined) throw new Error(`no function ${id}`);
  return f;
}

async function get(
  port: number,
  p = '/',
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers };
}

async function deployError(o: Orchestrator, file: ReturnType<typeof parseFunctionsFile>) {
  try {
    await o.deploy(file, 'test.yaml');
  } catch (err) {
    return toAetherError(err);
  }
  throw new Error('the deploy succeeded');
}

describe('the READY handshake', () => {
  it('starts a seed handler, passes the AETHER_* variables and environment, and relays its trigger port', async () => {
    const port = await freeNamedPort();
    const o = start();
    const result = await o.deploy(fileOf([{ port, env: { GREETING: 'hi' } }]), 'test.yaml');
    expect(result.added).toEqual(['behave']);
    const { status, body } = await get(port, '/users?x=1');
    expect(status).toBe(200);
    const instance = fnStatus(o).instances[0]!;
    expect(body).toMatchObject({ function: 'behave', instance: instance.id, greeting: 'hi', path: '/users?x=1' });
    expect(instance.state).toBe('READY');
    expect(instance.port).not.toBe(port);
    expect(fnStatus(o).requests.total).toBe(1);
  });

  it('fails a handler that never sends READY with AETHER_E_FN_START_TIMEOUT and its stderr', async () => {
    const o = start();
    const err = await deployError(
      o,
      fileOf([{ port: await freeNamedPort(), mode: 'no-ready' }], 'warm_pool_size: 0\n  start_timeout_ms: 500'),
    );
    expect(err.code).toBe('AETHER_E_FN_START_TIMEOUT');
    expect(err.message).toContain('behave: waiting forever');
    expect(o.status().functions).toEqual([]);
  });

  it('fails a handler that sends other bytes with AETHER_E_FN_HANDSHAKE_INVALID naming them', async () => {
    const err = await deployError(start(), fileOf([{ port: await freeNamedPort(), mode: 'wrong-bytes' }]));
    expect(err.code).toBe('AETHER_E_FN_HANDSHAKE_INVALID');
    expect(err.message).toContain('"HELLO"');
  });

  it('fails a handler that exits before READY with AETHER_E_FN_EXITED_EARLY, its exit code and stderr', async () => {
    const err = await deployError(start(), fileOf([{ port: await freeNamedPort(), mode: 'early-exit' }]));
    expect(err.code).toBe('AETHER_E_FN_EXITED_EARLY');
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('missing DATABASE_URL');
  });

  it('waits for a handler that binds its port after READY before routing to it', async () => {
    const port = await freeNamedPort();
    const o = start();
    await o.deploy(fileOf([{ port, mode: 'late-bind' }]), 'test.yaml');
    expect((await get(port)).status).toBe(200);
  });
});

describe('instances', () => {
  it('answers 502 when the instance crashes under a request, and replaces it', async () => {
    const port = await freeNamedPort();
    const o = start();
    await o.deploy(fileOf([{ port }]), 'test.yaml');
    const firstPid = fnStatus(o).instances[0]!.pid;
    const crashed = await get(port, '/crash');
    expect(crashed.status).toBe(502);
    expect(crashed.body).toMatchObject({ error: { code: 'AETHER_E_FN_INSTANCE_CRASHED' } });
    const replaced = await waitFor(() => {
      const f = fnStatus(o);
      return f.instances.find((i) => i.state === 'READY' && i.pid !== firstPid) !== undefined ? f : null;
    }, 'a replacement instance');
    expect(replaced.restarts).toBe(1);
    expect(replaced.lastExit).toMatchObject({ reason: 'crashed', code: 1 });
    expect((await get(port)).status).toBe(200);
  });

  it('reports an instance killed at its cgroup memory limit as OOM', async () => {
    const port = await freeNamedPort();
    const o = start();
    await o.deploy(fileOf([{ port, memory: 48 }]), 'test.yaml');
    expect(o.status().limits.cgroup).not.toBe('none');
    const hog = await get(port, '/hog');
    expect(hog.status).toBe(502);
    expect(hog.body).toMatchObject({ error: { code: 'AETHER_E_FN_OOM' } });
    const f = await waitFor(() => (fnStatus(o).lastExit?.reason === 'oom' ? fnStatus(o) : null), 'the OOM exit');
    expect(f.lastExit?.message).toContain('48 MB (OOM)');
    await waitFor(() => fnStatus(o).instances.some((i) => i.state === 'READY'), 'a replacement');
  });

  it('answers 504 with AETHER_E_FN_TIMEOUT when the handler is slower than timeout_ms', async () => {
    const port = await freeNamedPort();
    const o = start();
    await o.deploy(fileOf([{ port, timeoutMs: 300 }]), 'test.yaml');
    const slow = await get(port, '/slow?ms=3000');
    expect(slow.status).toBe(504);
    expect(slow.headers.get('x-aether-error')).toBe('AETHER_E_FN_TIMEOUT');
    expect(slow.body).toMatchObject({ error: { code: 'AETHER_E_FN_TIMEOUT' } });
    expect(fnStatus(o).requests.timeouts).toBe(1);
    expect((await get(port, '/slow?ms=10')).status).toBe(200);
  });

  it('refuses a trigger port that is already in use with AETHER_E_FN_PORT_IN_USE and starts nothing', async () => {
    const port = await freeNamedPort();
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    const o = start();
    const err = await deployError(o, fileOf([{ port }]));
    expect(err.code).toBe('AETHER_E_FN_PORT_IN_USE');
    expect(err.message).toContain(`trigger_port ${port} is already in use`);
    expect(o.status().functions).toEqual([]);
  });

  it('starts instances up to scaling.max while requests exceed target_concurrency', async () => {
    const port = await freeNamedPort();
    const o = start();
    await o.deploy(fileOf([{ port, extra: '    scaling: {min: 1, max: 3, target_concurrency: 1}' }]), 'test.yaml');
    expect(fnStatus(o).instances).toHaveLength(1);
    // Each request on its own connection, so the relay can spread them over instances.
    const slow = Array.from({ length: 6 }, () => get(port, '/slow?ms=1500'));
    await waitFor(() => fnStatus(o).instances.filter((i) => i.state !== 'STARTING').length === 3, 'three instances');
    expect(fnStatus(o).instances.length).toBe(3);
    const answers = await Promise.all(slow);
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });
});

describe('deploy (hot-load)', () => {
  it('adds, changes and removes functions with zero failed requests to the untouched one under load', async () => {
    const [pa, pb, pc] = [await freeNamedPort(), await freeNamedPort(), await freeNamedPort()];
    const o = start();
    await o.deploy(
      fileOf([
        { id: 'a', port: pa },
        { id: 'b', port: pb, env: { GREETING: 'v1' } },
      ]),
      'v1.yaml',
    );
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const r = await get(pa);
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    await waitFor(() => ok > 50, 'load on a');
    const aPid = fnStatus(o, 'a').instances[0]!.pid;

    const changed = await o.deploy(
      fileOf([
        { id: 'a', port: pa },
        { id: 'b', port: pb, env: { GREETING: 'v2' } },
        { id: 'c', port: pc },
      ]),
      'v2.yaml',
    );
    expect(changed).toMatchObject({ added: ['c'], changed: ['b'], unchanged: ['a'], removed: [] });
    expect((await get(pb)).body.greeting).toBe('v2');
    expect((await get(pc)).status).toBe(200);

    const removed = await o.deploy(
      fileOf([
        { id: 'a', port: pa },
        { id: 'c', port: pc },
      ]),
      'v3.yaml',
    );
    expect(removed).toMatchObject({ removed: ['b'], unchanged: ['a', 'c'] });
    await waitFor(async () => {
      try {
        await fetch(`http://127.0.0.1:${pb}/`);
        return false;
      } catch {
        return true;
      }
    }, 'b to stop listening');
    const before = ok;
    await waitFor(() => ok > before + 50, 'more load on a');
    stop = true;
    await Promise.all(load);
    expect(failures).toEqual([]);
    expect(fnStatus(o, 'a').instances[0]!.pid).toBe(aPid);
  });

  it('keeps the running functions when a deploy cannot start a new one', async () => {
    const [pa, pb] = [await freeNamedPort(), await freeNamedPort()];
    const o = start();
    await o.deploy(fileOf([{ id: 'a', port: pa }]), 'v1.yaml');
    const err = await deployError(
      o,
      fileOf([
        { id: 'a', port: pa, env: { GREETING: 'x' } },
        { id: 'b', port: pb, mode: 'early-exit' },
      ]),
    );
    expect(err.code).toBe('AETHER_E_FN_EXITED_EARLY');
    expect(o.status().functions.map((f) => f.id)).toEqual(['a']);
    expect((await get(pa)).body.greeting).toBeNull();
  });
});

describe('isolation: sandbox', () => {
  it('runs the instance under bubblewrap: own pid namespace, read-only root, private /tmp', async () => {
    const marker = path.join(tmpdir(), `aether-sandbox-marker-${process.pid}`);
    writeFileSync(marker, 'host');
    try {
      const port = await freeNamedPort();
      const o = start();
      await o.deploy(fileOf([{ port, extra: '    isolation: sandbox' }]), 'test.yaml');
      const { body } = await get(port, '/introspect');
      expect(body.pid).toBeLessThan(10);
      expect(body.root_writable).toBe(false);
      // The host's /tmp is not visible: only the directories bound in (the runtime dir, a handler dir under /tmp).
      expect(body.tmp as string[]).not.toContain(path.basename(marker));
      expect((body.tmp as string[]).length).toBeLessThanOrEqual(2);
    } finally {
      rmSync(marker, { force: true });
    }
  });
});

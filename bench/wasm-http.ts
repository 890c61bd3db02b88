/**
 * WASM over HTTP: seed 002's hello_world executed (1) by the runtime directly
 * in this process, (2) through `aether serve`'s `POST /execute` (local run),
 * (3) on an `aether edge` node's own `/execute`, and (4) through the control
 * plane forwarding to that edge node. Each at concurrency 1 and 32, measured
 * in one run, with the ratio to the direct runtime, since these machines are
 * shared and noisy. Also: the cold path (a cache miss: check, instrument and
 * compile the module, then run) vs a warm cached execution, in plain node.
 * Flags: --duration=MS per cell (default 3000).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createWasmRuntime } from '@aether/functions';
import { Pool } from 'undici';
import {
  AETHER_BIN,
  ROOT,
  childEnv,
  freePort,
  startAether,
  startProcess,
  waitFor,
  type Proc,
} from '../tests/support/processes.js';
import { flag, pct } from './stats.js';

async function measure(
  call: () => Promise<void>,
  concurrency: number,
  durationMs: number,
): Promise<{ rps: number; p50: number; p99: number }> {
  const lat: number[] = [];
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await call();
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = performance.now() - t0;
  lat.sort((a, b) => a - b);
  return { rps: Math.round((lat.length / elapsed) * 1000), p50: pct(lat, 50) * 1000, p99: pct(lat, 99) * 1000 };
}

function httpCaller(url: string, connections: number): { call: () => Promise<void>; close: () => Promise<void> } {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const body = JSON.stringify({ function: 'hello_world', input: { msg: 'Hello from Aether!' } });
  return {
    async call() {
      const res = await pool.request({
        path: '/execute',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text}`);
    },
    close: () => pool.close(),
  };
}

export async function runWasmHttpBench(flags: string[]): Promise<Record<string, unknown>[]> {
  const durationMs = flag(flags, 'duration', 3000);
  const hello = readFileSync(path.join(ROOT, 'examples/wasm/build/hello.wasm'));
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-bench-wasm-'));
  const rows: Record<string, unknown>[] = [];
  const cp = await startAether({ db: path.join(dir, 'aether.db'), env: { NODE_EXTRA_CA_CERTS: undefined } });
  const edgePort = await freePort();
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  let edge: Proc | undefined;
  const runtime = createWasmRuntime();
  try {
    const deployed = await fetch(`${cp.httpUrl}/api/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'hello_world', wasm_b64: hello.toString('base64') }),
    });
    if (deployed.status !== 201) throw new Error(`deploy failed: ${await deployed.text()}`);
    const { hash } = await runtime.prepare(hello);
    const direct = () =>
      runtime
        .execute({ name: 'hello_world', hash, loadCode: async () => hello, input: { msg: 'Hello from Aether!' } })
        .then(() => undefined);

    type Caller = { call: () => Promise<void>; close: () => Promise<void> };
    const results = new Map<string, { rps: number; p50: number; p99: number }>();
    const run = async (name: string, make: (c: number) => Caller): Promise<void> => {
      for (const concurrency of [1, 32]) {
        const caller = make(concurrency);
        await measure(caller.call, concurrency, 500); // warm-up
        results.set(`${name}@${concurrency}`, await measure(caller.call, concurrency, durationMs));
        await caller.close();
      }
    };
    await run('runtime direct (in-process)', () => ({ call: direct, close: async () => undefined }));
    // No edge registered yet: the control plane runs the function itself.
    await run('aether serve /execute (local)', (c) => httpCaller(cp.httpUrl, c));
    edge = startProcess(
      process.execPath,
      [AETHER_BIN, 'edge', '--control-plane', cp.httpUrl, '--port', String(edgePort), '--node-id', 'bench-edge'],
      childEnv({ NODE_EXTRA_CA_CERTS: undefined }),
    );
    await waitFor(
      async () =>
        (
          (await (await fetch(`${edgeUrl}/health`).catch(() => undefined))?.json()) as
            { functions?: number } | undefined
        )?.functions === 1,
      'the edge node to register and pull hello_world',
      30_000,
    );
    await run('aether edge /execute', (c) => httpCaller(edgeUrl, c));
    await run('control plane -> edge', (c) => httpCaller(cp.httpUrl, c));
    for (const concurrency of [1, 32]) {
      const baseline = results.get(`runtime direct (in-process)@${concurrency}`)!.rps;
      for (const [key, r] of results) {
        const [name, c] = key.split('@');
        if (Number(c) !== concurrency) continue;
        rows.push({
          path: name,
          concurrency,
          'req/s': r.rps,
          'p50 µs': Math.round(r.p50),
          'p99 µs': Math.round(r.p99),
          'vs direct': `${(r.rps / baseline).toFixed(2)}x`,
        });
      }
    }

    // Cold vs warm, in a plain node child process (see bench/wasm-cold.mjs).
    const cold = spawnSync(process.execPath, [path.join(ROOT, 'bench/wasm-cold.mjs')], {
      env: childEnv(),
      encoding: 'utf8',
    });
    if (cold.status !== 0) throw new Error(`bench/wasm-cold.mjs failed: ${cold.stderr}`);
    const { coldP50Ms, warmP50Ms } = JSON.parse(cold.stdout.trim().split('\n').pop()!) as {
      coldP50Ms: number;
      warmP50Ms: number;
    };
    rows.push({ path: 'cold: compile + run (cache miss)', concurrency: 1, 'p50 µs': Math.round(coldP50Ms * 1000) });
    rows.push({ path: 'warm: run (cache hit)', concurrency: 1, 'p50 µs': Math.round(warmP50Ms * 1000) });
  } finally {
    await runtime.close();
    await edge?.kill('SIGTERM');
    await cp.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * Process functions (seed 000's orchestrator), measured in one run since these
 * machines are shared and noisy:
 *
 * 1. Throughput, `wrk -t1 -c50 -d10s --latency`: a trivial node:http handler
 *    (bench/fixtures/trivial-handler.mjs) reached directly on its private port,
 *    through Aether's trigger port (`aether up --foreground`, one instance), and
 *    through nginx reverse-proxying to the private port with upstream keepalive,
 *    one worker and `auto` workers (reference). Cells run in the order direct,
 *    aether, nginx-1, direct again, nginx-auto; ratios are to the mean of both
 *    direct cells. Target: Aether >= nginx with one worker (>= 0.54x of direct).
 * 2. Cold start, p50 of --runs starts each, alternating, in this process: the
 *    Python hello handler (bench/fixtures/hello-fast.py, hello.py with
 *    `#!/usr/bin/python3`) spawned by hand (own READY socket, then polling its
 *    port) vs deployed by the orchestrator library, from spawn / just before
 *    deploy() to the first 200 (through the trigger port for Aether). Target:
 *    <= 5 ms added. When memory can be limited here, also Aether without a
 *    memory limit (what the cgroup costs).
 * 3. Warm first request: with the instances of (1) running, one request on a fresh
 *    connection through the trigger port vs to the private port, alternating,
 *    p50 of --warm-runs each, for both handlers. Target: <= 1 ms added.
 *
 * Flags: --duration=S per wrk cell (default 10), --runs=N cold starts (default
 * 10), --warm-runs=N fresh connections (default 50).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseFunctionsFile } from '@aether/core';
import { createOrchestrator, detectCgroups, type CgroupSupport, type OrchestratorStatus } from '@aether/functions';
import { AETHER_BIN, ROOT, childEnv, freePort, startProcess, waitFor, type Proc } from '../tests/support/processes.js';
import {
  NGINX,
  NGINX_ONE_WORKER_RATIO,
  WRK,
  getOnce,
  listenForReady,
  localUrl,
  median,
  p99,
  requireTools,
  round,
  sleep,
  startNginx,
  stop,
  untilFirst200,
  untilReady,
  versusDirect,
  wrkCell,
  type WrkResult,
} from './http-load.js';
import { flag } from './stats.js';

const PYTHON = '/usr/bin/python3';
const TRIVIAL = path.join(ROOT, 'bench/fixtures/trivial-handler.mjs');
const HELLO = path.join(ROOT, 'bench/fixtures/hello-fast.py');
const COLD_TARGET_MS = 5;
const WARM_TARGET_MS = 1;

// ---------------------------------------------------------------- HTTP probes

/** Latency in ms of one GET on a fresh connection; throws unless it answers 200. */
async function firstRequestMs(port: number, what: string): Promise<number> {
  const t0 = performance.now();
  const { status } = await getOnce(port, '/', 5000);
  const ms = performance.now() - t0;
  if (status !== 200) throw new Error(`${what}: GET / on port ${port} answered ${status}, expected 200`);
  return ms;
}

// ---------------------------------------------------------------- aether up

interface AetherUp {
  proc: Proc;
  triggerPort: number;
  privatePort: number;
  helloTriggerPort: number;
  helloPrivatePort: number;
}

/** `aether -c FILE up --foreground` with the trivial handler and hello-fast.py, one instance each. */
async function startAetherUp(dir: string): Promise<AetherUp> {
  const [httpPort, grpcPort, triggerPort, helloTriggerPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const file = path.join(dir, 'functions.yaml');
  writeFileSync(
    file,
    `orchestrator:
  warm_pool_size: 0
functions:
  - id: trivial
    trigger_port: ${triggerPort}
    handler_path: ${TRIVIAL}
    scaling: {min: 1, max: 1}
  - id: hello
    trigger_port: ${helloTriggerPort}
    handler_path: ${HELLO}
    scaling: {min: 1, max: 1}
    environment:
      PYTHONUNBUFFERED: "1"
`,
  );
  const args = ['-c', file, 'up', '--foreground', '--http-port', String(httpPort), '--grpc-port', String(grpcPort)];
  const proc = startProcess(process.execPath, [AETHER_BIN, ...args, '--persistence', 'memory'], childEnv(), dir);
  let exited = false;
  void proc.exited.then(() => (exited = true));
  try {
    await waitFor(
      () => {
        if (exited) throw new Error(`aether up exited:\n${proc.output()}`);
        return proc.output().includes('Press Ctrl+C to stop');
      },
      'aether up to print "Press Ctrl+C to stop..."',
      30_000,
    );
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/orchestrator`);
    if (!res.ok) throw new Error(`GET /api/orchestrator answered ${res.status}: ${await res.text()}`);
    const status = (await res.json()) as OrchestratorStatus;
    const privatePort = (id: string): number => {
      const ready = status.functions.find((f) => f.id === id)?.instances.filter((i) => i.state === 'READY') ?? [];
      if (ready.length !== 1) {
        throw new Error(`expected one READY instance of ${id} in /api/orchestrator, got:\n${JSON.stringify(status)}`);
      }
      return ready[0]!.port;
    };
    return {
      proc,
      triggerPort,
      privatePort: privatePort('trivial'),
      helloTriggerPort,
      helloPrivatePort: privatePort('hello'),
    };
  } catch (e) {
    await proc.kill('SIGKILL');
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- aether up output ---\n${proc.output()}`, {
      cause: e,
    });
  }
}

// ----------------------------------------------------------------- cold start

/**
 * Spawns hello-fast.py by hand and times spawn -> first 200 on its port. Like Aether, it
 * waits for READY on its own socket before polling the port: polling from the spawn
 * (every ms) measurably slows the handler's start on two cores.
 */
async function coldByHand(dir: string): Promise<number> {
  const socketPath = path.join(dir, 'hand.sock');
  const readySocket = await listenForReady(socketPath);
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exit: string | null = null;
  let output = '';
  try {
    const t0 = performance.now();
    child = spawn(HELLO, [], {
      cwd: path.dirname(HELLO),
      env: childEnv({
        PYTHONUNBUFFERED: '1',
        AETHER_SOCKET: socketPath,
        AETHER_TRIGGER_PORT: String(port),
        AETHER_FUNCTION_ID: 'hello',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<string>((resolve) => {
      child!.on('error', (err) => resolve((exit = `could not start: ${err.message}`)));
      child!.on('exit', (code, signal) => resolve((exit = `exited (${signal ?? code})`)));
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await untilReady('hello-fast.py spawned by hand', readySocket.ready, exited, () => output);
    await untilFirst200(port, 'hello-fast.py spawned by hand', () => (exit === null ? null : `${exit}:\n${output}`), {
      intervalMs: 1,
    });
    return performance.now() - t0;
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('close', r));
      child.kill('SIGTERM');
      await gone;
    }
    readySocket.close();
  }
}

/** Deploys hello-fast.py with the orchestrator library and times deploy() -> first 200 on the trigger port. */
async function coldThroughAether(cgroups: CgroupSupport): Promise<{ ms: number; startMs: number | null }> {
  const orch = createOrchestrator({ baseEnv: childEnv(), cgroups });
  try {
    const triggerPort = await freePort();
    const file = parseFunctionsFile(
      `orchestrator:
  warm_pool_size: 0
functions:
  - id: hello
    trigger_port: ${triggerPort}
    handler_path: ${HELLO}
    scaling: {min: 1, max: 1}
    environment:
      PYTHONUNBUFFERED: "1"
`,
      'cold.yaml',
    );
    // The node's orchestrator lives before any deploy; its launch stubs are ready by then.
    await orch.ready();
    const t0 = performance.now();
    await orch.deploy(file, 'cold.yaml');
    await untilFirst200(triggerPort, 'hello-fast.py through Aether', () => null, { intervalMs: 1 });
    const ms = performance.now() - t0;
    return { ms, startMs: orch.status().functions[0]?.instances[0]?.startMs ?? null };
  } finally {
    await orch.close(1000);
  }
}

// ---------------------------------------------------------------------- bench

export async function runProcessBench(flags: string[]): Promise<Record<string, unknown>[]> {
  const durationS = flag(flags, 'duration', 10);
  const runs = flag(flags, 'runs', 10);
  const warmRuns = flag(flags, 'warm-runs', 50);
  requireTools([
    [WRK, 'wrk'],
    [NGINX, 'nginx'],
    [PYTHON, 'python3'],
  ]);
  const rows: Record<string, unknown>[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-bench-process-'));
  let up: AetherUp | undefined;
  let nginx: Proc | undefined;
  try {
    // 1. Throughput.
    up = await startAetherUp(dir);
    const { triggerPort, privatePort } = up;
    const cell = (what: string, port: number): Promise<WrkResult> => wrkCell(localUrl(port), durationS, what);
    const nginxPort = await freePort();
    const direct1 = await cell('direct', privatePort);
    const viaAether = await cell('aether', triggerPort);
    nginx = await startNginx(path.join(dir, 'nginx-1'), 1, nginxPort, privatePort);
    const nginx1 = await cell('nginx-1', nginxPort);
    await stop(nginx);
    nginx = undefined;
    const direct2 = await cell('direct (again)', privatePort);
    nginx = await startNginx(path.join(dir, 'nginx-auto'), 'auto', nginxPort, privatePort);
    const nginxAuto = await cell('nginx-auto', nginxPort);
    await stop(nginx);
    nginx = undefined;

    const { ratio, row: wrkRow } = versusDirect(direct1, direct2);
    const aetherOk = ratio(viaAether) >= NGINX_ONE_WORKER_RATIO && viaAether.rps >= nginx1.rps;
    rows.push(
      wrkRow('throughput: direct (private port)', direct1),
      wrkRow('throughput: aether trigger port', viaAether, {
        target: `>= ${NGINX_ONE_WORKER_RATIO}x and >= nginx-1 (${ratio(nginx1)}x): ${aetherOk ? 'met' : 'MISSED'}`,
      }),
      wrkRow('throughput: nginx 1 worker', nginx1),
      wrkRow('throughput: direct (again)', direct2),
      wrkRow('throughput: nginx auto workers (reference)', nginxAuto),
    );

    // 3. Warm first request, on the instances `aether up` keeps running.
    const warm = async (name: string, direct: number, trigger: number): Promise<void> => {
      const d: number[] = [];
      const a: number[] = [];
      for (let i = 0; i < warmRuns + 3; i++) {
        const order = i % 2 === 0 ? (['direct', 'aether'] as const) : (['aether', 'direct'] as const);
        const got: Record<string, number> = {};
        for (const via of order) {
          got[via] = await firstRequestMs(via === 'direct' ? direct : trigger, `${name} ${via}`);
          await sleep(5);
        }
        if (i < 3) continue; // warm-up
        d.push(got.direct!);
        a.push(got.aether!);
      }
      const added = median(a) - median(d);
      rows.push(
        { scenario: `warm 1st request: ${name} direct`, p50_ms: round(median(d)), p99_ms: round(p99(d)) },
        {
          scenario: `warm 1st request: ${name} via aether`,
          p50_ms: round(median(a)),
          p99_ms: round(p99(a)),
          added_ms: round(added),
          target: `<= ${WARM_TARGET_MS} ms added: ${added <= WARM_TARGET_MS ? 'met' : 'MISSED'}`,
        },
      );
    };
    await warm('node trivial', privatePort, triggerPort);
    await warm('python hello', up.helloPrivatePort, up.helloTriggerPort);
    await stop(up.proc);
    up = undefined;

    // 2. Cold start, in this process, rotating the order (one warm-up round, not counted). When memory
    // can be limited here, Aether also runs without a limit, to show what the cgroup costs.
    const cgroups = detectCgroups();
    const noLimit = detectCgroups({ v2Root: path.join(dir, 'none'), v1MemoryRoot: path.join(dir, 'none') });
    type Run = { ms: number; startMs: number | null };
    type Variant = { name: string; run: () => Promise<Run>; ms: number[]; startMs: number[] };
    const byHand: Variant = {
      name: 'by hand',
      run: async () => ({ ms: await coldByHand(dir), startMs: null }),
      ms: [],
      startMs: [],
    };
    const limited: Variant = {
      name: `via aether (memory limit: cgroup ${cgroups.kind})`,
      run: () => coldThroughAether(cgroups),
      ms: [],
      startMs: [],
    };
    const unlimited: Variant = {
      name: 'via aether (no memory limit)',
      run: () => coldThroughAether(noLimit),
      ms: [],
      startMs: [],
    };
    const variants = cgroups.kind === 'none' ? [byHand, limited] : [byHand, limited, unlimited];
    for (let i = 0; i <= runs; i++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(i + k) % variants.length]!;
        const r = await v.run();
        if (i === 0) continue; // warm-up round
        v.ms.push(r.ms);
        if (r.startMs !== null) v.startMs.push(r.startMs);
      }
    }
    const handP50 = median(byHand.ms);
    rows.push({
      scenario: 'cold start: hello-fast.py by hand',
      p50_ms: round(handP50),
      note: `spawn -> READY -> first 200 on its port, n=${runs}`,
    });
    for (const v of variants.slice(1)) {
      const added = median(v.ms) - handP50;
      rows.push({
        scenario: `cold start: hello-fast.py ${v.name}`,
        p50_ms: round(median(v.ms)),
        added_ms: round(added),
        ...(v === limited && {
          target: `<= ${COLD_TARGET_MS} ms added: ${added <= COLD_TARGET_MS ? 'met' : 'MISSED'}`,
        }),
        note: `deploy() -> first 200 on the trigger port, n=${runs}; Aether's instance startMs p50 ${round(median(v.startMs))}`,
      });
    }
  } finally {
    if (nginx) await stop(nginx);
    if (up) await stop(up.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

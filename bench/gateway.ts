/**
 * Node functions (seed 001) through the gateway `ANY /functions/{id}/*`, measured in one
 * run since these machines are shared and noisy:
 *
 * 1. Throughput, `wrk -t1 -c50 -d10s --latency`: a trivial handler
 *    (bench/fixtures/gateway-handler.js, zipped as handler.js: 200 {"ok":true}) reached
 *    directly on its instance's private port, through the gateway of the real
 *    `aether serve` (the node's default scaling: min 0, max 4, target_concurrency 100, so
 *    one instance takes the 50 connections), through the gateway of a node limited to one
 *    instance (bench/fixtures/gateway-node.mjs: startServer with scaling min 1, max 1,
 *    target 64, in its own process: the instance takes all 50 requests at once, as it does
 *    directly and behind nginx; with target 16, 34 of them would wait in the gateway's
 *    queue), and through nginx (one worker, upstream keepalive) in front of that one
 *    instance, and, for reference, through the smallest node:http + undici Pool proxy
 *    (bench/fixtures/undici-proxy.mjs: what the gateway was before the relay). The gateway
 *    relays to the instance over its Unix socket (AETHER_HTTP_SOCKET); direct, nginx
 *    and the undici proxy use its TCP port. Cells run in
 *    the order direct, aether serve, aether max 1, nginx-1, undici proxy, direct again;
 *    ratios are to the mean of both direct cells. Target: Aether >= 0.54x of direct (what
 *    nginx with one worker keeps, measured on these machines). How many
 *    instances served a gateway cell is sampled from the x-aether-instance header of a
 *    request every 250 ms during the cell, and counted as runner processes after it.
 *
 *    Finding an instance's private port: the node does not expose it over HTTP, so the
 *    bench walks /proc from the node's pid to its descendants whose argv is
 *    `node .../runner.mjs <codeDir>` (the node under bubblewrap: bwrap shares the network
 *    namespace, so its port is visible on the host), and takes their listening ports from
 *    `ss -ltnpH` (users:(("node",pid=N,...))). For the max-1 node the result is checked
 *    against the port nodeFunctions.stats() reports over the fixture's IPC channel.
 *
 * 2. Cold start from zero, p50 of --runs (default 20) each, alternating, one warm-up round
 *    not counted: a GET on a fresh connection to `/functions/cold/` of a node (own process,
 *    scaling min 0, max 1, idle_timeout_s 1) whose function is at zero instances, until
 *    its 200 (body read), vs the same runner started by hand with the node flags Aether
 *    uses (read from the instance's argv: `node [flags] runner.mjs <codeDir>`:
 *    spawn -> READY on our Unix socket -> first 200 on AETHER_TRIGGER_PORT) and vs
 *    `node -e` with a plain node:http server (spawn -> "listening" on stdout -> first 200).
 *    Before every run, of every variant, each node's instances are gone (stats and no
 *    runner process left), so no instance is stopping during a measurement. Aether runs
 *    as it ships (bubblewrap + the memory cgroup) and, for reference, with isolation
 *    'none' (cgroup only). Target: <= runner by hand + 5 ms.
 *
 * Every child gets the environment without NODE_EXTRA_CA_CERTS (it slows node starts).
 * Flags: --duration=S per wrk cell (default 10), --runs=N cold starts (default 20),
 * --only=throughput or --only=cold runs just that section (cold alone reads the runner's
 * node flags from the instance the cold node's upload starts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NodeFunctionStats } from '@aether/functions';
import {
  ROOT,
  childEnv,
  freePort,
  startAether,
  startProcess,
  type AetherServer,
  type Proc,
} from '../tests/support/processes.js';
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
  untilReady,
  untilServing,
  versusDirect,
  wrk,
  wrkCell,
  type WrkResult,
} from './http-load.js';
import { flag } from './stats.js';

const ZIP = '/usr/bin/zip';
const SS = '/usr/bin/ss';
const RUNNER = path.join(ROOT, 'packages/functions/src/node-runtime/runner.mjs');
const HANDLER = path.join(ROOT, 'bench/fixtures/gateway-handler.js');
const NODE_FIXTURE = path.join(ROOT, 'bench/fixtures/gateway-node.mjs');
const PROXY_FIXTURE = path.join(ROOT, 'bench/fixtures/undici-proxy.mjs');
const COLD_TARGET_MS = 5;
/** The plain node:http server of the `node -e` cold start; writes "L" once listening. */
const PLAIN_SERVER = `const b = Buffer.from('{"ok":true}');
require('node:http').createServer((q, s) => {
  s.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length });
  s.end(b);
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('L'));`;

/** SIGTERM a child of ours and wait for it to close (SIGKILL after `graceMs`). */
async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('close', r));
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  child.kill('SIGTERM');
  await gone;
  clearTimeout(timer);
}

/** bench/fixtures/undici-proxy.mjs on `listenPort` in front of `upstreamPort`. */
async function startUndiciProxy(listenPort: number, upstreamPort: number): Promise<Proc> {
  const proc = startProcess(process.execPath, [PROXY_FIXTURE, String(listenPort), String(upstreamPort)], childEnv());
  return untilServing(proc, listenPort, 'undici proxy');
}

// ------------------------------------------------------------- Aether nodes

/** A zip with gateway-handler.js as handler.js at its root; `codeDir` holds the same handler unzipped. */
function makeZip(dir: string): { zip: Buffer; codeDir: string } {
  const codeDir = path.join(dir, 'code');
  mkdirSync(codeDir, { recursive: true });
  copyFileSync(HANDLER, path.join(codeDir, 'handler.js'));
  const r = spawnSync(ZIP, ['-q', '-X', path.join(dir, 'code.zip'), 'handler.js'], { cwd: codeDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zip failed (${r.status}): ${r.stderr}`);
  return { zip: readFileSync(path.join(dir, 'code.zip')), codeDir };
}

/** POST /api/functions {name, runtime: node}, then the zip as multipart `file`. */
async function deploy(httpPort: number, name: string, zip: Buffer): Promise<void> {
  const base = `http://127.0.0.1:${httpPort}`;
  const created = await fetch(`${base}/api/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, runtime: 'node' }),
  });
  if (created.status !== 201)
    throw new Error(`POST /api/functions answered ${created.status}: ${await created.text()}`);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(zip)]), 'code.zip');
  const up = await fetch(`${base}/api/functions/${name}/code`, { method: 'POST', body: form });
  if (up.status !== 201) throw new Error(`upload of ${name} answered ${up.status}: ${await up.text()}`);
}

/** A running instance found from the outside: the runner's (host) pid and its listening port. */
interface FoundInstance {
  pid: number;
  port: number;
}

/** The pids of `root`'s descendants (from /proc/<pid>/stat's ppid). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Pids of node processes running runner.mjs below `serverPid` (not bwrap, whose argv names it too). */
function runnerPids(serverPid: number): number[] {
  return descendants(serverPid).filter((pid) => {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return false;
    }
    // node [flags...] .../runner.mjs <codeDir>
    return path.basename(argv[0] ?? '') === 'node' && argv.slice(1).some((a) => a.endsWith('/runner.mjs'));
  });
}

/** The instances of a node: its runner processes and their listening TCP ports (from `ss -ltnpH`). */
function findInstances(serverPid: number): FoundInstance[] {
  const pids = new Set(runnerPids(serverPid));
  const ss = spawnSync(SS, ['-ltnpH'], { encoding: 'utf8' });
  if (ss.status !== 0) throw new Error(`ss -ltnpH failed: ${ss.stderr}`);
  const found: FoundInstance[] = [];
  for (const line of ss.stdout.split('\n')) {
    const port = /\s127\.0\.0\.1:(\d+)\s/.exec(line);
    if (!port) continue;
    for (const m of line.matchAll(/pid=(\d+)/g)) {
      if (pids.has(Number(m[1]))) found.push({ pid: Number(m[1]), port: Number(port[1]) });
    }
  }
  return found;
}

/** The memory cgroup of a process, from /proc/<pid>/cgroup (v1 `N:memory:/path` or v2 `0::/path`). */
function memoryCgroup(pid: number): string {
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
    const v1 = lines.find((l) => /^\d+:[^:]*\bmemory\b[^:]*:/.test(l));
    if (v1) return `v1 ${v1.split(':')[2]}`;
    const v2 = lines.find((l) => l.startsWith('0::'));
    return v2 ? `v2 ${v2.slice(3)}` : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A node started from bench/fixtures/gateway-node.mjs with node-function defaults, in its own process. */
interface FixtureNode {
  proc: Proc;
  httpPort: number;
  stats(): Promise<NodeFunctionStats[]>;
}

async function startFixtureNode(defaults: Record<string, unknown>): Promise<FixtureNode> {
  const proc = startProcess(process.execPath, [NODE_FIXTURE, JSON.stringify(defaults)], childEnv(), ROOT, true);
  const { child, exited } = proc;
  let timer: NodeJS.Timeout | undefined;
  try {
    const httpPort = await Promise.race([
      new Promise<number>((resolve) =>
        child.on('message', (m: { type?: string; httpPort?: number }) => {
          if (m.type === 'ready') resolve(m.httpPort!);
        }),
      ),
      exited.then((e) =>
        Promise.reject(new Error(`gateway-node.mjs exited (${e.signal ?? e.code}):\n${proc.output()}`)),
      ),
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error('gateway-node.mjs: not ready within 30 s')), 30_000)),
      ),
    ]);
    let chain = Promise.resolve();
    const stats = (): Promise<NodeFunctionStats[]> => {
      const next = chain.then(
        () =>
          new Promise<NodeFunctionStats[]>((resolve, reject) => {
            const onMessage = (m: { type?: string; stats?: NodeFunctionStats[] }): void => {
              if (m.type !== 'stats') return;
              child.off('message', onMessage);
              resolve(m.stats!);
            };
            child.on('message', onMessage);
            if (!child.send({ type: 'stats' })) reject(new Error('gateway-node.mjs: IPC channel closed'));
          }),
      );
      chain = next.then(
        () => undefined,
        () => undefined,
      );
      return next;
    };
    return { proc, httpPort, stats };
  } catch (e) {
    await proc.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until a fixture node's functions have no instance: none in its stats and no runner process left. */
async function untilZero(node: FixtureNode, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const stats = await node.stats();
    const listed = stats.reduce((n, s) => n + s.instances.length + s.starting, 0);
    if (listed === 0 && runnerPids(node.proc.child.pid!).length === 0) return;
    if (performance.now() > deadline) {
      throw new Error(`${what}: still ${listed} instance(s) after ${timeoutMs} ms: ${JSON.stringify(stats)}`);
    }
    await sleep(50);
  }
}

// ----------------------------------------------------------------- cold start

/**
 * Spawns `command args` by hand and times spawn -> first 200 on `port`. It waits for the
 * process's handshake before its one GET (READY on a Unix socket of ours, as Aether's
 * runner does, or "L" on stdout): polling the port from the spawn slows a start on two cores.
 */
async function coldByHand(
  what: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  handshake: { socketPath: string } | 'stdout',
): Promise<number> {
  let onStdout: ((got: string) => void) | undefined;
  const readySocket = handshake === 'stdout' ? undefined : await listenForReady(handshake.socketPath);
  const ready = readySocket?.ready ?? new Promise<string>((resolve) => (onStdout = resolve));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';
  try {
    const t0 = performance.now();
    child = spawn(process.execPath, args, {
      cwd,
      env: childEnv({ ...env, AETHER_TRIGGER_PORT: String(port), PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<string>((resolve) => {
      child!.on('error', (err) => resolve(`could not start: ${err.message}`));
      child!.on('exit', (code, signal) => resolve(`exited (${signal ?? code})`));
    });
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (onStdout !== undefined && output.includes('L')) onStdout('READY');
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await untilReady(what, ready, exited, () => output);
    const { status } = await getOnce(port);
    const ms = performance.now() - t0;
    if (status !== 200) throw new Error(`${what}: first answer ${status}, expected 200:\n${output}`);
    return ms;
  } finally {
    if (child !== undefined) await stopChild(child);
    readySocket?.close();
  }
}

/** Times GET /functions/{name}/ on a fresh connection, from the request to its 200 (body read). */
async function coldThroughGateway(node: FixtureNode, name: string): Promise<{ ms: number; startMs: number | null }> {
  const t0 = performance.now();
  const { status } = await getOnce(node.httpPort, `/functions/${name}/`, 30_000);
  const ms = performance.now() - t0;
  if (status !== 200) throw new Error(`cold start of ${name} through the gateway answered ${status}`);
  const stats = await node.stats();
  return { ms, startMs: stats[0]?.instances[0]?.startMs ?? null };
}

// ---------------------------------------------------------------------- bench

export async function runGatewayBench(flags: string[]): Promise<Record<string, unknown>[]> {
  const durationS = flag(flags, 'duration', 10);
  const runs = flag(flags, 'runs', 20);
  const only = flags.find((f) => f.startsWith('--only='))?.split('=')[1];
  if (only !== undefined && only !== 'throughput' && only !== 'cold') {
    throw new Error(`gateway bench: --only=${only}: expected throughput or cold`);
  }
  requireTools([
    [WRK, 'wrk'],
    [NGINX, 'nginx'],
    [ZIP, 'zip'],
    [SS, 'ss (iproute2)'],
  ]);
  const rows: Record<string, unknown>[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-bench-gateway-'));
  let serve: AetherServer | undefined;
  const nodes: FixtureNode[] = [];
  let nginx: Proc | undefined;
  let proxy: Proc | undefined;
  try {
    const { zip, codeDir } = makeZip(dir);
    /** The node flags Aether starts the runner with (e.g. --experimental-detect-module), for the by-hand runs. */
    const runnerFlagsOf = (pid: number): string[] => {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.slice(
        1,
        argv.findIndex((a) => a.endsWith('/runner.mjs')),
      );
    };
    let runnerFlags: string[] | undefined;

    if (only !== 'cold') {
      // 1. Throughput. The node with one instance (min = max = 1, never idle long enough to stop).
      const one = await startFixtureNode({
        scaling: { min: 1, max: 1, targetConcurrency: 64, idleTimeoutS: 3600 },
      });
      nodes.push(one);
      await deploy(one.httpPort, 'hello', zip);
      const oneFound = findInstances(one.proc.child.pid!);
      const oneListed = (await one.stats())[0]?.instances ?? [];
      if (oneFound.length !== 1 || oneListed.length !== 1 || oneListed[0]!.port !== oneFound[0]!.port) {
        throw new Error(
          `max-1 node: expected one instance; found by /proc + ss ${JSON.stringify(oneFound)}, stats ${JSON.stringify(oneListed)}`,
        );
      }
      const direct = oneFound[0]!;
      const cgroup = memoryCgroup(direct.pid);
      runnerFlags = runnerFlagsOf(direct.pid);

      // The real `aether serve` with the CLI's defaults.
      serve = await startAether({ persistence: 'memory' });
      await deploy(serve.httpPort, 'hello', zip);
      const serveAtUpload = findInstances(serve.child.pid!);
      if (serveAtUpload.length !== 1) {
        throw new Error(`aether serve: expected the rollout's one instance, found ${JSON.stringify(serveAtUpload)}`);
      }

      const cell = (what: string, url: string): Promise<WrkResult> => wrkCell(url, durationS, what);
      /** A gateway cell, sampling x-aether-instance every 250 ms while wrk runs. */
      const gatewayCell = async (
        what: string,
        httpPort: number,
        pid: number,
      ): Promise<{ r: WrkResult; sampled: Set<string>; samples: number; running: number }> => {
        const url = localUrl(httpPort, '/functions/hello/');
        await wrk(url, 1, `${what} (warm-up)`);
        const sampled = new Set<string>();
        let samples = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            await sleep(250);
            const a = await getOnce(httpPort, '/functions/hello/').catch(() => undefined);
            if (a?.instance !== undefined) sampled.add(a.instance);
            samples++;
          }
        })();
        try {
          const r = await wrk(url, durationS, what);
          return { r, sampled, samples, running: findInstances(pid).length };
        } finally {
          sampling = false;
          await sampler;
        }
      };

      const nginxPort = await freePort();
      const directUrl = localUrl(direct.port);
      const direct1 = await cell('direct', directUrl);
      const viaServe = await gatewayCell('aether serve', serve.httpPort, serve.child.pid!);
      await stop(serve);
      serve = undefined;
      const viaOne = await gatewayCell('aether max 1', one.httpPort, one.proc.child.pid!);
      nginx = await startNginx(path.join(dir, 'nginx-1'), 1, nginxPort, direct.port);
      const nginx1 = await cell('nginx-1', localUrl(nginxPort));
      await stop(nginx);
      nginx = undefined;
      const proxyPort = await freePort();
      proxy = await startUndiciProxy(proxyPort, direct.port);
      const undiciProxy = await cell('undici proxy', localUrl(proxyPort));
      await stop(proxy);
      proxy = undefined;
      const direct2 = await cell('direct (again)', directUrl);
      await stop(one.proc);
      nodes.splice(nodes.indexOf(one), 1);

      const { ratio, row: wrkRow } = versusDirect(direct1, direct2);
      const target = (r: WrkResult): string =>
        `>= ${NGINX_ONE_WORKER_RATIO}x: ${ratio(r) >= NGINX_ONE_WORKER_RATIO ? 'met' : 'MISSED'}`;
      const served = (g: { sampled: Set<string>; samples: number; running: number }): string =>
        `instances: ${g.sampled.size} seen in x-aether-instance of ${g.samples} sampled requests ([${[...g.sampled].sort().join(', ')}]), ${g.running} runner process(es) after the cell`;
      rows.push(
        wrkRow('throughput: direct (instance private port)', direct1, {
          note: `port ${direct.port} of runner pid ${direct.pid} (found via /proc + ss -ltnp, matches stats); memory cgroup ${cgroup}; bubblewrap`,
        }),
        wrkRow('throughput: aether serve gateway (default scaling)', viaServe.r, {
          target: target(viaServe.r),
          note: `the node's default scaling: min 0 max 4 target 100; ${served(viaServe)}`,
        }),
        wrkRow('throughput: aether gateway, max 1 instance', viaOne.r, {
          target: target(viaOne.r),
          note: `startServer in its own process, scaling min 1 max 1 target 64 (all 50 requests in the instance at once); ${served(viaOne)}`,
        }),
        wrkRow('throughput: nginx 1 worker', nginx1, { note: 'upstream keepalive 64, to the same instance as direct' }),
        wrkRow('throughput: reference: bare node:http + undici Pool proxy', undiciProxy, {
          note: 'bench/fixtures/undici-proxy.mjs: the data path the gateway had before the relay, without fastify, routing, slots or metrics',
        }),
        wrkRow('throughput: direct (again)', direct2),
      );
    }

    if (only === 'throughput') return rows;
    // 2. Cold start from zero.
    const scaling = { min: 0, max: 1, targetConcurrency: 16, idleTimeoutS: 1 };
    const sandboxed = await startFixtureNode({ scaling });
    nodes.push(sandboxed);
    const unsandboxed = await startFixtureNode({ scaling, isolation: 'none' });
    nodes.push(unsandboxed);
    await deploy(sandboxed.httpPort, 'cold', zip);
    await deploy(unsandboxed.httpPort, 'cold', zip);
    if (runnerFlags === undefined) {
      // The upload's rollout started one instance (it stops after idle_timeout_s).
      const pid = runnerPids(sandboxed.proc.child.pid!)[0];
      if (pid === undefined) throw new Error('cold node: no runner process after the upload');
      runnerFlags = runnerFlagsOf(pid);
    }
    const flagsOfRunner = runnerFlags;
    const socketPath = path.join(dir, 'hand.sock');
    type Run = { ms: number; startMs: number | null };
    /** `outside`: per run, the request's time minus the instance's startMs (what is not spawn -> ready). */
    type Variant = { name: string; run: () => Promise<Run>; ms: number[]; startMs: number[]; outside: number[] };
    const variant = (name: string, run: () => Promise<Run>): Variant => ({
      name,
      run,
      ms: [],
      startMs: [],
      outside: [],
    });
    const plain = variant('node -e http server', async () => ({
      ms: await coldByHand('node -e', ['-e', PLAIN_SERVER], {}, dir, 'stdout'),
      startMs: null,
    }));
    const byHand = variant('runner.mjs by hand', async () => ({
      ms: await coldByHand(
        'runner.mjs by hand',
        [...flagsOfRunner, RUNNER, codeDir],
        { AETHER_SOCKET: socketPath, AETHER_FUNCTION_ID: 'cold' },
        codeDir,
        { socketPath },
      ),
      startMs: null,
    }));
    const viaAether = variant('aether', () => coldThroughGateway(sandboxed, 'cold'));
    const viaAetherNoSandbox = variant('aether (isolation none)', () => coldThroughGateway(unsandboxed, 'cold'));
    const variants = [plain, byHand, viaAether, viaAetherNoSandbox];
    let instanceCgroup = 'unknown';
    for (let i = 0; i <= runs; i++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(i + k) % variants.length]!;
        for (const n of nodes) await untilZero(n, `cold start before ${v.name}`);
        await sleep(100);
        const r = await v.run();
        if (v === viaAether && instanceCgroup === 'unknown') {
          const pid = runnerPids(sandboxed.proc.child.pid!)[0];
          if (pid !== undefined) instanceCgroup = memoryCgroup(pid);
        }
        if (i === 0) continue; // warm-up round
        v.ms.push(r.ms);
        if (r.startMs !== null) {
          v.startMs.push(r.startMs);
          v.outside.push(r.ms - r.startMs);
        }
      }
    }
    const plainP50 = median(plain.ms);
    const handP50 = median(byHand.ms);
    rows.push(
      {
        scenario: 'cold start: node -e http server (bare)',
        p50_ms: round(plainP50),
        p99_ms: round(p99(plain.ms)),
        note: `spawn -> "listening" on stdout -> first 200, n=${runs}`,
      },
      {
        scenario: 'cold start: runner.mjs by hand (bare node)',
        p50_ms: round(handP50),
        p99_ms: round(p99(byHand.ms)),
        added_ms: round(handP50 - plainP50),
        note: `spawn -> READY -> first 200: node ${[...flagsOfRunner, 'runner.mjs'].join(' ')} <codeDir> as Aether runs it, same handler.js, no sandbox or cgroup; added_ms vs node -e; n=${runs}`,
      },
    );
    for (const v of [viaAether, viaAetherNoSandbox]) {
      const added = median(v.ms) - handP50;
      rows.push({
        scenario: `cold start: ${v.name} from zero via gateway`,
        p50_ms: round(median(v.ms)),
        p99_ms: round(p99(v.ms)),
        added_ms: round(added),
        ...(v === viaAether && {
          target: `<= runner by hand + ${COLD_TARGET_MS} ms: ${added <= COLD_TARGET_MS ? 'met' : 'MISSED'}`,
        }),
        note:
          `GET /functions/cold/ (fresh connection) -> 200 at zero instances; vs node -e +${round(median(v.ms) - plainP50)} ms; ` +
          `Aether's instance startMs (spawn -> READY + port) p50 ${round(median(v.startMs))}, ` +
          `request time outside it p50 ${round(median(v.outside))}; ` +
          (v === viaAether ? `bubblewrap, memory cgroup ${instanceCgroup}` : 'no bubblewrap, memory cgroup still') +
          `; n=${runs}`,
      });
    }
  } finally {
    if (nginx) await stop(nginx);
    if (proxy) await stop(proxy);
    if (serve) await stop(serve);
    for (const n of nodes) await stop(n.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

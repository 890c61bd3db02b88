/**
 * The HTTP load tooling the process and gateway scenarios (bench/process.ts,
 * bench/gateway.ts) share, so that both measure with the very same instruments: wrk
 * runs and the parsing of their report, the throughput rows with their ratio to the
 * direct cells, nginx as the reverse-proxy reference, one-shot GETs on fresh
 * connections, waiting for a server's first 200, stopping what a scenario started, and
 * the READY handshake their cold starts by hand wait for.
 * Percentiles come from ./stats.js like every other scenario's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { childEnv, startProcess, type Proc } from '../tests/support/processes.js';
import { pct } from './stats.js';

/** wrk, as scripts/setup-system.sh installs it. */
export const WRK = '/usr/bin/wrk';
/** nginx, as scripts/setup-system.sh installs it. */
export const NGINX = '/usr/sbin/nginx';
/** Measured on these machines (see the issue): nginx with one worker keeps 0.54x of direct. */
export const NGINX_ONE_WORKER_RATIO = 0.54;

/** `n` rounded to `d` decimals. */
export const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;
/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The 50th percentile of `xs` (any order), as stats.ts's `pct` computes it; NaN when empty. */
export const median = (xs: number[]): number =>
  pct(
    [...xs].sort((a, b) => a - b),
    50,
  );
/** The 99th percentile of `xs` (any order), as stats.ts's `pct` computes it; NaN when empty. */
export const p99 = (xs: number[]): number =>
  pct(
    [...xs].sort((a, b) => a - b),
    99,
  );

/** Throws unless every `[path, name]` exists, pointing at scripts/setup-system.sh. */
export function requireTools(tools: readonly (readonly [path: string, name: string])[]): void {
  for (const [bin, what] of tools) {
    if (!existsSync(bin)) throw new Error(`${what} is not installed at ${bin}: run scripts/setup-system.sh`);
  }
}

/** SIGTERM, then SIGKILL when it has not exited within `graceMs`. */
export async function stop(proc: Proc, graceMs = 10_000): Promise<void> {
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.kill('SIGTERM');
  clearTimeout(timer);
}

// ---------------------------------------------------------------- HTTP probes

/** `http://127.0.0.1:<port><urlPath>`. */
export const localUrl = (port: number, urlPath = '/'): string => `http://127.0.0.1:${port}${urlPath}`;

/** What one GET answered: its status and the x-aether-instance header, if any. */
export interface Answer {
  status: number;
  instance: string | undefined;
}

/** One GET on 127.0.0.1:`port` on a fresh connection; resolves once the body has ended. */
export function getOnce(port: number, urlPath = '/', timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        const h = res.headers['x-aether-instance'];
        resolve({ status: res.statusCode ?? 0, instance: Array.isArray(h) ? h[0] : h });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer on port ${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls GET / on `port` every `intervalMs` until it answers 200 (refused connections
 * and probes without an answer within 5 s are retried; any other status is an error).
 * `failed` names why to stop early, or returns null.
 */
export async function untilFirst200(
  port: number,
  what: string,
  failed: () => string | null,
  { timeoutMs = 10_000, intervalMs = 10 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    let status = 0;
    let error: unknown;
    try {
      status = (await getOnce(port, '/', 5000)).status;
    } catch (e) {
      error = e;
    }
    if (status === 200) return;
    if (status !== 0) throw new Error(`${what}: the first answer on port ${port} was ${status}, expected 200`);
    const why = failed();
    if (why !== null) throw new Error(`${what}: ${why}`);
    if (performance.now() > deadline) {
      throw new Error(
        `${what}: no 200 on port ${port} within ${timeoutMs} ms${error instanceof Error ? ` (last: ${error.message})` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** Waits for the first 200 on `port` from a server we just started; SIGKILLs it when that fails or it exits. */
export async function untilServing(proc: Proc, port: number, what: string): Promise<Proc> {
  let exited = false;
  void proc.exited.then(() => (exited = true));
  try {
    await untilFirst200(port, what, () => (exited ? `it exited:\n${proc.output()}` : null));
  } catch (e) {
    await proc.kill('SIGKILL');
    throw e;
  }
  return proc;
}

// ------------------------------------------------------------------------ wrk

/** One wrk run: requests per second, latency percentiles and what failed. */
export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

/** Milliseconds per unit of the durations wrk prints. */
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`cannot parse wrk duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Parses wrk's report (run with --latency). */
export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const requests = /(\d+) requests in/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!rps || !requests || !p50 || !p99) throw new Error(`cannot parse wrk output:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(rps[1]),
    requests: Number(requests[1]),
    p50Ms: parseDuration(p50[1]!),
    p99Ms: parseDuration(p99[1]!),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((s, n) => s + Number(n), 0) : 0,
  };
}

/** `wrk -t1 -c50 -d<durationS>s --latency <url>`; throws (naming `what`) unless it exits 0. */
export async function wrk(url: string, durationS: number, what: string): Promise<WrkResult> {
  const args = ['-t1', '-c50', `-d${durationS}s`, '--latency', url];
  const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`${what}: wrk ${args.join(' ')} exited with ${code}:\n${out}`);
  return parseWrk(out);
}

/** A throughput cell: a 1 s wrk warm-up, not counted, then `durationS` measured. */
export async function wrkCell(url: string, durationS: number, what: string): Promise<WrkResult> {
  await wrk(url, 1, `${what} (warm-up)`);
  return wrk(url, durationS, what);
}

/**
 * Throughput against the direct cells (run first and again last): `ratio` of a result's
 * requests/s to their mean, and `row`, a result row with that ratio and `extra` last.
 */
export function versusDirect(
  direct1: WrkResult,
  direct2: WrkResult,
): {
  ratio: (r: WrkResult) => number;
  row: (scenario: string, r: WrkResult, extra?: Record<string, unknown>) => Record<string, unknown>;
} {
  const directMean = (direct1.rps + direct2.rps) / 2;
  const ratio = (r: WrkResult): number => round(r.rps / directMean);
  return {
    ratio,
    row: (scenario, r, extra = {}) => ({
      scenario,
      rps: Math.round(r.rps),
      ratio_to_direct: ratio(r),
      p50_ms: round(r.p50Ms),
      p99_ms: round(r.p99Ms),
      errors: r.non2xx + r.socketErrors === 0 ? 0 : `non-2xx ${r.non2xx}, socket ${r.socketErrors}`,
      ...extra,
    }),
  };
}

// ---------------------------------------------------------------------- nginx

/** Modules Debian's nginx flavours may be built without; their temp path directives then do not exist. */
function nginxTempPaths(dir: string): string {
  const built = spawnSync(NGINX, ['-V'], { encoding: 'utf8' }).stderr ?? '';
  const lines = [`client_body_temp_path ${dir}/client_body;`, `proxy_temp_path ${dir}/proxy;`];
  for (const m of ['fastcgi', 'uwsgi', 'scgi']) {
    if (!built.includes(`--without-http_${m}_module`)) lines.push(`${m}_temp_path ${dir}/${m};`);
  }
  return lines.join('\n    ');
}

/**
 * Starts nginx (`worker_processes workers`, e.g. 1 or 'auto') in `dir`, reverse-proxying
 * 127.0.0.1:`listenPort` to 127.0.0.1:`upstreamPort` with upstream keepalive 64, and
 * waits for its first 200.
 */
export async function startNginx(
  dir: string,
  workers: number | 'auto',
  listenPort: number,
  upstreamPort: number,
): Promise<Proc> {
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    ${nginxTempPaths(dir)}
    upstream handler {
        server 127.0.0.1:${upstreamPort};
        keepalive 64;
    }
    server {
        listen 127.0.0.1:${listenPort};
        location / {
            proxy_pass http://handler;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`,
  );
  const proc = startProcess(NGINX, ['-c', conf, '-p', dir, '-g', 'daemon off;'], childEnv());
  return untilServing(proc, listenPort, `nginx (worker_processes ${workers})`);
}

// ------------------------------------------------------- cold start by hand

/** A Unix socket on which a process started by hand says READY, as Aether's runners do. */
export interface ReadySocket {
  /** What the first connection sent: its first 5 bytes (latin1), or all of it when it ended sooner. */
  ready: Promise<string>;
  /** Stops listening and removes the socket file. */
  close: () => void;
}

/** Listens on `socketPath` for a runner's READY (pass the path to it as AETHER_SOCKET). */
export async function listenForReady(socketPath: string): Promise<ReadySocket> {
  let onReady!: (got: string) => void;
  const ready = new Promise<string>((resolve) => (onReady = resolve));
  const server = createServer((s) => {
    let got = '';
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= 5) onReady(got);
    });
    s.on('end', () => onReady(got));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    ready,
    close: () => {
      server.close();
      rmSync(socketPath, { force: true });
    },
  };
}

/**
 * Waits for `ready` to bring READY. Throws, naming `what` (and with `output()`, the
 * process's output so far, when it ended), when `exited` (why the process ended) comes
 * first, nothing came within 10 s, or it sent anything else.
 */
export async function untilReady(
  what: string,
  ready: Promise<string>,
  exited: Promise<string>,
  output: () => string,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const first = await Promise.race([
      ready.then((got) => ({ got })),
      exited.then((why) => ({ why })),
      new Promise<{ why: string }>((r) => (timer = setTimeout(() => r({ why: 'sent no READY within 10 s' }), 10_000))),
    ]);
    if ('why' in first) throw new Error(`${what} ${first.why}:\n${output()}`);
    if (first.got !== 'READY') throw new Error(`${what} sent ${JSON.stringify(first.got)} instead of READY`);
  } finally {
    clearTimeout(timer);
  }
}

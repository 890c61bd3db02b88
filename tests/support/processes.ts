/**
 * Helpers for end-to-end tests: free loopback ports, the real `aether serve`
 * started as a child process (and SIGKILLed, and restarted), worker processes,
 * and waiting on conditions by polling instead of sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const AETHER_BIN = path.join(ROOT, 'packages/server/bin/aether.js');

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  srv.close();
  await once(srv, 'close');
  return port;
}

/**
 * A free loopback port below the kernel's ephemeral range (32768-60999), for
 * ports a test names in a config (trigger ports): a port from `freePort()`
 * can be handed out again by the kernel to any process binding port 0 (e.g.
 * an instance's private port) before the test binds it.
 */
export async function freeNamedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const srv = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      srv.close();
      await once(srv, 'close');
      return port;
    }
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Environment for child processes: no CA bundle (it slows every node start). */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/** A process with captured output. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns `cmd` with its output captured; `ipc` adds a Node IPC channel (child.send / 'message'). */
export function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT, ipc = false): Proc {
  const child = spawn(cmd, args, {
    env,
    cwd,
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Runs the CLI to completion. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [AETHER_BIN, ...args], {
    env: childEnv(options.env),
    cwd: options.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Options of a server started by `startAether`. */
export interface AetherServerOptions {
  persistence?: string;
  db?: string;
  grpcPort?: number;
  httpPort?: number;
  cwd?: string;
  args?: string[];
  env?: Record<string, string | undefined>;
}

/** A running `aether serve` child process. */
export interface AetherServer extends Proc {
  grpcPort: number;
  httpPort: number;
  grpcUrl: string;
  httpUrl: string;
  options: AetherServerOptions & { grpcPort: number; httpPort: number };
}

/** Starts `aether serve` and waits until /health answers. */
export async function startAether(options: AetherServerOptions = {}): Promise<AetherServer> {
  const grpcPort = options.grpcPort ?? (await freePort());
  const httpPort = options.httpPort ?? (await freePort());
  const args = ['serve', '--grpc-port', String(grpcPort), '--http-port', String(httpPort)];
  if (options.persistence) args.push('--persistence', options.persistence);
  if (options.db) args.push('--db', options.db);
  args.push(...(options.args ?? []));
  const proc = startProcess(process.execPath, [AETHER_BIN, ...args], childEnv(options.env), options.cwd ?? ROOT);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  let exitedEarly = false;
  void proc.exited.then(() => (exitedEarly = true));
  await waitFor(
    async () => {
      if (exitedEarly) throw new Error(`aether serve exited:\n${proc.output()}`);
      const r = await fetch(`${httpUrl}/health`);
      return r.ok;
    },
    'aether serve to answer /health',
    30_000,
  ).catch((e: unknown) => {
    proc.child.kill('SIGKILL');
    throw new Error(`${String(e)}\n--- server output ---\n${proc.output()}`);
  });
  return {
    ...proc,
    grpcPort,
    httpPort,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    httpUrl,
    options: { ...options, grpcPort, httpPort },
  };
}

/** SIGKILLs a server and starts it again with the same ports, store and options. */
export async function crashAndRestart(server: AetherServer): Promise<AetherServer> {
  await server.kill('SIGKILL');
  return startAether(server.options);
}

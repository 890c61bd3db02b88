/**
 * One instance of a process function: starts the handler through the
 * launcher (inside its memory cgroup from the first instruction, optionally
 * inside bubblewrap, killed with the orchestrator), waits for seed 000's READY on
 * its Unix socket and for its private port to accept (not probed for handlers
 * that only send READY once they listen), then tracks its state
 * until it exits: a crash, an OOM kill, or a stop asked by Aether. Like
 * instances can share a spare (createInstanceSpare): a stub waiting inside
 * their sandbox, which takes bubblewrap's set-up off a cold start.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { aetherError, type AetherError, type ErrorCode } from '@aether/core';
import type { InstanceCgroup } from './cgroup.js';
import { describeBytes, listenForReady, type Handshake } from './handshake.js';
import type { Launcher, Spare } from './launcher.js';
import { OutputTail, forEachLine } from './output-tail.js';
import { sandboxPrefix, type SandboxOptions } from './sandbox.js';
import type { ExitReason, InstanceExit, InstanceState, InstanceStatus } from './types.js';

/** What an instance needs to start. */
export interface InstanceOptions {
  functionId: string;
  instanceId: string;
  /** Absolute path of the executable. */
  handlerPath: string;
  /** Its arguments. @default [] */
  args?: string[] | undefined;
  /** Its working directory. @default the executable's directory */
  cwd?: string | undefined;
  /** More directories the sandbox must show (read-only), e.g. a node function's code. */
  readOnly?: string[] | undefined;
  /** Extra environment (the function's `environment`). */
  environment: Record<string, string>;
  /** The base environment handlers inherit. */
  baseEnv: NodeJS.ProcessEnv;
  /** A private directory for the Unix sockets. */
  runDir: string;
  /** The private loopback port to serve on. */
  port: number;
  startTimeoutMs: number;
  memoryLimitMb: number;
  /** Starts the process inside its cgroup (when memory can be limited here). */
  launcher: Launcher;
  /** The bubblewrap binary when the function is sandboxed. */
  bwrap: string | null;
  /** A stub waiting inside this instance's sandbox, from {@link createInstanceSpare}; the start takes it when it can. */
  spare?: Spare | null | undefined;
  /**
   * The handler sends READY only once it listens on its port (the node runner does), so the
   * start does not probe the port: a probe's connection delays the handler's first request.
   * @default false (seed 000's protocol: READY may come before the port is bound)
   */
  readyAfterListen?: boolean | undefined;
  /** Each line the handler writes, for the orchestrator's log. */
  onOutput(line: string, stream: 'stdout' | 'stderr'): void;
  /** Called once when the process has exited (after start() settled). */
  onExit(instance: ProcessInstance): void;
}

function startError(code: ErrorCode, message: string, reason: ExitReason, stderrTail: string): AetherError {
  const tail = stderrTail === '' ? '' : `\n--- stderr (last lines) ---\n${stderrTail}`;
  return aetherError(code, `${message}${tail}`, { reason, stderrTail });
}

/** What decides an instance's sandbox (every instance of a node function version has the same). */
export type InstanceSandboxOptions = Pick<InstanceOptions, 'handlerPath' | 'cwd' | 'readOnly' | 'runDir' | 'bwrap'>;

/** The sandbox of an instance, or null when it is not sandboxed. */
function instanceSandbox(o: InstanceSandboxOptions): SandboxOptions | null {
  if (o.bwrap === null) return null;
  const cwd = o.cwd ?? path.dirname(o.handlerPath);
  return {
    bwrap: o.bwrap,
    cwd,
    writable: [o.runDir],
    // The handler's directory stays visible (read-only) even under the private /tmp.
    readOnly: [...new Set([path.dirname(o.handlerPath), cwd, ...(o.readOnly ?? [])])],
  };
}

/**
 * Keeps one stub waiting inside the sandbox of instances with these options (pass it as
 * their `spare`): their starts then exec the handler in a sandbox set up in advance.
 * Null when they are not sandboxed (the launcher's plain stubs serve them). Close it with
 * the instances' owner.
 */
export function createInstanceSpare(options: InstanceSandboxOptions & { launcher: Launcher }): Spare | null {
  const sandbox = instanceSandbox(options);
  return sandbox === null ? null : options.launcher.spare(sandboxPrefix(sandbox));
}

/** Probes `port` until it accepts a connection (seed handlers send READY before they bind). */
async function waitForPort(port: number, deadline: number, alive: () => boolean): Promise<boolean> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    if (!alive() || Date.now() > deadline) return false;
    // Handlers bind within a millisecond or two of READY: retry at once rather than on a timer.
    await new Promise((r) => setImmediate(r));
  }
}

/** A running (or starting, or ended) handler process. */
export class ProcessInstance {
  state: InstanceState = 'STARTING';
  inFlight = 0;
  connections = 0;
  /** Date.now() of the last request routed to it. */
  lastActivity = Date.now();
  readonly startedAt = new Date();
  startMs: number | null = null;
  exit: InstanceExit | null = null;
  private child: ChildProcess | null = null;
  private cgroup: InstanceCgroup | null = null;
  private handshake: Handshake | null = null;
  private readonly stderr = new OutputTail();
  private stopping = false;
  /** Why start() gave up, when it did (the exit is then reported with this reason). */
  private startFailure: { code: ErrorCode; message: string; reason: ExitReason } | null = null;
  private exited: Promise<void> | null = null;

  constructor(readonly options: InstanceOptions) {}

  get id(): string {
    return this.options.instanceId;
  }
  get port(): number {
    return this.options.port;
  }
  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  /** True while it can take new connections. */
  get routable(): boolean {
    return this.state === 'READY' || this.state === 'BUSY';
  }

  /**
   * Spawns the handler and waits for READY and its port.
   * @throws AETHER_E_FN_SPAWN_FAILED, AETHER_E_FN_START_TIMEOUT, AETHER_E_FN_HANDSHAKE_INVALID,
   *   AETHER_E_FN_EXITED_EARLY, AETHER_E_FN_OOM (the instance is then ended and its exit recorded)
   */
  async start(): Promise<void> {
    const o = this.options;
    const t0 = performance.now();
    const socketPath = path.join(o.runDir, `${o.instanceId}.sock`);
    this.handshake = await listenForReady(socketPath);

    const cwd = o.cwd ?? path.dirname(o.handlerPath);
    const sandbox = instanceSandbox(o);
    const env: NodeJS.ProcessEnv = {
      ...o.baseEnv,
      ...o.environment,
      AETHER_SOCKET: socketPath,
      AETHER_TRIGGER_PORT: String(o.port),
      AETHER_FUNCTION_ID: o.functionId,
      AETHER_INSTANCE_ID: o.instanceId,
    };

    let spawnError: Error | null = null;
    let onExit!: () => void;
    const exitedEarly = new Promise<void>((resolve) => (onExit = resolve));
    // Its own process group (detached): a Ctrl+C in the terminal reaches the orchestrator, which stops instances in order.
    const { child, cgroup } = o.launcher.launch({
      name: `${o.functionId}.${o.instanceId}`,
      command: o.handlerPath,
      args: o.args ?? [],
      cwd,
      env,
      limitBytes: o.memoryLimitMb * 1024 * 1024,
      wrap: sandbox === null ? [] : sandboxPrefix(sandbox),
      spare: o.spare,
    });
    this.cgroup = cgroup;
    this.child = child;
    child.on('error', (err) => {
      spawnError = err;
      onExit();
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d));
    forEachLine(child.stdout!, (line) => o.onOutput(line, 'stdout'));
    forEachLine(child.stderr!, (line) => o.onOutput(line, 'stderr'));
    this.exited = new Promise<void>((resolve) => {
      child.on('close', (code, signal) => {
        this.ended(code, signal, spawnError);
        onExit();
        resolve();
      });
    });

    const deadline = Date.now() + o.startTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(() => resolve('timeout'), o.startTimeoutMs)),
    );
    try {
      const first = await Promise.race([this.handshake.outcome, exitedEarly.then(() => 'exit' as const), timedOut]);
      if (first === 'timeout') {
        throw this.failStart(
          'AETHER_E_FN_START_TIMEOUT',
          `${o.functionId}: the handler did not send READY on AETHER_SOCKET within ${o.startTimeoutMs} ms`,
          'start-timeout',
        );
      }
      if (first === 'exit') throw await this.exitedBeforeReady(spawnError);
      if (!first.ok) {
        throw this.failStart(
          'AETHER_E_FN_HANDSHAKE_INVALID',
          `${o.functionId}: the handler sent ${describeBytes(first.received)} instead of the 5 bytes READY`,
          'handshake-invalid',
        );
      }
      const listening =
        o.readyAfterListen === true ||
        (await waitForPort(o.port, deadline, () => this.exit === null && !this.stopping));
      if (!listening) {
        if (this.exit !== null || this.child.exitCode !== null) throw await this.exitedBeforeReady(spawnError);
        throw this.failStart(
          'AETHER_E_FN_START_TIMEOUT',
          `${o.functionId}: the handler sent READY but did not listen on AETHER_TRIGGER_PORT ${o.port} within ${o.startTimeoutMs} ms`,
          'start-timeout',
        );
      }
    } finally {
      clearTimeout(timer);
      this.handshake.close();
    }
    if (this.exit !== null) throw await this.exitedBeforeReady(spawnError);
    this.startMs = Math.round((performance.now() - t0) * 100) / 100;
    this.state = 'READY';
  }

  /** Records why the start failed, kills the process, and returns the error to throw. */
  private failStart(code: ErrorCode, message: string, reason: ExitReason): AetherError {
    this.startFailure = { code, message, reason };
    this.kill('SIGKILL');
    return startError(code, message, reason, this.stderr.text());
  }

  private async exitedBeforeReady(spawnError: Error | null): Promise<AetherError> {
    await this.exited;
    const o = this.options;
    const exit = this.exit;
    if (spawnError !== null || exit?.reason === 'spawn-failed') {
      return startError(
        'AETHER_E_FN_SPAWN_FAILED',
        `${o.functionId}: cannot run ${o.handlerPath}: ${spawnError?.message ?? exit?.message ?? 'unknown error'}`,
        'spawn-failed',
        this.stderr.text(),
      );
    }
    if (exit?.reason === 'oom') {
      return startError(
        'AETHER_E_FN_OOM',
        `${o.functionId}: ${exit.message} before it sent READY`,
        'oom',
        exit.stderrTail,
      );
    }
    return startError(
      'AETHER_E_FN_EXITED_EARLY',
      `${o.functionId}: the handler ${exit?.message ?? 'exited'} before it sent READY`,
      'exited-early',
      this.stderr.text(),
    );
  }

  private ended(code: number | null, signal: NodeJS.Signals | null, spawnError: Error | null): void {
    const o = this.options;
    const oom = (this.cgroup?.oomKills() ?? 0) > 0;
    let reason: ExitReason;
    let message: string;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    // setpriv and sh report a handler that could not be executed as 126/127 with a message on stderr.
    const notRun = code === 126 || code === 127;
    if (spawnError !== null) {
      reason = 'spawn-failed';
      message = spawnError.message;
    } else if (oom) {
      reason = 'oom';
      message = `was killed by the kernel at its memory limit of ${o.memoryLimitMb} MB (OOM)`;
    } else if (this.startFailure !== null) {
      reason = this.startFailure.reason;
      message = this.startFailure.message;
    } else if (this.stopping) {
      reason = 'stopped';
      message = `stopped by Aether (${how})`;
    } else if (this.state === 'STARTING') {
      reason = notRun ? 'spawn-failed' : 'exited-early';
      message = how;
    } else {
      reason = 'crashed';
      message = how;
    }
    this.exit = {
      reason,
      code,
      signal,
      at: new Date().toISOString(),
      message,
      stderrTail: this.stderr.text(),
    };
    this.state = reason === 'stopped' ? 'STOPPED' : 'FAILED';
    this.cgroup?.remove();
    if (this.stopping || this.startMs !== null) o.onExit(this);
  }

  private kill(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null || this.child.signalCode !== null) return;
    // bubblewrap does not forward signals and the sandboxed handler runs in its own session:
    // signal every process of the instance's cgroup directly.
    for (const p of this.cgroup?.pids() ?? []) {
      try {
        process.kill(p, signal);
      } catch {
        // gone meanwhile
      }
    }
    try {
      process.kill(-pid, signal); // the whole process group
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** Resolves once the process has exited, or after `ms`. */
  async whenExited(ms: number): Promise<void> {
    if (this.exited === null || this.exit !== null) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Marks it DRAINING: no new connections; the caller closes its connections. */
  drain(): void {
    if (this.routable || this.state === 'STARTING') this.state = 'DRAINING';
  }

  /** Stops the process: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited === null) return;
    if (this.exit === null) {
      this.stopping = true;
      if (this.state !== 'FAILED') this.state = 'DRAINING';
      this.kill('SIGTERM');
      const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
  }

  /** Memory in bytes: the cgroup's usage when limited, else the RSS from /proc. */
  memoryBytes(): number | null {
    if (this.exit !== null) return null;
    if (this.cgroup !== null) return this.cgroup.memoryBytes();
    const pid = this.pid;
    if (pid === null) return null;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  status(): InstanceStatus {
    return {
      id: this.id,
      pid: this.pid,
      port: this.port,
      state: this.state,
      inFlight: this.inFlight,
      connections: this.connections,
      memoryBytes: this.memoryBytes(),
      startedAt: this.startedAt.toISOString(),
      startMs: this.startMs,
      exit: this.exit,
    };
  }
}

/**
 * One process function: its trigger-port relay and its instances. Keeps
 * `scaling.min` instances (plus its share of the warm pool) running, starts
 * more while in-flight requests per instance exceed target_concurrency (up
 * to max), stops idle extra ones after idle_timeout_s, and replaces crashed
 * instances with exponential backoff (100 ms doubling to 30 s; the count
 * resets once an instance has lived 10 s).
 */
import path from 'node:path';
import type { ErrorCode, FunctionSpec } from '@aether/core';
import { ProcessInstance } from './instance.js';
import type { Launcher } from './launcher.js';
import { RequestStatsWindow } from './request-stats.js';
import { openTriggerProxy, type ProxyTarget, type TriggerProxy } from './trigger-proxy.js';
import type { InstanceExit, ProcessFunctionStatus } from './types.js';
import { freePort } from './free-port.js';

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 30_000;
const STABLE_MS = 10_000;

/** What every function of an orchestrator shares. */
export interface FunctionContext {
  host: string;
  runDir: string;
  startTimeoutMs: number;
  baseEnv: NodeJS.ProcessEnv;
  launcher: Launcher;
  bwrap: string | null;
  /** Trigger ports in use or about to be bound: never given to an instance as its private port. */
  triggerPorts(): ReadonlySet<number>;
  log: {
    output(functionId: string, line: string, stream: 'stdout' | 'stderr'): void;
    event(functionId: string, message: string, fields?: Record<string, unknown>): void;
  };
}

let instanceCounter = 0;

/** A process function's instances and its public port. */
export class ProcessFunction implements ProxyTarget {
  readonly stats = new RequestStatsWindow();
  instances: ProcessInstance[] = [];
  restarts = 0;
  lastExit: InstanceExit | null = null;
  warm = 0;
  private proxy: TriggerProxy | null = null;
  /** False once a successor generation took over the listener (this one only drains). */
  private ownsProxy = true;
  private failures = 0;
  /** Instances that ended on their own (or failed to start) and are not replaced yet. */
  private replacementsDue = 0;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private starting = 0;
  private closed = false;
  private startError: Error | null = null;

  constructor(
    readonly spec: FunctionSpec & { handlerPath: string; triggerPort: number },
    readonly generation: number,
    private readonly ctx: FunctionContext,
  ) {}

  get id(): string {
    return this.spec.id;
  }
  get timeoutMs(): number {
    return this.spec.timeoutMs;
  }
  get port(): number {
    return this.spec.triggerPort;
  }

  /** Binds the trigger port. @throws AETHER_E_FN_PORT_IN_USE */
  async listen(): Promise<void> {
    this.proxy = await openTriggerProxy(this.spec.triggerPort, this.ctx.host, this);
  }

  /** True once it listens (or adopted a listener). */
  get hasProxy(): boolean {
    return this.proxy !== null && this.ownsProxy;
  }

  /** Stops accepting connections on its port (open ones continue until close()). */
  async releasePort(): Promise<void> {
    if (this.ownsProxy) await this.proxy?.stopListening();
    this.ownsProxy = false;
  }

  /** Takes over the listener of the previous generation (same port) without a gap. */
  adoptProxy(from: ProcessFunction): void {
    this.proxy = from.proxy;
    from.ownsProxy = false;
    this.proxy?.retarget(this);
  }

  /**
   * Starts the first `count` instances and waits until they are ready.
   * @throws the first instance's start error (typed, with its stderr tail)
   */
  async startInstances(count: number): Promise<void> {
    const results = await Promise.allSettled(Array.from({ length: count }, () => this.startOne()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  private async startOne(): Promise<ProcessInstance> {
    const instanceId = `i${(++instanceCounter).toString(36)}`;
    const port = await freePort(this.ctx.triggerPorts());
    const instance: ProcessInstance = new ProcessInstance({
      functionId: this.id,
      instanceId,
      handlerPath: path.resolve(this.spec.handlerPath),
      environment: this.spec.environment,
      baseEnv: this.ctx.baseEnv,
      runDir: this.ctx.runDir,
      port,
      startTimeoutMs: this.ctx.startTimeoutMs,
      memoryLimitMb: this.spec.memoryLimitMb,
      launcher: this.ctx.launcher,
      bwrap: this.spec.isolation === 'sandbox' ? this.ctx.bwrap : null,
      onOutput: (line, stream) => this.ctx.log.output(this.id, line, stream),
      onExit: (i) => this.instanceExited(i),
    });
    this.instances.push(instance);
    this.starting++;
    try {
      await instance.start();
      this.ctx.log.event(this.id, `instance ${instanceId} ready`, {
        pid: instance.pid,
        port,
        startMs: instance.startMs,
      });
      this.startError = null;
      if (this.closed) {
        await instance.stop();
        return instance;
      }
      this.proxy?.dispatch();
      return instance;
    } catch (err) {
      this.lastExit = instance.exit;
      this.startError = err as Error;
      this.removeLater(instance);
      throw err;
    } finally {
      this.starting--;
    }
  }

  /** Keeps a FAILED instance listed (state and exit) for 10 s, then forgets it; lastExit stays. */
  private removeLater(instance: ProcessInstance): void {
    const replaced = (): void => {
      this.instances = this.instances.filter((i) => i !== instance);
    };
    if (instance.state === 'STOPPED' || this.closed) replaced();
    else setTimeout(replaced, STABLE_MS).unref();
  }

  private instanceExited(instance: ProcessInstance): void {
    const exit = instance.exit!;
    if (exit.reason === 'stopped') {
      this.instances = this.instances.filter((i) => i !== instance);
      return;
    }
    this.lastExit = exit;
    this.ctx.log.event(this.id, `instance ${instance.id} ${exit.message}`, {
      reason: exit.reason,
      code: exit.code,
      signal: exit.signal,
      stderrTail: exit.stderrTail === '' ? undefined : exit.stderrTail,
    });
    this.removeLater(instance);
    const lived = Date.now() - instance.startedAt.getTime();
    this.failures = lived >= STABLE_MS ? 1 : this.failures + 1;
    this.replacementsDue++;
    this.scheduleReplacement();
  }

  private scheduleReplacement(): void {
    if (this.closed) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, this.failures - 1));
    this.retryAt = Date.now() + delay;
    if (this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.retryAt = 0;
      this.reconcile();
    }, delay);
    this.retryTimer.unref();
  }

  private live(): ProcessInstance[] {
    return this.instances.filter((i) => i.state !== 'FAILED' && i.state !== 'STOPPED' && i.state !== 'DRAINING');
  }

  /** How many instances it should have now: the load, plus the warm spares, within min and max. */
  desired(): number {
    const s = this.spec.scaling;
    const inFlight = this.instances.reduce((n, i) => n + i.inFlight, 0);
    const queued = this.proxy?.queued ?? 0;
    const load = Math.ceil((inFlight + queued) / s.targetConcurrency);
    return Math.min(s.max, Math.max(s.min, load + this.warm));
  }

  /** Starts instances up to desired() (unless backing off), and stops idle extras. */
  reconcile(): void {
    if (this.closed || Date.now() < this.retryAt) return;
    const live = this.live();
    const want = this.desired();
    for (let n = live.length; n < want; n++) {
      if (this.replacementsDue > 0) {
        this.replacementsDue--;
        this.restarts++;
      }
      this.startOne().catch((err: Error) => {
        this.ctx.log.event(this.id, `instance failed to start: ${err.message}`);
        this.failures++;
        this.replacementsDue++;
        this.scheduleReplacement();
      });
    }
    if (live.length > want) {
      const idleMs = this.spec.scaling.idleTimeoutS * 1000;
      const now = Date.now();
      const idle = live.filter((i) => i.routable && i.inFlight === 0 && now - i.lastActivity >= idleMs);
      for (const instance of idle.slice(0, live.length - want)) this.retire(instance);
    }
  }

  /** Drains one instance and stops it once its connections are closed. */
  retire(instance: ProcessInstance): void {
    instance.drain();
    this.proxy?.drainInstance(instance);
    const check = setInterval(() => {
      if (
        instance.connections === 0 ||
        instance.exit !== null ||
        Date.now() - instance.lastActivity > this.timeoutMs + 1000
      ) {
        clearInterval(check);
        void instance.stop();
      }
    }, 50);
    check.unref();
  }

  // ProxyTarget
  pick(): ProcessInstance | null {
    let best: ProcessInstance | null = null;
    for (const i of this.instances) {
      if (!i.routable) continue;
      if (
        best === null ||
        i.inFlight < best.inFlight ||
        (i.inFlight === best.inFlight && i.connections < best.connections)
      ) {
        best = i;
      }
    }
    if (best === null) this.reconcile();
    return best;
  }
  requestStarted(instance: ProcessInstance): void {
    if (instance.state === 'READY' && instance.inFlight >= this.spec.scaling.targetConcurrency) instance.state = 'BUSY';
    // Runs on every request: cheap tests first (the 50 ms tick catches what they let through).
    const s = this.spec.scaling;
    if (instance.inFlight > s.targetConcurrency && this.instances.length < s.max && this.live().length < s.max) {
      this.reconcile();
    }
  }
  requestAnswered(instance: ProcessInstance): void {
    if (instance.state === 'BUSY' && instance.inFlight < this.spec.scaling.targetConcurrency) instance.state = 'READY';
  }
  unavailableReason(): string {
    if (this.startError !== null) return this.startError.message.split('\n')[0] ?? 'start failed';
    if (this.lastExit !== null) return `last instance ${this.lastExit.message}`;
    return this.starting > 0 ? 'instances are starting' : 'no instance is running';
  }
  deathCode(instance: ProcessInstance): ErrorCode {
    return instance.exit?.reason === 'oom' ? 'AETHER_E_FN_OOM' : 'AETHER_E_FN_INSTANCE_CRASHED';
  }

  /** Periodic work: timeouts, queued connections, scaling. */
  tick(): void {
    this.proxy?.sweep();
    this.reconcile();
  }

  /**
   * Drains every instance and stops it, letting in-flight requests finish for up to
   * `graceMs` (connections between requests are closed at once). Closes the port
   * unless a successor generation adopted it.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const proxy = this.proxy;
    if (this.ownsProxy) await proxy?.stopListening();
    const deadline = Date.now() + graceMs;
    for (const i of this.instances) i.drain();
    for (const i of this.instances) proxy?.drainInstance(i);
    while (Date.now() < deadline && this.instances.some((i) => i.connections > 0 && i.exit === null)) {
      proxy?.sweep();
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.ownsProxy) proxy?.destroyAll();
    this.proxy = null;
    await Promise.all(this.instances.map((i) => i.stop(graceMs)));
  }

  status(): ProcessFunctionStatus {
    const instances = this.instances.map((i) => i.status());
    const mems = instances.map((i) => i.memoryBytes).filter((m): m is number => m !== null);
    return {
      id: this.id,
      runtime: 'process',
      triggerPort: this.port,
      handlerPath: this.spec.handlerPath,
      memoryLimitMb: this.spec.memoryLimitMb,
      timeoutMs: this.spec.timeoutMs,
      isolation: this.spec.isolation,
      scaling: this.spec.scaling,
      warm: this.warm,
      generation: this.generation,
      instances,
      restarts: this.restarts,
      lastExit: this.lastExit,
      requests: this.stats.snapshot(),
      memoryBytes: mems.length > 0 ? mems.reduce((a, b) => a + b, 0) : null,
    };
  }
}

/**
 * Seed 000's orchestrator: runs the process functions of a functions file,
 * each behind its trigger_port, and hot-loads a new file (`aether deploy`):
 * added functions start, removed ones drain and stop, changed ones get a new
 * generation whose instances are ready before the old ones drain (the port
 * is handed over, never closed), and untouched ones are not touched at all.
 * A deploy that cannot start (port in use, a handler that fails its start)
 * changes nothing. Settings this host cannot honour are reported in `notes`.
 */
import { mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FUNCTIONS_FILE_DEFAULTS, aetherError, type FunctionSpec, type ResolvedFunctionsFile } from '@aether/core';
import { cleanupStaleCgroups, detectCgroups, type CgroupSupport } from './cgroup.js';
import { createLauncher } from './launcher.js';
import { ProcessFunction, type FunctionContext } from './process-function.js';
import { findBubblewrap } from './sandbox.js';
import type { OrchestratorStatus } from './types.js';
import type { WasmLogger } from '../wasm/worker-pool-options.js';

/** Logger of the orchestrator: the same pino-compatible subset as the WASM pool's. */
export type OrchestratorLogger = WasmLogger;

/** Options of createOrchestrator. */
export interface OrchestratorOptions {
  /** Address the trigger ports bind to. @default '127.0.0.1' */
  host?: string | undefined;
  /** Each line a handler writes (seed 000's `up --foreground` shows them). @default ignored */
  onOutput?: ((functionId: string, line: string, stream: 'stdout' | 'stderr') => void) | undefined;
  logger?: OrchestratorLogger | undefined;
  /** The environment handlers inherit. @default process.env */
  baseEnv?: NodeJS.ProcessEnv | undefined;
  /** How memory limits are found; tests pass fake roots. @default detectCgroups() */
  cgroups?: CgroupSupport | undefined;
}

/** A function file entry the orchestrator runs (process runtime, with its port and handler). */
type ProcessSpec = FunctionSpec & { handlerPath: string; triggerPort: number };

/** The running orchestrator. */
export interface Orchestrator {
  /**
   * Applies a functions file: the first call starts everything; later calls hot-load.
   * @throws AETHER_E_FN_PORT_IN_USE, AETHER_E_FN_START_TIMEOUT, AETHER_E_FN_HANDSHAKE_INVALID,
   *   AETHER_E_FN_EXITED_EARLY, AETHER_E_FN_SPAWN_FAILED, AETHER_E_SANDBOX_UNAVAILABLE,
   *   AETHER_E_FN_RUNTIME_UNSUPPORTED — and then nothing has changed
   */
  deploy(file: ResolvedFunctionsFile, fileName: string): Promise<DeployResult>;
  status(): OrchestratorStatus;
  /** Resolves once it can cold-start instances at full speed (its launch stubs sit in their cgroups). */
  ready(): Promise<void>;
  /** Stops every instance (in-flight requests get `graceMs`) and closes every port. */
  close(graceMs?: number): Promise<void>;
  /** How instances start here (launcher, cgroups, sandbox, runtime dir): shared with node functions. */
  readonly context: FunctionContext;
}

/** What a deploy changed. */
export interface DeployResult {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
}

const silent: OrchestratorLogger = { info() {}, warn() {}, error() {} };

/** The settings of a file that have no effect on this host, one sentence each. */
export function orchestratorNotes(
  file: ResolvedFunctionsFile,
  host: { cgroups: CgroupSupport; bwrap: string | null },
): string[] {
  const notes: string[] = [];
  const o = file.orchestrator;
  // Measured: Debian 12's criu 3.17 fails on this kernel, and criu 4.1 restores slower than a cold start.
  notes.push(
    `restore_timeout_ms (${o.restoreTimeoutMs}) and snapshot_dir (${o.snapshotDir}) have no effect: instances start cold (no CRIU restore; it does not work on this host); warm_pool_size keeps started instances ready instead`,
  );
  notes.push(
    `shm_buffer_size (${o.shmBufferSize} bytes) has no effect on process functions: Aether relays their HTTP over loopback TCP`,
  );
  if (host.cgroups.kind === 'none' && file.functions.some((f) => f.runtime === 'process')) {
    notes.push(`memory_limit_mb is not enforced: ${host.cgroups.detail}`);
  }
  const sandboxed = file.functions.filter((f) => f.isolation === 'sandbox').map((f) => f.id);
  if (sandboxed.length > 0 && host.bwrap === null) {
    notes.push(`isolation: sandbox (${sandboxed.join(', ')}) cannot run: bubblewrap (bwrap) is not installed`);
  }
  return notes;
}

function sameSpec(a: ProcessSpec, b: ProcessSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the groups of orchestrators that died without cleaning up (SIGKILL). */
function removeStaleGroups(cgroups: CgroupSupport): void {
  if (cgroups.parentPath === null) return;
  const top = path.dirname(cgroups.parentPath);
  let entries: string[];
  try {
    entries = readdirSync(top);
  } catch {
    return;
  }
  for (const name of entries) {
    const pid = /^o(\d+)$/.exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    const stale = detectCgroups({ group: `${path.basename(top)}/${name}` });
    if (stale.kind === cgroups.kind && cleanupStaleCgroups(stale).kept.length === 0) {
      try {
        rmdirSync(path.join(top, name));
      } catch {
        // still busy: a later start retries
      }
    }
  }
}

/** Splits warm_pool_size over the functions, within each one's room above min. */
function shareWarmPool(fns: ProcessFunction[], warmPoolSize: number): void {
  let left = warmPoolSize;
  for (const f of fns) f.warm = 0;
  for (let progress = true; left > 0 && progress;) {
    progress = false;
    for (const f of fns) {
      if (left === 0) break;
      if (f.spec.scaling.min + f.warm < f.spec.scaling.max) {
        f.warm++;
        left--;
        progress = true;
      }
    }
  }
}

/**
 * Creates an orchestrator with no functions; `deploy(file)` starts them.
 * @example
 * const orch = createOrchestrator({ onOutput: (id, line) => console.log(line) });
 * await orch.deploy(parseFunctionsFile(text, 'hello.yaml'), 'hello.yaml');
 */
export function createOrchestrator(options: OrchestratorOptions = {}): Orchestrator {
  const logger = options.logger ?? silent;
  // Each orchestrator has its own parent group (aether/o<pid>), so two on one host never remove each other's groups.
  const cgroups = options.cgroups ?? detectCgroups({ group: `aether/o${process.pid}` });
  if (options.cgroups === undefined) removeStaleGroups(cgroups);
  const bwrap = findBubblewrap();
  const runDir = mkdtempSync(path.join(tmpdir(), 'aether-run-'));
  const ctx: FunctionContext = {
    host: options.host ?? '127.0.0.1',
    runDir,
    startTimeoutMs: FUNCTIONS_FILE_DEFAULTS.startTimeoutMs,
    baseEnv: options.baseEnv ?? process.env,
    launcher: createLauncher(cgroups.kind === 'none' ? null : cgroups, runDir, options.baseEnv ?? process.env),
    bwrap,
    triggerPorts: () => new Set([...[...functions.values()].map((f) => f.port), ...incomingPorts]),
    log: {
      output: (id, line, stream) => options.onOutput?.(id, line, stream),
      event: (id, message, fields) => logger.info({ function: id, ...fields }, message),
    },
  };
  let functions = new Map<string, ProcessFunction>();
  /** The trigger ports of the file being deployed. */
  let incomingPorts: number[] = [];
  let current: { file: ResolvedFunctionsFile; fileName: string } | null = null;
  let generation = 0;
  let notes: string[] = [];
  let deploying: Promise<unknown> = Promise.resolve();
  let closed = false;

  const tick = setInterval(() => {
    for (const f of functions.values()) f.tick();
  }, 50);
  tick.unref();

  async function apply(file: ResolvedFunctionsFile, fileName: string): Promise<DeployResult> {
    if (closed) throw aetherError('AETHER_E_ORCHESTRATOR_NOT_RUNNING', 'the orchestrator is shutting down');
    const specs: ProcessSpec[] = [];
    for (const fn of file.functions) {
      if (fn.runtime !== 'process') {
        throw aetherError(
          'AETHER_E_FN_RUNTIME_UNSUPPORTED',
          `${fileName}: function ${fn.id}: runtime ${fn.runtime} cannot run from a functions file yet (process only); deploy wasm modules with POST /api/functions`,
          { function: fn.id },
        );
      }
      if (fn.isolation === 'sandbox' && bwrap === null) {
        throw aetherError(
          'AETHER_E_SANDBOX_UNAVAILABLE',
          `${fileName}: function ${fn.id}: isolation: sandbox needs bubblewrap (bwrap), which is not installed`,
          {
            function: fn.id,
          },
        );
      }
      specs.push({ ...fn, handlerPath: fn.handlerPath!, triggerPort: fn.triggerPort! });
    }
    ctx.startTimeoutMs = file.orchestrator.startTimeoutMs;
    incomingPorts = specs.map((s) => s.triggerPort);
    const result: DeployResult = { added: [], changed: [], removed: [], unchanged: [] };
    const next = new Map<string, ProcessFunction>();
    const fresh: ProcessFunction[] = [];
    const replaced: ProcessFunction[] = [];
    generation++;
    try {
      for (const spec of specs) {
        const old = functions.get(spec.id);
        if (old !== undefined && sameSpec(old.spec, spec)) {
          next.set(spec.id, old);
          result.unchanged.push(spec.id);
          continue;
        }
        const fn = new ProcessFunction(spec, generation, ctx);
        fresh.push(fn);
        next.set(spec.id, fn);
        if (old === undefined) result.added.push(spec.id);
        else {
          result.changed.push(spec.id);
          replaced.push(old);
        }
        // A port kept by the same function is handed over later; any other port is bound now.
        if (old === undefined || old.port !== spec.triggerPort) {
          const holder = [...functions.values()].find(
            (f) => f.port === spec.triggerPort && !specs.some((s) => s.id === f.id && s.triggerPort === f.port),
          );
          if (holder === undefined) await fn.listen();
        }
      }
      shareWarmPool([...next.values()], file.orchestrator.warmPoolSize);
      // Each new generation is ready (its minimum) before any traffic moves to it.
      await Promise.all(fresh.map((fn) => fn.startInstances(Math.max(1, fn.spec.scaling.min))));
    } catch (err) {
      await Promise.all(fresh.map((fn) => fn.close(0)));
      shareWarmPool([...functions.values()], current?.file.orchestrator.warmPoolSize ?? 0);
      throw err;
    }
    for (const id of functions.keys()) if (!next.has(id)) result.removed.push(id);
    // Ports freed by removed functions and taken by others need the old listener closed first.
    const removedFns = [...functions.values()].filter((f) => !next.has(f.id));
    for (const fn of fresh) {
      const old = functions.get(fn.id);
      if (old !== undefined && old.port === fn.port) fn.adoptProxy(old);
    }
    const moved = replaced.filter((old) => next.get(old.id)!.port !== old.port);
    await Promise.all([...removedFns, ...moved].map((fn) => fn.releasePort()));
    functions = next;
    for (const fn of removedFns) void fn.close(fn.timeoutMs);
    for (const fn of fresh) {
      if (fn.hasProxy) continue;
      try {
        await fn.listen();
      } catch (err) {
        // Only when another program took the port in between: that function is not served.
        logger.error({ function: fn.id, err }, 'cannot listen on the trigger port');
        functions.delete(fn.id);
        void fn.close(0);
      }
    }
    current = { file, fileName };
    notes = orchestratorNotes(file, { cgroups, bwrap });
    for (const old of replaced) void old.close(old.timeoutMs);
    for (const fn of next.values()) fn.reconcile();
    logger.info({ file: fileName, ...result }, 'functions deployed');
    return result;
  }

  return {
    deploy(file, fileName) {
      const run = deploying.then(() => apply(file, fileName));
      deploying = run.catch(() => {});
      return run;
    },
    context: ctx,
    ready: () => ctx.launcher.ready(),
    status() {
      const o = current?.file.orchestrator;
      return {
        at: new Date().toISOString(),
        file: current?.fileName ?? null,
        orchestrator: {
          shmBufferSize: o?.shmBufferSize ?? 0,
          warmPoolSize: o?.warmPoolSize ?? 0,
          restoreTimeoutMs: o?.restoreTimeoutMs ?? 0,
          snapshotDir: o?.snapshotDir ?? '',
          startTimeoutMs: ctx.startTimeoutMs,
        },
        limits: { cgroup: cgroups.kind, detail: cgroups.detail },
        notes,
        functions: [...functions.values()].map((f) => f.status()),
      };
    },
    async close(graceMs = 2000) {
      closed = true;
      clearInterval(tick);
      await deploying;
      await Promise.all([...functions.values()].map((f) => f.close(graceMs)));
      functions.clear();
      await ctx.launcher.close();
      rmSync(runDir, { recursive: true, force: true });
      if (options.cgroups === undefined && cgroups.parentPath !== null) {
        try {
          rmdirSync(cgroups.parentPath);
        } catch {
          // an instance group is still being removed; the next start cleans it up
        }
      }
    },
  };
}

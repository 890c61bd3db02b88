/**
 * Runs one invocation of a compiled WASI command module, synchronously, in the
 * calling thread (the worker threads of the pool call it): a fresh instance, a
 * fresh WASI context and a zeroed memory per call (a new one, or one from the
 * worker's MemoryPool for a module that imports its memory), so nothing leaks
 * from one invocation to the next. Whatever the module does (return, exit,
 * trap, run out of memory, write too much) becomes a RunResult; only host bugs
 * throw.
 */
import { performance } from 'node:perf_hooks';

import { aetherError } from '@aether/core';

import { GROW_FAILED_EXPORT } from './grow-instrument.js';
import type { MemoryPool } from './memory-pool.js';
import { WASI_MODULE, WASM_PAGE_BYTES, initialMemoryTooLarge, type ModuleInfo } from './module-inspect.js';
import { WasiExit, WasiOutputLimit, createWasiContext } from './wasi.js';

/** Options of {@link runInstance}. */
export interface RunOptions {
  /**
   * Memory cap of the instance in bytes. The host enforces it on a memory the
   * module imports (see `importMemory`); a memory the module defines is bounded
   * only by the maximum it declares.
   */
  memoryLimitBytes: number;
  /** Most bytes stdout and stderr may hold together. */
  maxOutputBytes: number;
  /** argv including argv[0]. @default ['main'] */
  args?: string[];
  /** Environment variables. @default {} */
  env?: Record<string, string>;
  /** The module's memory as `inspectModule` found it; required when the module imports its memory. */
  memory?: ModuleInfo['memory'];
  /**
   * Where an imported memory comes from and goes back to after the run (the
   * worker thread's pool). @default none: a new memory per run
   */
  memoryPool?: MemoryPool | undefined;
}

/** How a run ended. */
export type RunOutcome = 'ok' | 'exit' | 'trap' | 'memory-limit' | 'output-too-large';

/** The result of {@link runInstance}. */
export interface RunResult {
  /**
   * `ok`: `_start` returned or called proc_exit(0); `exit`: proc_exit(n != 0);
   * `trap`: a WebAssembly trap or stack overflow; `memory-limit`: a trap or a
   * nonzero exit when the memory cannot grow by one more page within the
   * limit (malloc returned NULL, most likely); `output-too-large`: stdout +
   * stderr passed `maxOutputBytes` (the output holds the first bytes).
   */
  outcome: RunOutcome;
  /** 0 for `ok`, the proc_exit code when the module exited, otherwise null. */
  exitCode: number | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** Size of the linear memory at the end of the run. */
  memoryBytes: number;
  /** Instantiation plus run, in milliseconds. */
  durationMs: number;
  /** What went wrong, for every outcome but `ok`. */
  message?: string;
}

interface ImportPlan {
  wasiNames: string[];
  memory?: { module: string; name: string };
}

/** Import lists per compiled module: `WebAssembly.Module.imports` allocates on every call. */
const importPlans = new WeakMap<WebAssembly.Module, ImportPlan>();

function importPlan(module: WebAssembly.Module): ImportPlan {
  let plan = importPlans.get(module);
  if (plan === undefined) {
    const imports = WebAssembly.Module.imports(module);
    const memory = imports.find((i) => i.kind === 'memory');
    plan = {
      wasiNames: imports.filter((i) => i.kind === 'function' && i.module === WASI_MODULE).map((i) => i.name),
      ...(memory === undefined ? {} : { memory: { module: memory.module, name: memory.name } }),
    };
    importPlans.set(module, plan);
  }
  return plan;
}

/** Pages of the memory the host gives a module that imports one. */
interface MemoryShape {
  initialPages: number;
  maxPages: number;
}

/** The shape of the memory the host gives a module that imports one: bounded by the limit. */
function hostMemoryShape(options: RunOptions): MemoryShape {
  const info = options.memory;
  if (info?.kind !== 'imported') {
    throw new TypeError('runInstance: the module imports its memory; pass options.memory from inspectModule');
  }
  const limitPages = Math.floor(options.memoryLimitBytes / WASM_PAGE_BYTES);
  if (info.initialPages > limitPages) throw initialMemoryTooLarge(info.initialPages, options.memoryLimitBytes);
  // linking demands a maximum no larger than the one the module declares
  return { initialPages: info.initialPages, maxPages: Math.min(limitPages, info.maxPages ?? limitPages) };
}

function exportedMemory(instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  const named = instance.exports.memory;
  if (named instanceof WebAssembly.Memory) return named;
  return Object.values(instance.exports).find((e): e is WebAssembly.Memory => e instanceof WebAssembly.Memory);
}

/**
 * Whether the memory is at its cap: it cannot grow by one more page. The
 * fallback for modules grow-instrument.ts could not instrument (a failed
 * `memory.grow` is otherwise invisible to the host: V8 has no hook); a request
 * larger than a page can fail further from the cap and then reads as a plain
 * trap or exit.
 */
function atMemoryCap(memoryBytes: number, limitBytes: number): boolean {
  return memoryBytes + WASM_PAGE_BYTES > limitBytes;
}

/** The refused-growth flag grow-instrument.ts adds, when the module carries it. */
function growFlag(instance: WebAssembly.Instance | undefined): WebAssembly.Global | undefined {
  const flag = instance?.exports[GROW_FAILED_EXPORT];
  return flag instanceof WebAssembly.Global ? flag : undefined;
}

function hasGrowFlag(instance: WebAssembly.Instance | undefined): boolean {
  return growFlag(instance) !== undefined;
}

/** Whether a `memory.grow` of this run was refused (the instrumented module says so exactly). */
function growRefused(instance: WebAssembly.Instance | undefined): boolean {
  return growFlag(instance)?.value === 1;
}

/** Errors a module raises by itself: traps, JS stack overflow in wasm frames, uncaught wasm exceptions. */
function isModuleFault(e: unknown): boolean {
  const WasmException = (WebAssembly as unknown as { Exception?: abstract new (...args: never[]) => unknown })
    .Exception;
  return (
    e instanceof WebAssembly.RuntimeError ||
    e instanceof RangeError ||
    (WasmException !== undefined && e instanceof WasmException)
  );
}

/**
 * Instantiates `module` and calls its `_start` once, with `input` as stdin.
 * Synchronous: meant for worker threads. Never throws for what the module
 * does; throws for host bugs, for a module that imports something the WASI
 * context cannot provide (`AETHER_E_WASM_UNSUPPORTED_IMPORT`: it was not
 * checked with `inspectModule`), and for an imported memory above the limit.
 */
export function runInstance(module: WebAssembly.Module, input: Uint8Array, options: RunOptions): RunResult {
  const started = performance.now();
  const plan = importPlan(module);
  if (plan.memory === undefined) return run(module, plan, input, options, started, undefined);

  const shape = hostMemoryShape(options);
  const pool = options.memoryPool;
  const memory =
    pool?.acquire(shape.initialPages, shape.maxPages) ??
    new WebAssembly.Memory({ initial: shape.initialPages, maximum: shape.maxPages });
  try {
    return run(module, plan, input, options, started, memory);
  } finally {
    // after the run, whatever its outcome: the instance is done with the memory (runs are synchronous)
    pool?.release(memory, shape.initialPages, shape.maxPages);
  }
}

/** The run itself; `hostMemory` is the memory to import, when the module imports one. */
function run(
  module: WebAssembly.Module,
  plan: ImportPlan,
  input: Uint8Array,
  options: RunOptions,
  started: number,
  hostMemory: WebAssembly.Memory | undefined,
): RunResult {
  const wasi = createWasiContext({
    stdin: input,
    args: options.args ?? ['main'],
    env: options.env ?? {},
    maxOutputBytes: options.maxOutputBytes,
    importNames: plan.wasiNames,
  });
  const imports: Record<string, Record<string, unknown>> = { [WASI_MODULE]: wasi.imports };
  let memory = hostMemory;
  if (plan.memory !== undefined && memory !== undefined) {
    imports[plan.memory.module] = { ...imports[plan.memory.module], [plan.memory.name]: memory };
    wasi.bind(memory);
  }

  let instance: WebAssembly.Instance | undefined;
  const finish = (outcome: RunOutcome, exitCode: number | null, message?: string): RunResult => {
    const memoryBytes = memory?.buffer.byteLength ?? 0;
    if (outcome === 'trap' || outcome === 'exit') {
      const limitKb = Math.floor(options.memoryLimitBytes / 1024);
      if (growRefused(instance)) {
        message =
          `the module could not grow its memory past its ${limitKb} KB limit (memory.grow was refused at ` +
          `${memoryBytes / 1024} KB) and stopped: ${message ?? 'no message'}`;
        outcome = 'memory-limit';
      } else if (!hasGrowFlag(instance) && atMemoryCap(memoryBytes, options.memoryLimitBytes)) {
        message =
          `the module stopped (${message ?? 'no message'}) with ${memoryBytes / 1024} KB of its ` +
          `${limitKb} KB memory limit in use: an allocation most likely failed at the limit`;
        outcome = 'memory-limit';
      }
    }
    const result: RunResult = {
      outcome,
      exitCode,
      stdout: wasi.stdout(),
      stderr: wasi.stderr(),
      memoryBytes,
      durationMs: performance.now() - started,
    };
    if (message !== undefined) result.message = message;
    return result;
  };

  try {
    instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
  } catch (e) {
    if (e instanceof WebAssembly.LinkError) {
      throw aetherError('AETHER_E_WASM_UNSUPPORTED_IMPORT', `the module cannot be linked: ${e.message}`, {}, e);
    }
    // a start function (not _start) trapping during instantiation is the module's doing
    if (e instanceof WebAssembly.RuntimeError) return finish('trap', null, e.message);
    throw e;
  }
  if (memory === undefined) {
    memory = exportedMemory(instance);
    if (memory !== undefined) wasi.bind(memory);
  }
  const start = instance.exports._start;
  if (typeof start !== 'function') {
    throw aetherError('AETHER_E_WASM_NO_START', 'the module exports no _start function', {});
  }

  try {
    (start as () => unknown)();
    return finish('ok', 0);
  } catch (e) {
    if (e instanceof WasiExit) {
      return e.code === 0 ? finish('ok', 0) : finish('exit', e.code, `the module exited with code ${e.code}`);
    }
    if (e instanceof WasiOutputLimit) return finish('output-too-large', null, e.message);
    if (isModuleFault(e))
      return finish('trap', null, e instanceof Error ? e.message : 'uncaught WebAssembly exception');
    throw e;
  }
}

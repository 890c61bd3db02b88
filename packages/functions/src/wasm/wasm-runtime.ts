/**
 * The WebAssembly function runtime, the façade the server and edge nodes use
 * (DESIGN.md section 5, WASM): check and compile a module once (LRU of
 * compiled modules keyed by content hash and memory cap), then run each
 * request in a fresh instance on the worker pool with the JSON input as stdin,
 * and turn how the run ended into a value or a typed AetherError. Modules are
 * compiled to import their memory, so that workers can reuse zeroed memories.
 */
import { availableParallelism } from 'node:os';
import { aetherError, toAetherError, type AetherError } from '@aether/core';
import { createModuleCache, moduleCacheKey, type ModuleCacheStats } from './module-cache.js';
import { instrumentMemoryGrow } from './grow-instrument.js';
import { importMemory, importedMemory } from './memory-import.js';
import { WASM_PAGE_BYTES, inspectModule, type ModuleInfo, type ModuleMemory } from './module-inspect.js';
import type { RunResult } from './run-instance.js';
import { silentLogger, type WasmLogger } from './worker-pool-options.js';
import { createWorkerPool, type WorkerPoolStats } from './worker-pool.js';
import { DEFAULT_WASM_TRANSPORT, type WasmTransport } from './worker-protocol.js';

export type { WasmLogger } from './worker-pool-options.js';
export type { WasmTransport } from './worker-protocol.js';

export interface WasmRuntimeOptions {
  /** Worker threads running instances. @default os.availableParallelism() */
  workers?: number | undefined;
  /** Compiled modules kept, least recently used out first (`cache_size`). @default 100 */
  cacheSize?: number | undefined;
  /**
   * How input and output bytes reach the workers: ring buffers in shared
   * memory with CRC32 frames, or postMessage with transferred buffers.
   * @default 'message' (DEFAULT_WASM_TRANSPORT, the faster in bench wasm-transport)
   */
  transport?: WasmTransport | undefined;
  /** Requests waiting beyond the busy workers before AETHER_E_FN_OVERLOADED. @default 256 */
  maxQueue?: number | undefined;
  /** Per-request timeout unless the request sets one. @default 3000 */
  defaultTimeoutMs?: number | undefined;
  /** Per-instance memory cap unless the request sets one. @default 16777216 (16 MiB) */
  defaultMemoryLimitBytes?: number | undefined;
  /** Largest module accepted. @default 10485760 (10 MiB) */
  maxModuleBytes?: number | undefined;
  /** Largest stdin (the JSON-encoded input). @default 1048576 (1 MiB) */
  maxInputBytes?: number | undefined;
  /** Most bytes stdout and stderr may hold together. @default 1048576 (1 MiB) */
  maxOutputBytes?: number | undefined;
  /** @default a silent logger */
  logger?: WasmLogger | undefined;
}

export interface ResolvedWasmRuntimeOptions {
  workers: number;
  cacheSize: number;
  transport: WasmTransport;
  maxQueue: number;
  defaultTimeoutMs: number;
  defaultMemoryLimitBytes: number;
  maxModuleBytes: number;
  maxInputBytes: number;
  maxOutputBytes: number;
  logger: WasmLogger;
}

/** What `prepare` learnt about a module it checked and compiled. */
export interface PreparedModule {
  /** sha256 of the module bytes, lower-case hex: the key to execute it by. */
  hash: string;
  sizeBytes: number;
  /** The module's linear memory as declared (before the cap). */
  memory: ModuleMemory;
}

/** One invocation. */
export interface WasmExecuteRequest {
  /** Function name, for errors and logs (and argv[0]). */
  name: string;
  /** sha256 hex of the module bytes, as `prepare` returned it. */
  hash: string;
  /** Fetches the module bytes on a cache miss; they must hash to `hash`. */
  loadCode: () => Promise<Uint8Array>;
  /** Passed as stdin, JSON-encoded (`undefined` becomes `null`). */
  input: unknown;
  /** @default the runtime's defaultTimeoutMs */
  timeoutMs?: number | undefined;
  /** @default the runtime's defaultMemoryLimitBytes */
  memoryLimitBytes?: number | undefined;
  env?: Record<string, string> | undefined;
}

/** The outcome of a run that ended well. */
export interface WasmExecution {
  /** stdout parsed as JSON when it is JSON, else the UTF-8 text without one trailing newline. */
  output: unknown;
  /** Instantiation plus run, measured in the worker. */
  executionTimeMs: number;
  /** Linear memory at the end of the run. */
  memoryUsedKb: number;
  stdout: string;
  stderr: string;
  /** Whether the compiled module was already cached. */
  cacheHit: boolean;
}

export interface WasmRuntimeStats {
  cache: ModuleCacheStats;
  workers: WorkerPoolStats;
  transport: WasmTransport;
}

export interface WasmRuntime {
  /**
   * Checks a module (AETHER_E_WASM_TOO_LARGE, _INVALID_MODULE, _NO_START,
   * _UNSUPPORTED_IMPORT, _MEMORY_LIMIT), caps its memory and compiles it into
   * the cache, so that a deploy warms the cache for the first request.
   */
  prepare(code: Uint8Array, limits?: { memoryLimitBytes?: number | undefined }): Promise<PreparedModule>;
  /** Runs one request in a fresh instance; a run that does not end well rejects with a typed AetherError. */
  execute(request: WasmExecuteRequest): Promise<WasmExecution>;
  /** Drops a module (every memory cap) from the cache and the workers; returns whether it was cached. */
  evict(hash: string): boolean;
  stats(): WasmRuntimeStats;
  /** Stops the workers; queued and running requests fail with AETHER_E_SHUTTING_DOWN. */
  close(): Promise<void>;
}

function configInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw aetherError(
      'AETHER_E_CONFIG_INVALID',
      `wasm runtime option ${name} must be an integer >= ${min}, got ${value}`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

/** Fills defaults and checks values (AETHER_E_CONFIG_INVALID). */
export function resolveWasmRuntimeOptions(options: WasmRuntimeOptions = {}): ResolvedWasmRuntimeOptions {
  const transport = options.transport ?? DEFAULT_WASM_TRANSPORT;
  if (transport !== 'shared-memory' && transport !== 'message') {
    throw aetherError('AETHER_E_CONFIG_INVALID', `unknown wasm transport "${String(transport)}"`, { transport });
  }
  return {
    workers: configInt('workers', options.workers ?? availableParallelism(), 1),
    cacheSize: configInt('cacheSize', options.cacheSize ?? 100, 1),
    transport,
    maxQueue: configInt('maxQueue', options.maxQueue ?? 256, 0),
    defaultTimeoutMs: configInt('defaultTimeoutMs', options.defaultTimeoutMs ?? 3000, 1),
    defaultMemoryLimitBytes: configInt(
      'defaultMemoryLimitBytes',
      options.defaultMemoryLimitBytes ?? 16 * 1024 * 1024,
      WASM_PAGE_BYTES,
    ),
    maxModuleBytes: configInt('maxModuleBytes', options.maxModuleBytes ?? 10 * 1024 * 1024, 1),
    maxInputBytes: configInt('maxInputBytes', options.maxInputBytes ?? 1024 * 1024, 1),
    maxOutputBytes: configInt('maxOutputBytes', options.maxOutputBytes ?? 1024 * 1024, 1),
    logger: options.logger ?? silentLogger,
  };
}

/** A compiled module as the cache holds it. */
interface CompiledModule {
  module: WebAssembly.Module;
  /** The memory of the compiled module: imported and capped (see importedMemory), what runInstance needs. */
  memory: ModuleMemory;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STDERR_TAIL_BYTES = 2048;

/** Starts the worker pool; `close()` it when done. */
export function createWasmRuntime(options: WasmRuntimeOptions = {}): WasmRuntime {
  const opts = resolveWasmRuntimeOptions(options);
  const cache = createModuleCache<CompiledModule>({
    capacity: opts.cacheSize,
    onEvict: (key) => pool.evict([key]),
  });
  const pool = createWorkerPool({
    size: opts.workers,
    maxQueue: opts.maxQueue,
    transport: opts.transport,
    maxInputBytes: opts.maxInputBytes,
    maxOutputBytes: opts.maxOutputBytes,
    maxModulesPerWorker: opts.cacheSize,
    logger: opts.logger,
  });
  let closed = false;

  function memoryLimit(requested: number | undefined): number {
    const limit = requested ?? opts.defaultMemoryLimitBytes;
    if (!Number.isInteger(limit) || limit < WASM_PAGE_BYTES) {
      throw aetherError(
        'AETHER_E_INVALID_ARGUMENT',
        `memoryLimitBytes must be an integer of at least one page (${WASM_PAGE_BYTES}), got ${limit}`,
        { memoryLimitBytes: limit },
      );
    }
    return limit;
  }

  async function compile(code: Uint8Array, info: ModuleInfo, maxPages: number): Promise<CompiledModule> {
    // Refused memory growth becomes visible (AETHER_E_WASM_MEMORY_LIMIT exactly, not by guess).
    const instrumented = instrumentMemoryGrow(code);
    if (!instrumented.instrumented) {
      opts.logger.warn(
        { hash: info.hash, reason: instrumented.reason },
        'memory.grow not instrumented: memory-limit errors of this module are judged by how close it ran to its limit',
      );
    }
    // The memory becomes an import capped at the limit: workers hand each run a pooled, zeroed one.
    const bytes = importMemory(instrumented.bytes, maxPages);
    try {
      return {
        module: await WebAssembly.compile(bytes),
        memory: importedMemory(info.memory, maxPages),
      };
    } catch (err) {
      throw aetherError(
        'AETHER_E_WASM_INVALID_MODULE',
        `the module does not compile: ${err instanceof Error ? err.message : String(err)}`,
        { hash: info.hash },
        err,
      );
    }
  }

  function inspect(code: Uint8Array, memoryLimitBytes: number): ModuleInfo {
    return inspectModule(code, { maxModuleBytes: opts.maxModuleBytes, memoryLimitBytes });
  }

  return {
    async prepare(code, limits) {
      if (closed) throw shuttingDown();
      const limit = memoryLimit(limits?.memoryLimitBytes);
      const maxPages = Math.floor(limit / WASM_PAGE_BYTES);
      const info = inspect(code, limit);
      await cache.get(moduleCacheKey(info.hash, maxPages), () => compile(code, info, maxPages));
      return { hash: info.hash, sizeBytes: info.sizeBytes, memory: info.memory };
    },

    async execute(request) {
      if (closed) throw shuttingDown();
      const limit = memoryLimit(request.memoryLimitBytes);
      const timeoutMs = request.timeoutMs ?? opts.defaultTimeoutMs;
      if (!(timeoutMs > 0)) {
        throw aetherError('AETHER_E_INVALID_ARGUMENT', `timeoutMs must be positive, got ${timeoutMs}`, { timeoutMs });
      }
      const stdin = encoder.encode(JSON.stringify(request.input ?? null));
      if (stdin.byteLength > opts.maxInputBytes) {
        throw aetherError(
          'AETHER_E_PAYLOAD_TOO_LARGE',
          `the input of ${request.name} is ${stdin.byteLength} bytes as JSON, above the limit of ${opts.maxInputBytes} bytes`,
          { function: request.name, sizeBytes: stdin.byteLength, maxBytes: opts.maxInputBytes },
        );
      }
      const maxPages = Math.floor(limit / WASM_PAGE_BYTES);
      const key = moduleCacheKey(request.hash, maxPages);
      const { value: compiled, hit } = await cache.get(key, async () => {
        let code: Uint8Array;
        try {
          code = await request.loadCode();
        } catch (err) {
          throw toAetherError(err);
        }
        const info = inspect(code, limit);
        if (info.hash !== request.hash) {
          // caching it under the wrong hash would serve other code to every later request
          throw aetherError(
            'AETHER_E_WASM_INVALID_MODULE',
            `the code loaded for ${request.name} does not match its hash`,
            { function: request.name, expectedHash: request.hash, actualHash: info.hash },
          );
        }
        return compile(code, info, maxPages);
      });
      const result = await pool.run({
        key,
        module: compiled.module,
        input: stdin,
        timeoutMs,
        spec: {
          memoryLimitBytes: limit,
          maxOutputBytes: opts.maxOutputBytes,
          memory: compiled.memory,
          args: [request.name],
          env: request.env,
        },
      });
      if (result.outcome !== 'ok') throw outcomeError(request.name, result, limit, opts.maxOutputBytes);
      const stdout = decoder.decode(result.stdout);
      return {
        output: parseOutput(stdout),
        executionTimeMs: result.durationMs,
        memoryUsedKb: Math.ceil(result.memoryBytes / 1024),
        stdout,
        stderr: decoder.decode(result.stderr),
        cacheHit: hit,
      };
    },

    evict(hash) {
      const keys = cache.deleteHash(hash);
      pool.evict(keys);
      return keys.length > 0;
    },

    stats: () => ({ cache: cache.stats(), workers: pool.stats(), transport: opts.transport }),

    async close() {
      closed = true;
      await pool.close();
      cache.clear();
    },
  };
}

/** JSON when stdout is JSON, else the text without one trailing newline. */
function parseOutput(stdout: string): unknown {
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    return stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
  }
}

/** The last STDERR_TAIL_BYTES of stderr, for the error details. */
function stderrTail(result: RunResult): string {
  return decoder.decode(result.stderr.subarray(Math.max(0, result.stderr.byteLength - STDERR_TAIL_BYTES)));
}

function outcomeError(name: string, result: RunResult, limitBytes: number, maxOutputBytes: number): AetherError {
  const detail = result.message === undefined ? '' : `: ${result.message}`;
  switch (result.outcome) {
    case 'exit':
      return aetherError('AETHER_E_WASM_EXIT', `function ${name} exited with code ${result.exitCode}`, {
        function: name,
        exitCode: result.exitCode,
        stderr: stderrTail(result),
      });
    case 'trap':
      return aetherError('AETHER_E_WASM_TRAP', `function ${name} trapped${detail}`, {
        function: name,
        stderr: stderrTail(result),
      });
    case 'memory-limit':
      return aetherError('AETHER_E_WASM_MEMORY_LIMIT', `function ${name} ran out of memory${detail}`, {
        function: name,
        limitBytes,
      });
    case 'output-too-large':
      return aetherError(
        'AETHER_E_WASM_OUTPUT_TOO_LARGE',
        `function ${name} wrote more than ${maxOutputBytes} bytes to stdout and stderr`,
        { function: name, limitBytes: maxOutputBytes },
      );
    default:
      return aetherError('AETHER_E_INTERNAL', `function ${name} ended with unknown outcome ${String(result.outcome)}`);
  }
}

function shuttingDown(): AetherError {
  return aetherError('AETHER_E_SHUTTING_DOWN', 'the wasm runtime is shutting down');
}

/**
 * Turns the `[functions]` configuration (aether.toml, or seed 002's
 * `[runtime]` in an edge node's file) into WASM runtime options, so the node
 * and the edge node build their runtimes the same way.
 */
import type { ResolvedFunctionsConfig } from '@aether/core';
import type { WasmLogger, WasmRuntimeOptions } from '../wasm/wasm-runtime.js';

/**
 * The runtime options of a `[functions]` section.
 * @param extra - what the config does not hold: the largest input (the HTTP body limit) and a logger
 * @example
 * const runtime = createWasmRuntime(wasmRuntimeOptionsFrom(config.functions, { maxInputBytes: 2 << 20 }));
 */
export function wasmRuntimeOptionsFrom(
  config: ResolvedFunctionsConfig,
  extra: { maxInputBytes: number; logger?: WasmLogger | undefined },
): WasmRuntimeOptions {
  return {
    workers: config.workers,
    cacheSize: config.cacheSize,
    transport: config.transport,
    maxQueue: config.maxQueue,
    defaultTimeoutMs: config.execTimeoutMs,
    defaultMemoryLimitBytes: config.memoryLimitBytes,
    maxModuleBytes: config.maxModuleBytes,
    maxInputBytes: extra.maxInputBytes,
    logger: extra.logger,
  };
}

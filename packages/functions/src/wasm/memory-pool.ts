/**
 * Linear memories a worker thread reuses across runs. Creating a
 * `WebAssembly.Memory` makes V8 reserve a large virtual region with guard
 * pages, which cost ~100 µs of a ~130 µs run of a small function; zeroing a
 * memory of a few pages costs a few µs. Modules import their memory
 * (memory-import.ts), so a run can be handed one from here.
 *
 * Isolation: a memory is zeroed when it comes back, before anyone can take it
 * again, so a later request never sees an earlier one's bytes (the next
 * instantiation writes the data segments afresh). A memory that grew is
 * dropped instead: it would start the next run larger than the module asks
 * for, and zeroing megabytes costs more than a fresh memory (~16 µs per MiB
 * against ~100 µs), which is also why large memories are not kept. One pool per
 * worker thread; runs are synchronous, so a memory is back before the next
 * run takes one.
 */
import { aetherError } from '@aether/core';

import { WASM_PAGE_BYTES } from './module-inspect.js';

/** Options of {@link createMemoryPool}. */
export interface MemoryPoolOptions {
  /** Idle memories kept per shape (initial and maximum pages). @default 4 */
  maxIdlePerShape?: number | undefined;
  /** Largest memory kept; a larger one costs more to zero than to create. @default 4194304 (4 MiB) */
  maxMemoryBytes?: number | undefined;
  /**
   * Bytes all idle memories may hold together (zeroed pages are resident);
   * the memories of the least recently released shapes go first.
   * @default 67108864 (64 MiB)
   */
  maxIdleBytes?: number | undefined;
}

/** {@link MemoryPoolOptions} with defaults filled. */
export interface ResolvedMemoryPoolOptions {
  maxIdlePerShape: number;
  maxMemoryBytes: number;
  maxIdleBytes: number;
}

/** Zeroed linear memories by shape, for modules that import their memory. */
export interface MemoryPool {
  /** An idle memory of exactly this shape and size, else a new one. */
  acquire(initialPages: number, maxPages: number): WebAssembly.Memory;
  /**
   * Gives a memory back after its run: zeroed and kept when it did not grow
   * (within the bounds), otherwise dropped. Never release a memory an
   * instance may still use.
   */
  release(memory: WebAssembly.Memory, initialPages: number, maxPages: number): void;
}

function optionInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw aetherError(
      'AETHER_E_CONFIG_INVALID',
      `memory pool option ${name} must be an integer >= ${min}, got ${value}`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

/** Fills defaults and checks values (AETHER_E_CONFIG_INVALID). */
export function resolveMemoryPoolOptions(options: MemoryPoolOptions = {}): ResolvedMemoryPoolOptions {
  return {
    maxIdlePerShape: optionInt('maxIdlePerShape', options.maxIdlePerShape ?? 4, 0),
    maxMemoryBytes: optionInt('maxMemoryBytes', options.maxMemoryBytes ?? 4 * 1024 * 1024, 0),
    maxIdleBytes: optionInt('maxIdleBytes', options.maxIdleBytes ?? 64 * 1024 * 1024, 0),
  };
}

/**
 * Creates an empty pool. Create one per worker thread: a memory must never be
 * shared by threads, and the pool keeps no state outside the object.
 * @example
 * const pool = createMemoryPool();
 * const result = runInstance(module, stdin, { memoryLimitBytes, maxOutputBytes, memory, memoryPool: pool });
 */
export function createMemoryPool(options: MemoryPoolOptions = {}): MemoryPool {
  const opts = resolveMemoryPoolOptions(options);
  // Map order is release order: the first shape is the least recently released
  const idle = new Map<string, WebAssembly.Memory[]>();
  let idleBytes = 0;

  const shapeKey = (initialPages: number, maxPages: number): string => `${initialPages}:${maxPages}`;

  /** Drops the oldest idle memories until `bytes` more fit. */
  function makeRoom(bytes: number): void {
    for (const [key, memories] of idle) {
      while (idleBytes + bytes > opts.maxIdleBytes && memories.length > 0) {
        idleBytes -= (memories.shift() as WebAssembly.Memory).buffer.byteLength;
      }
      if (memories.length === 0) idle.delete(key);
      if (idleBytes + bytes <= opts.maxIdleBytes) return;
    }
  }

  return {
    acquire(initialPages, maxPages) {
      const key = shapeKey(initialPages, maxPages);
      const memories = idle.get(key);
      const memory = memories?.pop();
      if (memory === undefined) return new WebAssembly.Memory({ initial: initialPages, maximum: maxPages });
      if (memories?.length === 0) idle.delete(key);
      idleBytes -= memory.buffer.byteLength;
      return memory;
    },

    release(memory, initialPages, maxPages) {
      const bytes = initialPages * WASM_PAGE_BYTES;
      // grown: it would start the next run at the wrong size (and is costly to zero)
      if (memory.buffer.byteLength !== bytes) return;
      if (bytes > opts.maxMemoryBytes || bytes > opts.maxIdleBytes) return;
      const key = shapeKey(initialPages, maxPages);
      const memories = idle.get(key) ?? [];
      if (memories.includes(memory)) return; // released twice: it is idle already
      if (memories.length >= opts.maxIdlePerShape) return;
      new Uint8Array(memory.buffer).fill(0);
      // this shape becomes the most recently released, so makeRoom takes from it last
      idle.delete(key);
      idle.set(key, memories);
      makeRoom(bytes);
      memories.push(memory);
      idle.set(key, memories); // makeRoom deletes a shape it emptied
      idleBytes += bytes;
    },
  };
}

/**
 * The LRU of compiled WebAssembly modules (DESIGN.md section 5: compile once,
 * cache `cache_size` modules). Keys are `${hash}:${maxPages}`: the same code
 * capped at two memory limits is two different compiled modules. Concurrent
 * misses for one key share one compile promise, so a burst of first requests
 * compiles (and loads the code) once.
 */

/** Counters of a module cache. */
export interface ModuleCacheStats {
  size: number;
  capacity: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** The cache key of a module's content hash under a memory cap in 64 KiB pages. */
export function moduleCacheKey(hash: string, maxPages: number): string {
  return `${hash}:${maxPages}`;
}

/** An entry found in or added to the cache, and whether it was already there. */
export interface CacheLookup<T> {
  value: T;
  hit: boolean;
}

/**
 * A least-recently-used cache of compiled modules (or records holding one).
 * `T` is what is cached per key, by default the module itself.
 */
export interface ModuleCache<T = WebAssembly.Module> {
  /**
   * Returns the entry for `key`, calling `compile` on a miss. A rejected
   * compile is not cached: the next call for the key tries again.
   */
  get(key: string, compile: () => Promise<T>): Promise<CacheLookup<T>>;
  /** The settled entry for `key` without compiling (refreshes its recency). */
  peek(key: string): T | undefined;
  has(key: string): boolean;
  /** Removes one key; returns whether it was cached. */
  delete(key: string): boolean;
  /** Removes every key of a content hash (all memory caps); returns the removed keys. */
  deleteHash(hash: string): string[];
  stats(): ModuleCacheStats;
  clear(): void;
}

export interface ModuleCacheOptions {
  /** Most entries kept. @default 100 */
  capacity?: number | undefined;
  /** Told of each key dropped to make room (not of delete/deleteHash/clear). */
  onEvict?: ((key: string) => void) | undefined;
}

interface Slot<T> {
  promise: Promise<T>;
  settled?: { value: T };
}

/** Creates an empty LRU module cache. */
export function createModuleCache<T = WebAssembly.Module>(options: ModuleCacheOptions = {}): ModuleCache<T> {
  const capacity = options.capacity ?? 100;
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`module cache capacity must be a positive integer, got ${capacity}`);
  }
  // A Map iterates in insertion order: re-inserting on use keeps the LRU first.
  const slots = new Map<string, Slot<T>>();
  let hits = 0;
  let misses = 0;
  let evictions = 0;

  const touch = (key: string, slot: Slot<T>) => {
    slots.delete(key);
    slots.set(key, slot);
  };

  return {
    async get(key, compile) {
      const existing = slots.get(key);
      if (existing) {
        hits++;
        touch(key, existing);
        return { value: existing.settled ? existing.settled.value : await existing.promise, hit: true };
      }
      misses++;
      const slot: Slot<T> = { promise: Promise.resolve().then(compile) };
      slots.set(key, slot);
      while (slots.size > capacity) {
        const oldest = slots.keys().next().value as string;
        slots.delete(oldest);
        evictions++;
        options.onEvict?.(oldest);
      }
      try {
        const value = await slot.promise;
        slot.settled = { value };
        return { value, hit: false };
      } catch (err) {
        if (slots.get(key) === slot) slots.delete(key);
        throw err;
      }
    },
    peek(key) {
      const slot = slots.get(key);
      if (!slot?.settled) return undefined;
      touch(key, slot);
      return slot.settled.value;
    },
    has: (key) => slots.has(key),
    delete: (key) => slots.delete(key),
    deleteHash(hash) {
      const prefix = `${hash}:`;
      const removed = [...slots.keys()].filter((k) => k.startsWith(prefix));
      for (const key of removed) slots.delete(key);
      return removed;
    },
    stats: () => ({ size: slots.size, capacity, hits, misses, evictions }),
    clear: () => slots.clear(),
  };
}

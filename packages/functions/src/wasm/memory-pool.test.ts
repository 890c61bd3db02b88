import { AetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';

import { createMemoryPool, resolveMemoryPoolOptions } from './memory-pool.js';

const PAGE = 65536;

function dirty(memory: WebAssembly.Memory): WebAssembly.Memory {
  new Uint8Array(memory.buffer).fill(0xab);
  return memory;
}

const isZero = (memory: WebAssembly.Memory): boolean => new Uint8Array(memory.buffer).every((b) => b === 0);

describe('createMemoryPool', () => {
  it('creates a memory of the asked shape when none is idle', () => {
    const memory = createMemoryPool().acquire(2, 10);
    expect(memory.buffer.byteLength).toBe(2 * PAGE);
    expect(memory.grow(8)).toBe(2);
    expect(() => memory.grow(1)).toThrow(RangeError); // the maximum is 10
  });

  it('hands a released memory out again, zeroed', () => {
    const pool = createMemoryPool();
    const memory = dirty(pool.acquire(2, 10));
    pool.release(memory, 2, 10);
    const again = pool.acquire(2, 10);
    expect(again).toBe(memory);
    expect(isZero(again)).toBe(true);
    expect(pool.acquire(2, 10)).not.toBe(memory); // taken: a second acquire gets another one
  });

  it('never mixes shapes: the initial size and the maximum must both match', () => {
    const pool = createMemoryPool();
    const memory = pool.acquire(2, 10);
    pool.release(memory, 2, 10);
    expect(pool.acquire(2, 11)).not.toBe(memory);
    expect(pool.acquire(3, 10)).not.toBe(memory);
    expect(pool.acquire(2, 10)).toBe(memory);
  });

  it('drops a memory that grew', () => {
    const pool = createMemoryPool();
    const memory = pool.acquire(1, 10);
    memory.grow(1);
    pool.release(memory, 1, 10);
    const next = pool.acquire(1, 10);
    expect(next).not.toBe(memory);
    expect(next.buffer.byteLength).toBe(PAGE);
  });

  it('keeps at most maxIdlePerShape idle memories of a shape', () => {
    const pool = createMemoryPool({ maxIdlePerShape: 2 });
    const memories = [pool.acquire(1, 4), pool.acquire(1, 4), pool.acquire(1, 4)];
    for (const m of memories) pool.release(m, 1, 4);
    const reused = [pool.acquire(1, 4), pool.acquire(1, 4), pool.acquire(1, 4)].filter((m) => memories.includes(m));
    expect(reused).toHaveLength(2);
  });

  it('does not keep a memory larger than maxMemoryBytes: zeroing it costs more than a new one', () => {
    const pool = createMemoryPool({ maxMemoryBytes: 2 * PAGE });
    const small = pool.acquire(2, 8);
    const large = pool.acquire(3, 8);
    pool.release(small, 2, 8);
    pool.release(large, 3, 8);
    expect(pool.acquire(2, 8)).toBe(small);
    expect(pool.acquire(3, 8)).not.toBe(large);
  });

  it('keeps a memory released twice only once', () => {
    const pool = createMemoryPool();
    const memory = pool.acquire(1, 4);
    pool.release(memory, 1, 4);
    pool.release(memory, 1, 4);
    expect(pool.acquire(1, 4)).toBe(memory);
    expect(pool.acquire(1, 4)).not.toBe(memory);
  });

  it('keeps idle memories within maxIdleBytes, dropping those of the least recently released shapes', () => {
    const pool = createMemoryPool({ maxIdleBytes: 3 * PAGE });
    const a = pool.acquire(1, 4);
    const b = pool.acquire(1, 5);
    const c = pool.acquire(2, 4);
    pool.release(a, 1, 4);
    pool.release(b, 1, 5);
    pool.release(c, 2, 4); // 4 pages idle would be too many: a goes
    expect(pool.acquire(1, 4)).not.toBe(a);
    expect(pool.acquire(1, 5)).toBe(b);
    expect(pool.acquire(2, 4)).toBe(c);
    const big = pool.acquire(4, 4);
    pool.release(big, 4, 4); // larger than the whole budget
    expect(pool.acquire(4, 4)).not.toBe(big);
  });

  it('counts the bytes of memories handed out again, so the budget frees up', () => {
    const pool = createMemoryPool({ maxIdleBytes: 2 * PAGE });
    const a = pool.acquire(2, 4);
    pool.release(a, 2, 4);
    expect(pool.acquire(2, 4)).toBe(a);
    const b = pool.acquire(2, 5);
    pool.release(b, 2, 5);
    pool.release(a, 2, 4); // b goes to make room
    expect(pool.acquire(2, 5)).not.toBe(b);
    expect(pool.acquire(2, 4)).toBe(a);
  });
});

describe('resolveMemoryPoolOptions', () => {
  it('fills the documented defaults', () => {
    expect(resolveMemoryPoolOptions()).toEqual({
      maxIdlePerShape: 4,
      maxMemoryBytes: 4 * 1024 * 1024,
      maxIdleBytes: 64 * 1024 * 1024,
    });
  });

  it('rejects bad values with AETHER_E_CONFIG_INVALID', () => {
    for (const options of [{ maxIdlePerShape: -1 }, { maxIdlePerShape: 1.5 }, { maxIdleBytes: Number.NaN }]) {
      let error: unknown;
      try {
        resolveMemoryPoolOptions(options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AetherError);
      expect((error as AetherError).code).toBe('AETHER_E_CONFIG_INVALID');
    }
  });
});

import { describe, expect, it } from 'vitest';
import { createModuleCache, moduleCacheKey } from './module-cache.js';

describe('module cache', () => {
  it('keys a module by content hash and memory cap', () => {
    expect(moduleCacheKey('ab12', 256)).toBe('ab12:256');
  });

  it('counts a miss on first use and hits afterwards', async () => {
    const cache = createModuleCache<string>({ capacity: 2 });
    let compiles = 0;
    const compile = () => Promise.resolve(`module-${++compiles}`);
    expect(await cache.get('a:1', compile)).toEqual({ value: 'module-1', hit: false });
    expect(await cache.get('a:1', compile)).toEqual({ value: 'module-1', hit: true });
    expect(cache.peek('a:1')).toBe('module-1');
    expect(cache.stats()).toEqual({ size: 1, capacity: 2, hits: 1, misses: 1, evictions: 0 });
  });

  it('evicts the least recently used entry and reports it', async () => {
    const evicted: string[] = [];
    const cache = createModuleCache<string>({ capacity: 2, onEvict: (k) => evicted.push(k) });
    const compile = (v: string) => () => Promise.resolve(v);
    await cache.get('a:1', compile('a'));
    await cache.get('b:1', compile('b'));
    await cache.get('a:1', compile('a')); // a is now the most recent
    await cache.get('c:1', compile('c'));
    expect(evicted).toEqual(['b:1']);
    expect(cache.has('a:1')).toBe(true);
    expect(cache.has('b:1')).toBe(false);
    expect(cache.stats()).toMatchObject({ size: 2, evictions: 1 });
  });

  it('compiles once for concurrent misses of one key', async () => {
    const cache = createModuleCache<string>();
    let compiles = 0;
    let release!: (v: string) => void;
    const compile = () => {
      compiles++;
      return new Promise<string>((resolve) => (release = resolve));
    };
    const lookups = [cache.get('k:1', compile), cache.get('k:1', compile), cache.get('k:1', compile)];
    expect(cache.peek('k:1')).toBeUndefined();
    await Promise.resolve(); // let the first get start its compile
    release('m');
    const results = await Promise.all(lookups);
    expect(compiles).toBe(1);
    expect(results.map((r) => r.value)).toEqual(['m', 'm', 'm']);
    expect(results.filter((r) => !r.hit)).toHaveLength(1);
  });

  it('does not cache a failed compile', async () => {
    const cache = createModuleCache<string>();
    await expect(cache.get('k:1', () => Promise.reject(new Error('bad module')))).rejects.toThrow('bad module');
    expect(cache.has('k:1')).toBe(false);
    expect(await cache.get('k:1', () => Promise.resolve('good'))).toEqual({ value: 'good', hit: false });
  });

  it('deletes every memory cap of a hash', async () => {
    const cache = createModuleCache<string>();
    for (const key of ['h:1', 'h:2', 'other:1']) await cache.get(key, () => Promise.resolve(key));
    expect(cache.deleteHash('h').sort()).toEqual(['h:1', 'h:2']);
    expect(cache.stats().size).toBe(1);
    expect(cache.delete('other:1')).toBe(true);
    expect(cache.stats().size).toBe(0);
  });

  it('rejects a capacity below one', () => {
    expect(() => createModuleCache({ capacity: 0 })).toThrow(RangeError);
  });
});

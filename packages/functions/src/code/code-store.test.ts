import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AetherError } from '@aether/core';
import { sha256Hex } from '../registry/records.js';
import { createCodeCache, createLocalCodeStore, type CodeStore } from './code-store.js';
import { buildZip, sampleFunctionZip } from './test-zips.js';
import { extractZip } from './zip-extract.js';

let root: string;
let storeDir: string;
let cacheDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'aether-code-'));
  storeDir = path.join(root, 'store');
  cacheDir = path.join(root, 'cache');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<AetherError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  return err as AetherError;
}

/** Files (not folders) under `dir`, relative and sorted; [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const all = await readdir(dir, { recursive: true, withFileTypes: true });
  return all
    .filter((d) => !d.isDirectory())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

/** A store that counts reads, as the cache reads the store once per unpack. */
function countingStore(inner: CodeStore): CodeStore & { gets: number } {
  const counting = {
    kind: inner.kind,
    gets: 0,
    put: (zip: Uint8Array) => inner.put(zip),
    get: (hash: string) => {
      counting.gets++;
      return inner.get(hash);
    },
    has: (hash: string) => inner.has(hash),
    delete: (hash: string) => inner.delete(hash),
  };
  return counting;
}

describe('local code store', () => {
  it('stores a zip under its sha256 and gives back the same bytes', async () => {
    const store = createLocalCodeStore(storeDir);
    const zip = sampleFunctionZip();
    const { hash, sizeBytes } = await store.put(zip);
    expect(hash).toBe(sha256Hex(zip));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(sizeBytes).toBe(zip.byteLength);
    expect(store.kind).toBe('local');
    expect(await store.has(hash)).toBe(true);
    expect(await store.get(hash)).toEqual(zip);
    expect(await filesUnder(storeDir)).toEqual([`${hash.slice(0, 2)}/${hash}.zip`]);
  });

  it('deletes, then reports the code as absent', async () => {
    const store = createLocalCodeStore(storeDir);
    const { hash } = await store.put(sampleFunctionZip());
    expect(await store.delete(hash)).toBe(true);
    expect(await store.delete(hash)).toBe(false);
    expect(await store.has(hash)).toBe(false);
    expect(await store.get(hash)).toBeUndefined();
  });

  it('puts the same zip twice as one stored copy with the same hash', async () => {
    const store = createLocalCodeStore(storeDir);
    const zip = sampleFunctionZip();
    const [a, b] = await Promise.all([store.put(zip), store.put(zip)]);
    const c = await store.put(zip);
    expect(a).toEqual(b);
    expect(c).toEqual(a);
    expect(await filesUnder(storeDir)).toEqual([`${a.hash.slice(0, 2)}/${a.hash}.zip`]);
  });

  it('keeps different zips apart', async () => {
    const store = createLocalCodeStore(storeDir);
    const one = await store.put(sampleFunctionZip());
    const two = await store.put(buildZip([{ name: 'handler.js', data: 'other' }]));
    expect(one.hash).not.toBe(two.hash);
    expect(await store.get(two.hash)).toEqual(buildZip([{ name: 'handler.js', data: 'other' }]));
  });

  describe('refuses bad zips and leaves nothing in the store folder', () => {
    const cases: [string, () => Uint8Array, string][] = [
      ['random bytes', () => new Uint8Array([1, 2, 3, 4, 5]), 'AETHER_E_CODE_INVALID_ZIP'],
      [
        'a zip slip',
        () =>
          buildZip([
            { name: 'handler.js', data: 'h' },
            { name: '../evil', data: 'x' },
          ]),
        'AETHER_E_CODE_UNSAFE_PATH',
      ],
      [
        'a symlink',
        () =>
          buildZip([
            { name: 'handler.js', data: 'h' },
            { name: 'l', data: '/etc', unixMode: 0o120777 },
          ]),
        'AETHER_E_CODE_UNSAFE_PATH',
      ],
      [
        'a file over the per-file limit',
        () => buildZip([{ name: 'handler.js', data: new Uint8Array(4096) }]),
        'AETHER_E_CODE_TOO_LARGE',
      ],
      ['a zip without handler.js', () => buildZip([{ name: 'index.js', data: 'i' }]), 'AETHER_E_CODE_NO_HANDLER'],
    ];
    it.each(cases)('%s', async (_what, make, code) => {
      const store = createLocalCodeStore(storeDir, { maxEntryBytes: 1024 });
      const err = await rejection(store.put(make()));
      expect(err.code).toBe(code);
      expect(err.httpStatus).toBeGreaterThanOrEqual(400);
      expect(err.httpStatus).toBeLessThan(500);
      expect(await filesUnder(storeDir)).toEqual([]);
      expect(existsSync(path.join(storeDir, 'evil'))).toBe(false);
      expect(existsSync(path.join(root, 'evil'))).toBe(false);
    });
  });

  it('names the top-level entries when handler.js is missing', async () => {
    const store = createLocalCodeStore(storeDir);
    const err = await rejection(
      store.put(buildZip([{ name: 'index.js', data: 'i' }, { name: 'src/handler.js', data: 'h' }, { name: 'lib/' }])),
    );
    expect(err.code).toBe('AETHER_E_CODE_NO_HANDLER');
    expect(err.details.topLevel).toEqual(['index.js', 'lib/', 'src/']);
    expect(err.message).toContain('"index.js", "lib/", "src/"');
    expect(err.message).not.toContain("zip the folder's contents");
  });

  it('says to zip the contents, not the folder, when the only top-level entry is a folder with handler.js', async () => {
    const store = createLocalCodeStore(storeDir);
    const err = await rejection(store.put(sampleFunctionZip('my-fn/')));
    expect(err.code).toBe('AETHER_E_CODE_NO_HANDLER');
    expect(err.details).toMatchObject({ topLevel: ['my-fn/'], folder: 'my-fn' });
    expect(err.message).toContain("zip the folder's contents, not the folder");
    expect(err.message).toContain('cd my-fn && zip -r ../code.zip .');
  });

  it('gives the same hint for a folder compressed by macOS Finder', async () => {
    const store = createLocalCodeStore(storeDir);
    const err = await rejection(
      store.put(
        buildZip([
          { name: 'my-fn/handler.js', data: 'h' },
          { name: '__MACOSX/my-fn/._handler.js', data: 'apple double' },
        ]),
      ),
    );
    expect(err.details).toMatchObject({ topLevel: ['__MACOSX/', 'my-fn/'], folder: 'my-fn' });
  });

  it('refuses handler.js when it is a folder', async () => {
    const store = createLocalCodeStore(storeDir);
    const err = await rejection(store.put(buildZip([{ name: 'handler.js/index.js', data: 'h' }])));
    expect(err.code).toBe('AETHER_E_CODE_NO_HANDLER');
  });

  it('reports AETHER_E_STORE_CORRUPT when the stored bytes no longer hash to their name', async () => {
    const store = createLocalCodeStore(storeDir);
    const { hash } = await store.put(sampleFunctionZip());
    const file = path.join(storeDir, hash.slice(0, 2), `${hash}.zip`);
    const bytes = await readFile(file);
    bytes[10] = (bytes[10]! + 1) % 256;
    await writeFile(file, bytes);
    const err = await rejection(store.get(hash));
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect(err.details).toMatchObject({ hash, path: file });
  });

  it('refuses hashes that are not 64 lowercase hex digits, so no path can be smuggled in', async () => {
    const store = createLocalCodeStore(storeDir);
    for (const bad of ['../../etc/passwd', 'ABC', 'a'.repeat(63), 'A'.repeat(64), `${'a'.repeat(62)}/x`]) {
      expect((await rejection(store.get(bad))).code).toBe('AETHER_E_INVALID_ARGUMENT');
      expect((await rejection(store.has(bad))).code).toBe('AETHER_E_INVALID_ARGUMENT');
      expect((await rejection(store.delete(bad))).code).toBe('AETHER_E_INVALID_ARGUMENT');
    }
  });

  it('removes work in progress that a crash left long ago, and keeps recent work', async () => {
    const temp = path.join(storeDir, '.tmp');
    await mkdir(path.join(temp, 'check-old-leftover'), { recursive: true });
    await writeFile(path.join(temp, 'check-old-leftover', 'handler.js'), 'half');
    await writeFile(path.join(temp, 'recent.zip'), 'in progress elsewhere');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(path.join(temp, 'check-old-leftover'), old, old);
    await createLocalCodeStore(storeDir).put(sampleFunctionZip());
    expect(await readdir(temp)).toEqual(['recent.zip']);
  });

  it('refuses bad limits when it is created', () => {
    expect(() => createLocalCodeStore(storeDir, { maxEntries: -1 })).toThrow(AetherError);
  });
});

describe('code cache', () => {
  it('unpacks a version once into a folder with handler.js, even for concurrent calls', async () => {
    const store = countingStore(createLocalCodeStore(storeDir));
    const { hash } = await store.put(sampleFunctionZip());
    const cache = createCodeCache(store, cacheDir);
    const dirs = await Promise.all(Array.from({ length: 8 }, () => cache.dirFor(hash)));
    expect(new Set(dirs)).toEqual(new Set([path.join(cacheDir, hash)]));
    expect(store.gets).toBe(1);
    expect(await readFile(path.join(dirs[0]!, 'handler.js'), 'utf8')).toContain('export default');
    expect(await readFile(path.join(dirs[0]!, 'node_modules/x/index.js'), 'utf8')).toBe('module.exports = 42;\n');
    expect(await cache.dirFor(hash)).toBe(dirs[0]);
    expect(store.gets).toBe(1);
    expect(await readdir(path.join(cacheDir, '.tmp'))).toEqual([]);
  });

  it('unpacks again after evict', async () => {
    const store = countingStore(createLocalCodeStore(storeDir));
    const { hash } = await store.put(sampleFunctionZip());
    const cache = createCodeCache(store, cacheDir);
    const dir = await cache.dirFor(hash);
    await cache.evict(hash);
    expect(existsSync(dir)).toBe(false);
    expect(await cache.dirFor(hash)).toBe(dir);
    expect(store.gets).toBe(2);
    expect(existsSync(path.join(dir, 'handler.js'))).toBe(true);
    await cache.evict(hash);
    await cache.evict(hash); // nothing left to evict: no error
    expect(await readdir(cacheDir)).toEqual(['.tmp']);
    expect(await readdir(path.join(cacheDir, '.tmp'))).toEqual([]);
  });

  it('evicts after an unpack in progress ends', async () => {
    const store = countingStore(createLocalCodeStore(storeDir));
    const { hash } = await store.put(sampleFunctionZip());
    const cache = createCodeCache(store, cacheDir);
    const unpacked = cache.dirFor(hash);
    await cache.evict(hash);
    const dir = await unpacked;
    expect(existsSync(dir)).toBe(false);
  });

  it('a new cache reuses what an earlier one unpacked', async () => {
    const store = countingStore(createLocalCodeStore(storeDir));
    const { hash } = await store.put(sampleFunctionZip());
    await createCodeCache(store, cacheDir).dirFor(hash);
    await createCodeCache(store, cacheDir).dirFor(hash);
    expect(store.gets).toBe(1);
  });

  it('ignores the half-unpacked folder of a crashed unpack of the same version', async () => {
    const store = countingStore(createLocalCodeStore(storeDir));
    const { hash } = await store.put(sampleFunctionZip());
    const leftover = path.join(cacheDir, '.tmp', `${hash}-crashed`);
    await mkdir(leftover, { recursive: true });
    await writeFile(path.join(leftover, 'handler.js'), 'half of the fi');
    const dir = await createCodeCache(store, cacheDir).dirFor(hash);
    expect(dir).toBe(path.join(cacheDir, hash));
    expect(await readFile(path.join(dir, 'handler.js'), 'utf8')).toContain('export default');
    expect(await readdir(dir)).toEqual(['handler.js', 'node_modules', 'package.json']);
  });

  it('removes what a crash left long ago when it starts', async () => {
    const store = createLocalCodeStore(storeDir);
    const { hash } = await store.put(sampleFunctionZip());
    const leftover = path.join(cacheDir, '.tmp', `${hash}-crashed`);
    await mkdir(leftover, { recursive: true });
    await writeFile(path.join(leftover, 'handler.js'), 'half of the fi');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(leftover, old, old);
    await createCodeCache(store, cacheDir).dirFor(hash);
    expect(await readdir(path.join(cacheDir, '.tmp'))).toEqual([]);
  });

  it('uses the copy another process renamed into place first', async () => {
    const inner = createLocalCodeStore(storeDir);
    const { hash } = await inner.put(sampleFunctionZip());
    const final = path.join(cacheDir, hash);
    // the other process finishes its unpack while this one reads the store
    const racing: CodeStore = {
      ...inner,
      kind: inner.kind,
      get: async (h) => {
        const zip = await inner.get(h);
        await extractZip(zip!, final);
        await writeFile(path.join(final, 'marker'), 'theirs');
        return zip;
      },
    };
    const dir = await createCodeCache(racing, cacheDir).dirFor(hash);
    expect(dir).toBe(final);
    expect(await readFile(path.join(final, 'marker'), 'utf8')).toBe('theirs');
    expect(await readdir(path.join(cacheDir, '.tmp'))).toEqual([]);
  });

  it('fails with AETHER_E_NOT_FOUND for code the store does not have, and can unpack it once it does', async () => {
    const store = createLocalCodeStore(storeDir);
    const cache = createCodeCache(store, cacheDir);
    const zip = sampleFunctionZip();
    const hash = sha256Hex(zip);
    expect((await rejection(cache.dirFor(hash))).code).toBe('AETHER_E_NOT_FOUND');
    await store.put(zip);
    expect(await cache.dirFor(hash)).toBe(path.join(cacheDir, hash));
  });

  it('refuses bytes from a store that do not hash to the version', async () => {
    const inner = createLocalCodeStore(storeDir);
    const { hash } = await inner.put(sampleFunctionZip());
    const lying: CodeStore = { ...inner, kind: 'lying', get: () => Promise.resolve(buildZip([])) };
    const err = await rejection(createCodeCache(lying, cacheDir).dirFor(hash));
    expect(err.code).toBe('AETHER_E_STORE_CORRUPT');
    expect(existsSync(path.join(cacheDir, hash))).toBe(false);
  });

  it('refuses hashes that are not 64 lowercase hex digits', async () => {
    const cache = createCodeCache(createLocalCodeStore(storeDir), cacheDir);
    expect((await rejection(cache.dirFor('../x'))).code).toBe('AETHER_E_INVALID_ARGUMENT');
    expect((await rejection(cache.evict('../x'))).code).toBe('AETHER_E_INVALID_ARGUMENT');
  });

  it('unpacks with files 0644 and folders 0755', async () => {
    const store = createLocalCodeStore(storeDir);
    const { hash } = await store.put(sampleFunctionZip());
    const dir = await createCodeCache(store, cacheDir).dirFor(hash);
    expect((await stat(path.join(dir, 'handler.js'))).mode & 0o777).toBe(0o644);
    expect((await stat(path.join(dir, 'node_modules'))).mode & 0o777).toBe(0o755);
    expect((await stat(dir)).mode & 0o777).toBe(0o755);
  });
});

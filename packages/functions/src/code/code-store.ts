/**
 * Where node function code lives (issue 5). The code store keeps uploaded zips
 * content-addressed by sha256, behind an interface that the cluster mode backs
 * with S3; the local implementation here keeps them on the filesystem. A zip is
 * accepted only once it has been seen to unpack safely with handler.js at its
 * root. The code cache is each worker's unpacked copy per version: unpacked
 * once per hash, into a temporary folder renamed into place, so a crash never
 * leaves a half-unpacked version where a function would run it.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AetherError, aetherError } from '@aether/core';
import { sha256Hex } from '../registry/records.js';
import { extractZip, resolveZipLimits, type ResolvedZipLimits, type ZipLimits } from './zip-extract.js';

/** Zips of node function code, addressed by the lowercase hex sha256 of their bytes. */
export interface CodeStore {
  /** 'local' here; other implementations name theirs (e.g. 's3'). */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- 'local' documents the built-in kind
  readonly kind: 'local' | string;
  /** Stores a zip under its sha256 (idempotent) after checking it unpacks safely and has handler.js at its root; returns the hash and size. */
  put(zip: Uint8Array): Promise<{ hash: string; sizeBytes: number }>;
  /** The zip bytes, or undefined. */
  get(hash: string): Promise<Uint8Array | undefined>;
  has(hash: string): Promise<boolean>;
  delete(hash: string): Promise<boolean>;
}

/** Unpacked code per version, cached on local disk: unpack once per hash (concurrent calls share one unpack), atomically (unpack to a temp dir, then rename). */
export interface CodeCache {
  /** The folder holding the unpacked code of `hash`, unpacking it first if needed. */
  dirFor(hash: string): Promise<string>;
  /** Removes the unpacked code of `hash` (after an unpack in progress ends); the next dirFor unpacks again. */
  evict(hash: string): Promise<void>;
}

const HASH = /^[0-9a-f]{64}$/;
/** Folder, under a store or cache folder, of work in progress: never read as content. */
const TEMP_DIR = '.tmp';
/** Work in progress older than this was left by a crash and is removed. */
const STALE_MS = 60 * 60 * 1000;
/** Top-level names shown in an AETHER_E_CODE_NO_HANDLER message. */
const SHOWN_NAMES = 20;

function requireHash(hash: unknown): asserts hash is string {
  if (typeof hash !== 'string' || !HASH.test(hash)) {
    const shown = typeof hash === 'string' ? JSON.stringify(hash.slice(0, 80)) : typeof hash;
    throw aetherError('AETHER_E_INVALID_ARGUMENT', `not a code hash (64 lowercase hex digits): ${shown}`, {
      field: 'hash',
    });
  }
}

function errnoOf(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

function storeFailed(location: string, action: string, err: unknown): AetherError {
  if (err instanceof AetherError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return aetherError(
    'AETHER_E_STORE_FAILED',
    `the code store at ${location} could not ${action}: ${message}`,
    {
      location,
    },
    err,
  );
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The temp folder of a store or cache: created on first use, when what a
 * crashed process left there long ago is removed. Names in it are unique, so
 * a leftover of recent work is never mistaken for anything.
 */
function tempArea(root: string): { dir: string; ready: () => Promise<void> } {
  const dir = path.join(root, TEMP_DIR);
  let prepared: Promise<void> | undefined;
  const sweep = async (): Promise<void> => {
    await mkdir(dir, { recursive: true });
    const cutoff = Date.now() - STALE_MS;
    for (const name of await readdir(dir)) {
      const p = path.join(dir, name);
      try {
        if ((await lstat(p)).mtimeMs < cutoff) await rm(p, { recursive: true, force: true });
      } catch {
        // best effort: another process may be sweeping the same leftover
      }
    }
  };
  const ready = (): Promise<void> => {
    prepared ??= sweep().catch((err: unknown) => {
      prepared = undefined;
      throw err;
    });
    return prepared;
  };
  return { dir, ready };
}

/** Writes a new file and flushes it to disk, so a rename publishes complete bytes only. */
async function writeDurably(file: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(file, 'wx', 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (a rename into it) to disk; best effort where folders cannot be opened. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // some platforms and file systems refuse fsync on a folder; the rename is still atomic
  }
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, SHOWN_NAMES).map((n) => JSON.stringify(n));
  if (names.length > SHOWN_NAMES) shown.push(`and ${names.length - SHOWN_NAMES} more`);
  return shown.join(', ');
}

/** AETHER_E_CODE_NO_HANDLER unless `dir` (an unpacked zip) has a file handler.js at its root. */
async function requireHandler(dir: string): Promise<void> {
  try {
    if ((await lstat(path.join(dir, 'handler.js'))).isFile()) return;
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  const entries = await readdir(dir, { withFileTypes: true });
  const topLevel = entries.map((d) => (d.isDirectory() ? `${d.name}/` : d.name)).sort();
  const what = topLevel.length === 0 ? 'the zip is empty' : `its top level holds ${listNames(topLevel)}`;
  // Finder's "Compress" adds __MACOSX/ and .DS_Store next to the folder itself.
  const meaningful = topLevel.filter((n) => n !== '__MACOSX/' && n !== '.DS_Store');
  const only = meaningful.length === 1 ? meaningful[0] : undefined;
  if (only?.endsWith('/') === true) {
    const folder = only.slice(0, -1);
    const inside = await lstat(path.join(dir, folder, 'handler.js')).then(
      (s) => s.isFile(),
      () => false,
    );
    if (inside) {
      throw aetherError(
        'AETHER_E_CODE_NO_HANDLER',
        `the zip has no handler.js at its root but in its only folder ${JSON.stringify(only)}: zip the folder's contents, not the folder (cd ${folder} && zip -r ../code.zip .)`,
        { topLevel, folder },
      );
    }
  }
  throw aetherError('AETHER_E_CODE_NO_HANDLER', `the zip has no handler.js at its root; ${what}`, { topLevel });
}

/**
 * A code store on the local filesystem: `<dir>/<hash[0..2]>/<hash>.zip`, each
 * written to `<dir>/.tmp` and renamed into place.
 */
export function createLocalCodeStore(dir: string, limits?: ZipLimits): CodeStore {
  const root = path.resolve(dir);
  const resolved: ResolvedZipLimits = resolveZipLimits(limits);
  const temp = tempArea(root);
  const zipPath = (hash: string): string => path.join(root, hash.slice(0, 2), `${hash}.zip`);

  return {
    kind: 'local',

    async put(zip) {
      if (!(zip instanceof Uint8Array)) {
        throw aetherError('AETHER_E_INVALID_ARGUMENT', 'code must be the bytes of a zip', { field: 'zip' });
      }
      try {
        await temp.ready();
      } catch (err) {
        throw storeFailed(root, 'prepare its folder', err);
      }
      const hash = sha256Hex(zip);
      const check = path.join(temp.dir, `check-${hash.slice(0, 16)}-${randomUUID()}`);
      try {
        await extractZip(zip, check, resolved);
        await requireHandler(check);
      } finally {
        await rm(check, { recursive: true, force: true });
      }
      const target = zipPath(hash);
      const staged = path.join(temp.dir, `${hash}-${randomUUID()}.zip`);
      try {
        await mkdir(path.dirname(target), { recursive: true });
        await writeDurably(staged, zip);
        // Same bytes under the same name: replacing an earlier copy is harmless.
        await rename(staged, target);
      } catch (err) {
        await rm(staged, { force: true });
        throw storeFailed(root, `store code ${hash}`, err);
      }
      await syncDirectory(path.dirname(target));
      return { hash, sizeBytes: zip.byteLength };
    },

    async get(hash) {
      requireHash(hash);
      const file = zipPath(hash);
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return undefined;
        throw storeFailed(root, `read code ${hash}`, err);
      }
      const actual = sha256Hex(bytes);
      if (actual !== hash) {
        throw aetherError(
          'AETHER_E_STORE_CORRUPT',
          `code ${hash} in ${file} is damaged: its ${bytes.byteLength} bytes hash to ${actual}; upload the code again`,
          { hash, path: file, sizeBytes: bytes.byteLength },
        );
      }
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },

    async has(hash) {
      requireHash(hash);
      try {
        return (await lstat(zipPath(hash))).isFile();
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return false;
        throw storeFailed(root, `look up code ${hash}`, err);
      }
    },

    async delete(hash) {
      requireHash(hash);
      try {
        await unlink(zipPath(hash));
        return true;
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return false;
        throw storeFailed(root, `delete code ${hash}`, err);
      }
    },
  };
}

/**
 * A code cache in `cacheDir`: `<cacheDir>/<hash>/` holds the unpacked code of
 * a version, unpacked in `<cacheDir>/.tmp` and renamed into place.
 */
export function createCodeCache(store: CodeStore, cacheDir: string, limits?: ZipLimits): CodeCache {
  const root = path.resolve(cacheDir);
  const resolved: ResolvedZipLimits = resolveZipLimits(limits);
  const temp = tempArea(root);
  const unpacking = new Map<string, Promise<string>>();

  async function unpack(hash: string): Promise<string> {
    await temp.ready();
    const final = path.join(root, hash);
    if (await isDirectory(final)) return final;
    const zip = await store.get(hash);
    if (zip === undefined) {
      throw aetherError('AETHER_E_NOT_FOUND', `code ${hash} is not in the ${store.kind} code store`, { hash });
    }
    // The store checks what it reads; a store that does not must not poison the cache.
    const actual = sha256Hex(zip);
    if (actual !== hash) {
      throw aetherError(
        'AETHER_E_STORE_CORRUPT',
        `the ${store.kind} code store returned bytes hashing to ${actual} for code ${hash}`,
        {
          hash,
        },
      );
    }
    const staging = path.join(temp.dir, `${hash}-${randomUUID()}`);
    try {
      await extractZip(zip, staging, resolved);
      await rename(staging, final);
      return final;
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      // Another process sharing the cache renamed its unpack into place first.
      const code = errnoOf(err);
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isDirectory(final))) return final;
      throw err;
    }
  }

  return {
    async dirFor(hash) {
      requireHash(hash);
      const running = unpacking.get(hash);
      if (running !== undefined) return running;
      const started = unpack(hash)
        .catch((err: unknown) => {
          throw err instanceof AetherError
            ? err
            : aetherError(
                'AETHER_E_INTERNAL',
                `could not unpack code ${hash} into ${root}: ${err instanceof Error ? err.message : String(err)}`,
                { hash },
                err,
              );
        })
        .finally(() => {
          if (unpacking.get(hash) === started) unpacking.delete(hash);
        });
      unpacking.set(hash, started);
      return started;
    },

    async evict(hash) {
      requireHash(hash);
      await unpacking.get(hash)?.catch(() => undefined);
      await temp.ready();
      // Renamed away first, so nobody sees a half-deleted version under its name.
      const doomed = path.join(temp.dir, `${hash}-evicted-${randomUUID()}`);
      try {
        await rename(path.join(root, hash), doomed);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return;
        throw err;
      }
      await rm(doomed, { recursive: true, force: true });
    },
  };
}

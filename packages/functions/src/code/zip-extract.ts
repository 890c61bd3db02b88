/**
 * Unpacks an uploaded zip of node function code into a fresh directory, treating
 * the zip as hostile: every entry is checked before anything is written (paths
 * that would leave the directory, symlinks and special files, encryption,
 * duplicate names, entry count, sizes the headers declare), and while the data
 * streams the limits are enforced again on the bytes that actually inflate, so a
 * header that lies about sizes cannot get more than the limit onto the disk. On
 * any failure the directory is removed and nothing exists outside it.
 */
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, crc32 } from 'node:zlib';
import { AetherError, aetherError } from '@aether/core';
import yauzl, { type Entry, type ZipFile } from 'yauzl';

const MIB = 1024 * 1024;

/** Limits on what a zip may unpack to; every one is checked on the inflated bytes. */
export interface ZipLimits {
  /**
   * Most entries (files and folders) a zip may hold.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Most bytes all files together may inflate to.
   * @default 209_715_200 (200 MiB)
   */
  maxTotalBytes?: number;
  /**
   * Most bytes one file may inflate to.
   * @default 104_857_600 (100 MiB)
   */
  maxEntryBytes?: number;
  /**
   * Highest compression ratio (inflated bytes per compressed byte) of a file
   * larger than `ratioThresholdBytes`.
   * @default 200
   */
  maxRatio?: number;
  /**
   * Files up to this many inflated bytes may have any compression ratio (small
   * files of repeated text compress very well).
   * @default 1_048_576 (1 MiB)
   */
  ratioThresholdBytes?: number;
}

/** ZipLimits with every default filled in. */
export type ResolvedZipLimits = Required<ZipLimits>;

/** What extractZip wrote. */
export interface ExtractResult {
  /** Regular files written. */
  files: number;
  /** Bytes written to those files. */
  bytes: number;
}

const DEFAULT_LIMITS: ResolvedZipLimits = {
  maxEntries: 10_000,
  maxTotalBytes: 200 * MIB,
  maxEntryBytes: 100 * MIB,
  maxRatio: 200,
  ratioThresholdBytes: MIB,
};

/** Fills the defaults of ZipLimits; AETHER_E_INVALID_ARGUMENT on a limit that is not a positive integer. */
export function resolveZipLimits(limits: ZipLimits = {}): ResolvedZipLimits {
  const resolved: ResolvedZipLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ResolvedZipLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw aetherError(
        'AETHER_E_INVALID_ARGUMENT',
        `zip limit ${key} must be a positive integer, got ${String(value)}`,
        {
          field: key,
        },
      );
    }
    resolved[key] = value;
  }
  return resolved;
}

// Unix file types in the high 16 bits of an entry's external attributes.
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
// MS-DOS directory attribute in the low byte of the external attributes.
const DOS_DIRECTORY = 0x10;
const FLAG_ENCRYPTED = 0x1;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
// Linux NAME_MAX and PATH_MAX, in bytes.
const NAME_MAX = 255;
const PATH_MAX = 4095;

interface PlannedEntry {
  readonly entry: Entry;
  /** The entry's name as the zip spells it, for messages. */
  readonly name: string;
  /** Normalized relative path: segments joined by `/`, no `.`, `..` or empty segments. */
  readonly rel: string;
  readonly kind: 'file' | 'dir';
  /** 0o755 for executables and folders, 0o644 otherwise. */
  readonly mode: number;
}

function invalidZip(message: string, details: Record<string, unknown> = {}): AetherError {
  return aetherError('AETHER_E_CODE_INVALID_ZIP', message, details);
}

function unsafe(name: string, why: string): AetherError {
  return aetherError('AETHER_E_CODE_UNSAFE_PATH', `zip entry ${JSON.stringify(name)} ${why}`, { entry: name });
}

function tooLarge(message: string, details: Record<string, unknown>): AetherError {
  return aetherError('AETHER_E_CODE_TOO_LARGE', message, details);
}

function mib(bytes: number): string {
  const v = bytes / MIB;
  return `${Number.isInteger(v) ? String(v) : v.toFixed(1)} MiB`;
}

/** Checks one name and returns its normalized relative path ('' for the root folder). */
function normalizedPath(name: string): string {
  if (name.length === 0) throw unsafe(name, 'has an empty name');
  if (name.includes('\u0000')) throw unsafe(name, 'has a NUL character in its name');
  if (name.includes('\\')) throw unsafe(name, 'has a backslash in its name (zips must use "/" between folders)');
  if (name.startsWith('/')) throw unsafe(name, 'is an absolute path');
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, 'starts with a drive letter');
  const segments: string[] = [];
  for (const segment of name.split('/')) {
    if (segment === '..') throw unsafe(name, 'has a ".." segment that leads out of the code folder');
    if (segment === '' || segment === '.') continue;
    if (Buffer.byteLength(segment) > NAME_MAX) throw unsafe(name, `has a name longer than ${NAME_MAX} bytes`);
    segments.push(segment);
  }
  const rel = segments.join('/');
  if (Buffer.byteLength(rel) > PATH_MAX) throw unsafe(name, `has a path longer than ${PATH_MAX} bytes`);
  return rel;
}

/** Everything about one entry that can be judged from the central directory. */
function planEntry(entry: Entry): PlannedEntry {
  // Names are decoded here rather than by yauzl so that backslashes reach
  // normalizedPath instead of being silently turned into "/".
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
  if ((entry.generalPurposeBitFlag & FLAG_ENCRYPTED) !== 0) {
    throw invalidZip(`zip entry ${JSON.stringify(name)} is encrypted; upload an unencrypted zip`, { entry: name });
  }
  const rel = normalizedPath(name);
  // Whatever the "made by" platform says, high bits that name a Unix file type
  // are honoured: a symlink must not pass as a file because its zip claims to
  // come from elsewhere.
  const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
  const type = unixMode & S_IFMT;
  if (type === S_IFLNK) throw unsafe(name, 'is a symbolic link');
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    throw unsafe(name, `is a special file (Unix type 0o${type.toString(8)}), not a file or folder`);
  }
  const isDir =
    name.endsWith('/') || type === S_IFDIR || (type === 0 && (entry.externalFileAttributes & DOS_DIRECTORY) !== 0);
  if (isDir) return { entry, name, rel, kind: 'dir', mode: 0o755 };
  if (rel === '') throw unsafe(name, 'is a file without a name');
  if (entry.compressionMethod !== METHOD_STORED && entry.compressionMethod !== METHOD_DEFLATE) {
    throw invalidZip(
      `zip entry ${JSON.stringify(name)} uses compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are supported`,
      { entry: name, compressionMethod: entry.compressionMethod },
    );
  }
  return { entry, name, rel, kind: 'file', mode: (unixMode & 0o111) !== 0 ? 0o755 : 0o644 };
}

/** Rejects duplicate names, and a name used both as a file and as a folder. */
class PathClaims {
  private readonly explicit = new Set<string>();
  private readonly kinds = new Map<string, 'file' | 'dir'>();

  claim(p: PlannedEntry): void {
    if (p.rel === '') return;
    if (this.explicit.has(p.rel)) {
      throw invalidZip(`the zip holds ${JSON.stringify(p.rel)} more than once`, { entry: p.name });
    }
    this.explicit.add(p.rel);
    const parts = p.rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.kinds.get(parent) === 'file') {
        throw invalidZip(`zip entry ${JSON.stringify(p.name)} is inside ${JSON.stringify(parent)}, which is a file`, {
          entry: p.name,
        });
      }
      this.kinds.set(parent, 'dir');
    }
    const had = this.kinds.get(p.rel);
    if (had !== undefined && had !== p.kind) {
      throw invalidZip(`the zip holds ${JSON.stringify(p.rel)} both as a file and as a folder`, { entry: p.name });
    }
    this.kinds.set(p.rel, p.kind);
  }
}

/** Reads and checks the whole central directory before anything is written. */
async function planAll(zipfile: ZipFile, limits: ResolvedZipLimits): Promise<PlannedEntry[]> {
  if (zipfile.entryCount > limits.maxEntries) {
    throw tooLarge(`the zip holds ${zipfile.entryCount} entries; at most ${limits.maxEntries} are allowed`, {
      entries: zipfile.entryCount,
      limit: limits.maxEntries,
    });
  }
  const planned: PlannedEntry[] = [];
  const claims = new PathClaims();
  let declaredTotal = 0;
  for await (const entry of zipfile.eachEntry()) {
    const p = planEntry(entry);
    claims.claim(p);
    planned.push(p);
    if (p.kind === 'dir') continue;
    // The declared sizes only let an honest but oversized zip fail before any
    // byte is written; the limits are enforced again on the inflated bytes.
    const declared = entry.uncompressedSize;
    if (declared > limits.maxEntryBytes) {
      throw tooLarge(
        `zip entry ${JSON.stringify(p.name)} declares ${mib(declared)}; a file may unpack to at most ${mib(limits.maxEntryBytes)}`,
        { entry: p.name, declaredBytes: declared, limit: limits.maxEntryBytes },
      );
    }
    declaredTotal += declared;
    if (declaredTotal > limits.maxTotalBytes) {
      throw tooLarge(
        `the zip declares more than ${mib(limits.maxTotalBytes)} of files (the limit) by entry ${JSON.stringify(p.name)}`,
        { entry: p.name, declaredBytes: declaredTotal, limit: limits.maxTotalBytes },
      );
    }
    if (declared > limits.ratioThresholdBytes && declared > limits.maxRatio * Math.max(entry.compressedSize, 1)) {
      throw tooLarge(
        `zip entry ${JSON.stringify(p.name)} declares a compression ratio above ${limits.maxRatio}:1 (${declared} bytes from ${entry.compressedSize})`,
        { entry: p.name, declaredBytes: declared, compressedBytes: entry.compressedSize, limit: limits.maxRatio },
      );
    }
  }
  return planned;
}

/** Byte counts shared by the entries of one extraction. */
interface Progress {
  /** Bytes inflated (and so written) so far, all files together. */
  total: number;
}

/**
 * Passes one file's inflated bytes through, failing before the chunk that would
 * cross a limit is written; at the end, the size and CRC-32 must match the
 * central directory. The ratio is taken against the entry's compressed size,
 * which cannot lie upwards (yauzl checks it against the zip's length), so no
 * honest file is refused for a compressible beginning.
 */
class EntryGuard extends Transform {
  private inflated = 0;
  private crc = 0;

  constructor(
    private readonly p: PlannedEntry,
    private readonly limits: ResolvedZipLimits,
    private readonly progress: Progress,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const inflated = this.inflated + chunk.byteLength;
    const total = this.progress.total + chunk.byteLength;
    const { limits, p } = this;
    const details = { entry: p.name, inflatedBytes: inflated, bytesWritten: this.progress.total };
    if (inflated > limits.maxEntryBytes) {
      callback(
        tooLarge(
          `zip entry ${JSON.stringify(p.name)} unpacks to more than ${mib(limits.maxEntryBytes)} (the limit per file)`,
          {
            ...details,
            limit: limits.maxEntryBytes,
          },
        ),
      );
      return;
    }
    if (total > limits.maxTotalBytes) {
      callback(
        tooLarge(
          `the zip unpacks to more than ${mib(limits.maxTotalBytes)} (the limit), reached in ${JSON.stringify(p.name)}`,
          {
            ...details,
            limit: limits.maxTotalBytes,
          },
        ),
      );
      return;
    }
    const compressed = Math.max(p.entry.compressedSize, 1);
    if (inflated > limits.ratioThresholdBytes && inflated > limits.maxRatio * compressed) {
      callback(
        tooLarge(
          `zip entry ${JSON.stringify(p.name)} inflates more than ${limits.maxRatio}:1 (over ${inflated} bytes from ${compressed}): a zip bomb?`,
          { ...details, compressedBytes: compressed, limit: limits.maxRatio },
        ),
      );
      return;
    }
    this.inflated = inflated;
    this.progress.total = total;
    this.crc = crc32(chunk, this.crc);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { entry, name } = this.p;
    if (this.inflated !== entry.uncompressedSize) {
      callback(
        invalidZip(
          `zip entry ${JSON.stringify(name)} declares ${entry.uncompressedSize} bytes but holds ${this.inflated}`,
          {
            entry: name,
          },
        ),
      );
      return;
    }
    if (this.crc !== entry.crc32) {
      callback(
        invalidZip(`zip entry ${JSON.stringify(name)} fails its CRC-32 check: the zip is damaged`, { entry: name }),
      );
      return;
    }
    callback();
  }
}

const CREATE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;

async function writeFile(
  zipfile: ZipFile,
  p: PlannedEntry,
  target: string,
  limits: ResolvedZipLimits,
  progress: Progress,
): Promise<void> {
  // Raw bytes, inflated here: a stream pipeline destroys every stage on an error.
  const raw: Readable = await zipfile.openReadStreamPromise(p.entry, { decodeFileData: false });
  const inflater = p.entry.compressionMethod === METHOD_DEFLATE ? createInflateRaw() : undefined;
  const guard = new EntryGuard(p, limits, progress);
  let fh;
  try {
    // O_EXCL | O_NOFOLLOW: never write through anything already at the path.
    fh = await open(target, CREATE_FLAGS, 0o600);
    await fh.chmod(p.mode); // exactly 0644 or 0755, whatever the umask
  } catch (err) {
    await fh?.close();
    raw.destroy();
    throw err;
  }
  const out = fh.createWriteStream();
  if (inflater === undefined) await pipeline(raw, guard, out);
  else await pipeline(raw, inflater, guard, out);
}

/** Creates `dir` (which must not exist, or be an empty folder) with mode 0755. */
async function prepareDestination(dir: string): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true });
  try {
    await mkdir(dir, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const s = await stat(dir);
    if (!s.isDirectory() || (await readdir(dir)).length > 0) {
      throw aetherError(
        'AETHER_E_INVALID_ARGUMENT',
        `cannot unpack a zip into ${dir}: it exists and is not an empty folder`,
        {
          dir,
        },
      );
    }
  }
  await chmod(dir, 0o755);
}

async function writeAll(
  zipfile: ZipFile,
  planned: readonly PlannedEntry[],
  dest: string,
  limits: ResolvedZipLimits,
): Promise<ExtractResult> {
  const made = new Set<string>(['']);
  const ensureDir = async (rel: string): Promise<void> => {
    if (made.has(rel)) return;
    await ensureDir(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    await mkdir(path.join(dest, rel), { mode: 0o755 });
    await chmod(path.join(dest, rel), 0o755); // exactly 0755, whatever the umask
    made.add(rel);
  };
  const progress: Progress = { total: 0 };
  let files = 0;
  for (const p of planned) {
    const target = path.join(dest, p.rel);
    // Belt and braces: planEntry already refused every way out of dest.
    if (p.rel !== '' && !target.startsWith(dest + path.sep)) throw unsafe(p.name, 'resolves outside the code folder');
    if (p.kind === 'dir') {
      await ensureDir(p.rel);
      continue;
    }
    const parent = path.posix.dirname(p.rel);
    await ensureDir(parent === '.' ? '' : parent);
    await writeFile(zipfile, p, target, limits, progress);
    files++;
  }
  return { files, bytes: progress.total };
}

/** Errors of yauzl and zlib mean a malformed zip; errors of the file system do not. */
function classify(err: unknown, dest: string): AetherError {
  if (err instanceof AetherError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (typeof (e as NodeJS.ErrnoException).syscall === 'string') {
    return aetherError('AETHER_E_INTERNAL', `unpacking a zip into ${dest} failed: ${e.message}`, { dir: dest }, e);
  }
  return aetherError('AETHER_E_CODE_INVALID_ZIP', `not a valid zip: ${e.message}`, {}, e);
}

/**
 * Unpacks `zip` into `destDir` (created; it must not exist or be empty), or
 * fails with AETHER_E_CODE_INVALID_ZIP, AETHER_E_CODE_UNSAFE_PATH or
 * AETHER_E_CODE_TOO_LARGE having removed `destDir` and written nothing
 * outside it.
 */
export async function extractZip(zip: Uint8Array, destDir: string, limits?: ZipLimits): Promise<ExtractResult> {
  const resolved = resolveZipLimits(limits);
  const dest = path.resolve(destDir);
  try {
    await prepareDestination(dest);
  } catch (err) {
    throw classify(err, dest); // not removed: it may hold someone's files
  }
  try {
    const buffer = Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
    const zipfile = await yauzl.fromBufferPromise(buffer, {
      lazyEntries: true,
      // names are decoded and checked by planEntry; sizes by EntryGuard
      decodeStrings: false,
      validateEntrySizes: false,
    });
    const planned = await planAll(zipfile, resolved);
    return await writeAll(zipfile, planned, dest, resolved);
  } catch (err) {
    await rm(dest, { recursive: true, force: true });
    throw classify(err, dest);
  }
}

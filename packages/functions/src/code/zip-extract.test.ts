import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AetherError } from '@aether/core';
import { buildZip, deflatedZeros, sampleFunctionZip, unicodePathExtra, type TestZipEntry } from './test-zips.js';
import { extractZip, resolveZipLimits, type ZipLimits } from './zip-extract.js';

const MIB = 1024 * 1024;

let root: string;
let dest: string;

beforeEach(async () => {
  // dest sits two levels down so that "../evil" and "../../evil" both land in root
  root = await mkdtemp(path.join(tmpdir(), 'aether-zip-'));
  dest = path.join(root, 'a', 'dest');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(zip: Uint8Array, limits?: ZipLimits): Promise<AetherError> {
  const err: unknown = await extractZip(zip, dest, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  return err as AetherError;
}

/** Every path under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.sort();
}

/** After a failed extraction: dest is gone and nothing but its (empty) parent is left in root. */
async function expectNothingWritten(): Promise<void> {
  expect(existsSync(dest)).toBe(false);
  expect(existsSync(path.join(dest, '..', 'evil'))).toBe(false);
  expect(await tree(root)).toEqual(['a']);
}

describe('extractZip', () => {
  it('unpacks files and folders of a normal function zip with their contents', async () => {
    const result = await extractZip(sampleFunctionZip(), dest);
    expect(result).toEqual({ files: 3, bytes: 98 });
    expect(await tree(dest)).toEqual([
      'handler.js',
      'node_modules',
      'node_modules/x',
      'node_modules/x/index.js',
      'package.json',
    ]);
    expect(await readFile(path.join(dest, 'node_modules/x/index.js'), 'utf8')).toBe('module.exports = 42;\n');
    expect(await readFile(path.join(dest, 'handler.js'), 'utf8')).toContain('export default');
  });

  it('creates parent folders that have no entry of their own', async () => {
    await extractZip(buildZip([{ name: 'a/b/c.js', data: 'c' }]), dest);
    expect(await readFile(path.join(dest, 'a/b/c.js'), 'utf8')).toBe('c');
  });

  it('writes files 0644, executables 0755 and folders 0755, dropping setuid and friends', async () => {
    await extractZip(
      buildZip([
        { name: 'plain.js', data: 'x', unixMode: 0o100600 },
        { name: 'bin/run', data: '#!/bin/sh\n', unixMode: 0o104777 }, // setuid, world-writable
        { name: 'dir/', unixMode: 0o041777 }, // sticky, world-writable
        { name: 'nomode.txt', data: 'y' },
      ]),
      dest,
    );
    const mode = async (p: string) => (await stat(path.join(dest, p))).mode & 0o7777;
    expect(await mode('plain.js')).toBe(0o644);
    expect(await mode('bin/run')).toBe(0o755);
    expect(await mode('bin')).toBe(0o755);
    expect(await mode('dir')).toBe(0o755);
    expect(await mode('nomode.txt')).toBe(0o644);
    expect(await mode('.')).toBe(0o755);
  });

  it('accepts "./" prefixes and a root entry', async () => {
    const result = await extractZip(buildZip([{ name: './' }, { name: './handler.js', data: 'h' }]), dest);
    expect(result.files).toBe(1);
    expect(await tree(dest)).toEqual(['handler.js']);
  });

  it('unpacks into an empty folder that already exists, but refuses one with files in it', async () => {
    await mkdir(dest, { recursive: true });
    await extractZip(sampleFunctionZip(), dest);
    const err = await failure(sampleFunctionZip());
    expect(err.code).toBe('AETHER_E_INVALID_ARGUMENT');
    expect(existsSync(path.join(dest, 'handler.js'))).toBe(true);
  });

  describe('refuses what is not a zip with AETHER_E_CODE_INVALID_ZIP', () => {
    const cases: [string, () => Uint8Array][] = [
      ['random bytes', () => new Uint8Array(randomBytes(4096))],
      ['empty input', () => new Uint8Array()],
      ['a truncated zip', () => sampleFunctionZip().subarray(0, 300)],
      ['a zip without its first bytes', () => sampleFunctionZip().subarray(40)],
    ];
    it.each(cases)('%s', async (_what, make) => {
      const err = await failure(make());
      expect(err.code).toBe('AETHER_E_CODE_INVALID_ZIP');
      expect(err.httpStatus).toBe(400);
      await expectNothingWritten();
    });
  });

  it('refuses damaged entry data (bad deflate stream or CRC) and removes what it wrote', async () => {
    const badCrc = await failure(
      buildZip([
        { name: 'ok.js', data: 'ok' },
        { name: 'x.js', data: 'hello', crc32: 1 },
      ]),
    );
    expect(badCrc.code).toBe('AETHER_E_CODE_INVALID_ZIP');
    expect(badCrc.message).toContain('CRC');
    await expectNothingWritten();
    const badDeflate = await failure(
      buildZip([{ name: 'x.js', compressed: new Uint8Array([0xff, 0xff, 0xff]), uncompressedSize: 5 }]),
    );
    expect(badDeflate.code).toBe('AETHER_E_CODE_INVALID_ZIP');
    await expectNothingWritten();
  });

  describe('refuses entries that would land outside the folder with AETHER_E_CODE_UNSAFE_PATH', () => {
    const names = [
      '../evil',
      '../../evil',
      'a/../../evil',
      'ok/../../../evil',
      '/etc/evil',
      '/tmp/evil',
      '..\\evil',
      'a\\..\\..\\evil',
      'C:/evil',
      'c:evil',
      'C:\\evil',
      'evil\u0000.js',
    ];
    it.each(names)('%j', async (name) => {
      const err = await failure(
        buildZip([
          { name: 'handler.js', data: 'h' },
          { name, data: 'pwned' },
        ]),
      );
      expect(err.code).toBe('AETHER_E_CODE_UNSAFE_PATH');
      expect(err.httpStatus).toBe(400);
      expect(err.details.entry).toBe(name);
      expect(err.message).toContain(JSON.stringify(name));
      await expectNothingWritten();
      expect(existsSync(path.join(root, 'evil'))).toBe(false);
    });

    it('judges the name a Unicode path extra field gives, not the harmless raw name', async () => {
      // raw bytes, so the writer sets no UTF-8 flag and readers honour the extra field
      const raw = new Uint8Array(Buffer.from('safe.js', 'latin1'));
      const err = await failure(buildZip([{ name: raw, data: 'x', extra: unicodePathExtra('safe.js', '../evil') }]));
      expect(err.code).toBe('AETHER_E_CODE_UNSAFE_PATH');
      expect(err.details.entry).toBe('../evil');
      await expectNothingWritten();
    });

    it('keeps a backslash in a CP437 name instead of reading it as a folder separator', async () => {
      const err = await failure(buildZip([{ name: new Uint8Array(Buffer.from('..\\evil', 'latin1')), data: 'x' }]));
      expect(err.code).toBe('AETHER_E_CODE_UNSAFE_PATH');
      await expectNothingWritten();
    });
  });

  describe('refuses symlinks and special files with AETHER_E_CODE_UNSAFE_PATH', () => {
    const kinds: [string, number, string][] = [
      ['a symlink to an absolute path', 0o120777, 'is a symbolic link'],
      ['a fifo', 0o010644, 'special file'],
      ['a character device', 0o020644, 'special file'],
      ['a block device', 0o060644, 'special file'],
      ['a socket', 0o140755, 'special file'],
    ];
    it.each(kinds)('%s', async (_what, unixMode, says) => {
      const err = await failure(
        buildZip([
          { name: 'handler.js', data: 'h' },
          { name: 'link', data: '/etc/passwd', unixMode, method: 'store' },
        ]),
      );
      expect(err.code).toBe('AETHER_E_CODE_UNSAFE_PATH');
      expect(err.details.entry).toBe('link');
      expect(err.message).toContain(says);
      await expectNothingWritten();
    });

    it('a symlink followed by a file written through it', async () => {
      const err = await failure(
        buildZip([
          { name: 'dir', data: '../evil', unixMode: 0o120777, method: 'store' },
          { name: 'dir/payload', data: 'pwned' },
        ]),
      );
      expect(err.code).toBe('AETHER_E_CODE_UNSAFE_PATH');
      await expectNothingWritten();
    });
  });

  it('refuses encrypted entries with AETHER_E_CODE_INVALID_ZIP', async () => {
    const err = await failure(buildZip([{ name: 'secret.js', data: 'x', flags: 0x1 }]));
    expect(err.code).toBe('AETHER_E_CODE_INVALID_ZIP');
    expect(err.message).toContain('encrypted');
    await expectNothingWritten();
  });

  it('refuses compression methods other than stored and deflate', async () => {
    const zip = buildZip([{ name: 'x.js', data: 'x', method: 'store' }]);
    // method field of the local header (offset 8) and of the central header
    const buf = Buffer.from(zip);
    buf.writeUInt16LE(12, 8); // bzip2
    const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    buf.writeUInt16LE(12, cd + 10);
    const err = await failure(new Uint8Array(buf));
    expect(err.code).toBe('AETHER_E_CODE_INVALID_ZIP');
    expect(err.details.compressionMethod).toBe(12);
    await expectNothingWritten();
  });

  describe('refuses duplicate and conflicting names with AETHER_E_CODE_INVALID_ZIP', () => {
    const cases: [string, TestZipEntry[]][] = [
      [
        'the same file twice',
        [
          { name: 'handler.js', data: 'a' },
          { name: 'handler.js', data: 'b' },
        ],
      ],
      [
        'the same file spelled with "./"',
        [
          { name: 'handler.js', data: 'a' },
          { name: './handler.js', data: 'b' },
        ],
      ],
      ['the same folder twice', [{ name: 'd/' }, { name: 'd/' }]],
      ['a file that is also a folder', [{ name: 'x', data: 'a' }, { name: 'x/' }]],
      [
        'a file inside a file',
        [
          { name: 'x', data: 'a' },
          { name: 'x/y', data: 'b' },
        ],
      ],
      [
        'a folder that is later a file',
        [
          { name: 'x/y', data: 'b' },
          { name: 'x', data: 'a' },
        ],
      ],
    ];
    it.each(cases)('%s', async (_what, entries) => {
      const err = await failure(buildZip(entries));
      expect(err.code).toBe('AETHER_E_CODE_INVALID_ZIP');
      await expectNothingWritten();
    });
  });

  describe('limits (AETHER_E_CODE_TOO_LARGE, 413)', () => {
    let bomb: { compressed: Uint8Array; crc32: number };
    beforeAll(async () => {
      bomb = await deflatedZeros(300 * MIB);
    });

    it('the bomb used below is small: 300 MiB of zeros in well under 1 MiB', () => {
      expect(bomb.compressed.byteLength).toBeLessThan(MIB);
    });

    it('refuses more entries than maxEntries before writing anything', async () => {
      const entries = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}.js`, data: 'x' }));
      const err = await failure(buildZip(entries), { maxEntries: 10 });
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.httpStatus).toBe(413);
      expect(err.details).toMatchObject({ entries: 11, limit: 10 });
      await expectNothingWritten();
      expect((await extractZip(buildZip(entries.slice(1)), dest, { maxEntries: 10 })).files).toBe(10);
    });

    it('refuses 10,001 entries by default', async () => {
      const entries = Array.from({ length: 10_001 }, (_, i) => ({ name: `d/${i}`, method: 'store' as const }));
      const err = await failure(buildZip(entries));
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      await expectNothingWritten();
    });

    it('refuses an honest 300 MiB bomb by its declared size before writing anything', async () => {
      const err = await failure(
        buildZip([
          { name: 'handler.js', data: 'h' },
          { name: 'zeros', compressed: bomb.compressed, crc32: bomb.crc32, uncompressedSize: 300 * MIB },
        ]),
      );
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.details.declaredBytes).toBe(300 * MIB);
      await expectNothingWritten();
    });

    it('stops a bomb whose header lies about its size at 200 times its compressed size', async () => {
      const err = await failure(
        buildZip([{ name: 'zeros', compressed: bomb.compressed, crc32: bomb.crc32, uncompressedSize: 1000 }]),
      );
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.message).toContain('200:1');
      const ratioLimit = 200 * bomb.compressed.byteLength;
      // stopped early: far from the 300 MiB the entry holds, and nothing past the ratio limit on disk
      expect(err.details.inflatedBytes).toBeLessThan(ratioLimit + 64 * 1024);
      expect(err.details.inflatedBytes).toBeLessThan(100 * MIB);
      expect(err.details.bytesWritten).toBeLessThanOrEqual(ratioLimit);
      await expectNothingWritten();
    });

    it('stops the lying bomb at the total limit when that comes first, writing no more than it', async () => {
      const err = await failure(
        buildZip([{ name: 'zeros', compressed: bomb.compressed, crc32: bomb.crc32, uncompressedSize: 1000 }]),
        { maxTotalBytes: 2 * MIB },
      );
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.details.limit).toBe(2 * MIB);
      expect(err.details.bytesWritten).toBeLessThanOrEqual(2 * MIB);
      await expectNothingWritten();
    });

    it('enforces the total on the inflated bytes when headers lie, writing no more than the limit', async () => {
      // Incompressible data, so the ratio check stays out of the way.
      const chunk = new Uint8Array(randomBytes(600 * 1024));
      const entries = [
        { name: 'r0.bin', data: chunk },
        { name: 'r1.bin', data: chunk, uncompressedSize: 10 }, // declared total: 600 KiB + 10 bytes
      ];
      const err = await failure(buildZip(entries), { maxTotalBytes: MIB });
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.details.entry).toBe('r1.bin');
      expect(err.details.limit).toBe(MIB);
      expect(err.details.bytesWritten).toBeLessThanOrEqual(MIB);
      await expectNothingWritten();
    });

    it('enforces the per-file limit on the inflated bytes when headers lie', async () => {
      const data = new Uint8Array(randomBytes(300 * 1024));
      const err = await failure(buildZip([{ name: 'big.bin', data, uncompressedSize: 1 }]), {
        maxEntryBytes: 100 * 1024,
      });
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.details).toMatchObject({ entry: 'big.bin', limit: 100 * 1024 });
      expect(err.details.bytesWritten).toBeLessThanOrEqual(100 * 1024);
      await expectNothingWritten();
    });

    it('refuses by declared size a file above the per-file limit', async () => {
      const err = await failure(buildZip([{ name: 'big.bin', data: new Uint8Array(2048) }]), { maxEntryBytes: 1024 });
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      expect(err.details.declaredBytes).toBe(2048);
      await expectNothingWritten();
    });

    it('lets small files compress well and larger files compress up to 200:1', async () => {
      const result = await extractZip(
        buildZip([
          { name: 'small-zeros', data: new Uint8Array(MIB) }, // ~1000:1 but only 1 MiB
          // 2 MiB, about half random: compresses about 2:1
          { name: 'mixed', data: Buffer.concat([randomBytes(MIB), Buffer.alloc(MIB)]) },
        ]),
        dest,
      );
      expect(result).toEqual({ files: 2, bytes: 3 * MIB });
    });

    it('refuses by declared sizes a file above 1 MiB claiming more than 200:1', async () => {
      const err = await failure(buildZip([{ name: 'zeros', data: new Uint8Array(2 * MIB) }]));
      expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
      await expectNothingWritten();
    });

    it('refuses a file that holds fewer bytes than it declares', async () => {
      const err = await failure(buildZip([{ name: 'short', data: 'abc', uncompressedSize: 10 }]));
      expect(err.code).toBe('AETHER_E_CODE_INVALID_ZIP');
      await expectNothingWritten();
    });
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => resolveZipLimits({ maxEntries: 0 })).toThrow(AetherError);
    expect(() => resolveZipLimits({ maxTotalBytes: 1.5 })).toThrow(/maxTotalBytes/);
    expect(resolveZipLimits()).toEqual({
      maxEntries: 10_000,
      maxTotalBytes: 200 * MIB,
      maxEntryBytes: 100 * MIB,
      maxRatio: 200,
      ratioThresholdBytes: MIB,
    });
  });

  it('removes the folder it created when a later entry fails', async () => {
    await writeFile(path.join(root, 'keep'), 'k');
    const err = await failure(
      buildZip([
        { name: 'handler.js', data: 'h' },
        { name: 'lib/a.js', data: 'a' },
        { name: 'big', data: new Uint8Array(randomBytes(4096)), uncompressedSize: 1 },
      ]),
      { maxEntryBytes: 1024 },
    );
    expect(err.code).toBe('AETHER_E_CODE_TOO_LARGE');
    expect(existsSync(dest)).toBe(false);
    expect(await tree(root)).toEqual(['a', 'keep']);
  });
});

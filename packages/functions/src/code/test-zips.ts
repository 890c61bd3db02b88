/**
 * Test support: a small zip writer that builds the zips the code store tests
 * need, honest or hostile (any name bytes, Unix modes of symlinks and devices,
 * encryption flags, sizes and CRCs that lie, duplicate names), without a `zip`
 * binary. Used only by tests.
 */
import { createDeflateRaw, crc32, deflateRawSync } from 'node:zlib';

/** One entry of a test zip. */
export interface TestZipEntry {
  /** The name as stored: a string is written as UTF-8 (with the UTF-8 flag). */
  name: string | Uint8Array;
  /** The file's content. @default empty */
  data?: Uint8Array | string;
  /** @default 'deflate' */
  method?: 'store' | 'deflate';
  /** Compressed bytes to store as they are (the data is then not compressed), e.g. from deflatedZeros. */
  compressed?: Uint8Array;
  /** Header values that lie, or that describe `compressed`. */
  uncompressedSize?: number;
  crc32?: number;
  /** A Unix mode (type and permissions) written to the high 16 bits of the external attributes. */
  unixMode?: number;
  /** The whole external attributes field (wins over unixMode). */
  externalAttributes?: number;
  /** General purpose bit flags to add (0x1 = encrypted). */
  flags?: number;
  /** Extra field bytes, in both headers (see unicodePathExtra). */
  extra?: Uint8Array;
}

const UTF8_FLAG = 0x800;
const MADE_BY_UNIX = (3 << 8) | 20;

/** Builds a zip (no zip64, no data descriptors) from the entries, in order. */
export function buildZip(entries: readonly TestZipEntry[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : Buffer.from(e.name);
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data ?? new Uint8Array());
    const method = e.method === 'store' ? 0 : 8;
    const body = e.compressed !== undefined ? Buffer.from(e.compressed) : method === 8 ? deflateRawSync(data) : data;
    const size = e.uncompressedSize ?? data.byteLength;
    const crc = e.crc32 ?? crc32(data);
    const flags = (typeof e.name === 'string' ? UTF8_FLAG : 0) | (e.flags ?? 0);
    const external = e.externalAttributes ?? (e.unixMode !== undefined ? (e.unixMode << 16) >>> 0 : 0);
    const extra = Buffer.from(e.extra ?? new Uint8Array());

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.byteLength, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.byteLength, 26);
    local.writeUInt16LE(extra.byteLength, 28);
    locals.push(local, name, extra, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(MADE_BY_UNIX, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.byteLength, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.byteLength, 28);
    central.writeUInt16LE(extra.byteLength, 30);
    central.writeUInt16LE(0, 32); // comment length
    central.writeUInt16LE(0, 34); // disk number
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE(external, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name, extra);

    offset += local.byteLength + name.byteLength + extra.byteLength + body.byteLength;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.byteLength, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, eocd]));
}

/** An Info-ZIP Unicode Path extra field (0x7075): readers show `name` instead of the raw name. */
export function unicodePathExtra(rawName: string, name: string): Uint8Array {
  const utf8 = Buffer.from(name, 'utf8');
  const field = Buffer.alloc(4 + 5 + utf8.byteLength);
  field.writeUInt16LE(0x7075, 0);
  field.writeUInt16LE(5 + utf8.byteLength, 2);
  field.writeUInt8(1, 4); // version
  field.writeUInt32LE(crc32(Buffer.from(rawName, 'latin1')), 5);
  utf8.copy(field, 9);
  return new Uint8Array(field);
}

/** `bytes` zero bytes deflated (about 1 KB per MB), with their CRC-32, built without holding them in memory. */
export async function deflatedZeros(bytes: number): Promise<{ compressed: Uint8Array; crc32: number }> {
  const chunk = Buffer.alloc(1024 * 1024);
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (b: Buffer) => out.push(b));
  const done = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  let crc = 0;
  for (let left = bytes; left > 0; left -= chunk.byteLength) {
    const piece = left >= chunk.byteLength ? chunk : chunk.subarray(0, left);
    crc = crc32(piece, crc);
    if (!deflate.write(piece)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return { compressed: new Uint8Array(Buffer.concat(out)), crc32: crc };
}

/** The files of a minimal node function: handler.js, a dependency and package.json. */
export function sampleFunctionZip(prefix = ''): Uint8Array {
  return buildZip([
    { name: `${prefix}handler.js`, data: 'export default async () => new Response("hi");\n' },
    { name: `${prefix}node_modules/`, unixMode: 0o040755 },
    { name: `${prefix}node_modules/x/`, unixMode: 0o040755 },
    { name: `${prefix}node_modules/x/index.js`, data: 'module.exports = 42;\n', method: 'store' },
    { name: `${prefix}package.json`, data: '{"name":"fn","type":"module"}\n', unixMode: 0o100644 },
  ]);
}

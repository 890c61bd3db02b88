/**
 * The WebAssembly binary format's primitives, shared by the files that read or
 * rewrite modules (module-inspect, grow-instrument, memory-import): a bounded
 * reader of LEB128 integers, names, value types and limits, a growable writer,
 * and the walk over the sections that checks the header and the section order.
 * None of it validates a module: that is WebAssembly.validate's job.
 */

/** Truncated or malformed input; its readers turn it into AETHER_E_WASM_INVALID_MODULE. */
export class MalformedModule extends Error {}

/** Bytes of the magic number and version that open every module. */
export const HEADER_BYTES = 8;

/** Id of custom sections (names, debug info), which may appear anywhere. */
export const SECTION_CUSTOM = 0;
export const SECTION_TYPE = 1;
export const SECTION_IMPORT = 2;
export const SECTION_FUNCTION = 3;
export const SECTION_MEMORY = 5;
export const SECTION_GLOBAL = 6;
export const SECTION_EXPORT = 7;
export const SECTION_START = 8;
export const SECTION_CODE = 10;

/** Position of each known section id (index) in the order the binary format demands (tag 13 after memory). */
const SECTION_RANK = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

/** Where section `id` must come in a module; custom sections rank 0 (anywhere). */
export function sectionRank(id: number): number {
  return SECTION_RANK[id] ?? 0;
}

/** The limits of a memory or table: flags byte, initial size and optional maximum. */
export interface Limits {
  /** bit 0: has a maximum, 1: shared, 2: 64-bit, 3: custom page size. */
  flags: number;
  initial: number;
  max?: number;
}

/** A cursor over module bytes that decodes the binary format's primitives; reads past `end` are malformed. */
export class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new MalformedModule(`unexpected end of data at offset ${this.pos}`);
    return this.bytes[this.pos++] as number;
  }

  /** Unsigned LEB128 of at most 32 bits. */
  u32(): number {
    const first = this.byte();
    if (first < 0x80) return first;
    let result = first & 0x7f;
    for (let shift = 7; shift < 35; shift += 7) {
      const b = this.byte();
      // multiplication instead of << keeps values above 2^31 positive
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffff_ffff) break;
        return result;
      }
    }
    throw new MalformedModule(`malformed LEB128 integer before offset ${this.pos}`);
  }

  /** Unsigned LEB128 of at most 64 bits (memory64 limits), as a possibly inexact number. */
  u64(): number {
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new MalformedModule(`malformed LEB128 integer before offset ${this.pos}`);
  }

  /** Skips a LEB128 integer of at most `maxBytes` bytes (5 for 32 bits, 10 for 64). */
  leb(maxBytes: number): void {
    for (let i = 0; i < maxBytes; i++) if ((this.byte() & 0x80) === 0) return;
    throw new MalformedModule(`malformed LEB128 integer before offset ${this.pos}`);
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw new MalformedModule(`unexpected end of data at offset ${this.pos}`);
    this.pos += n;
  }

  /** A UTF-8 name: its length, then its bytes. */
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, len).toString('utf8');
  }

  /** A value type: one byte, or `ref`/`ref null` (0x64/0x63) followed by an s33 heap type. */
  valueType(): void {
    const t = this.byte();
    if (t === 0x63 || t === 0x64) this.leb(5);
  }

  limits(): Limits {
    const flags = this.byte();
    // 64-bit (memory64/table64) limits are encoded as u64
    const read = (flags & 0x04) !== 0 ? () => this.u64() : () => this.u32();
    const initial = read();
    const limits: Limits = (flags & 0x01) !== 0 ? { flags, initial, max: read() } : { flags, initial };
    if ((flags & 0x08) !== 0) this.u32(); // log2 of the custom page size
    return limits;
  }
}

/** Where a section lies in the module bytes. */
export interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the first entry of a vector section (after its count); the content start otherwise. */
  entries: number;
  /** Offset after the section. */
  end: number;
  /** Entries of a vector section; 0 for custom sections and the start section (an index, not a vector). */
  count: number;
}

/**
 * Checks the header and yields the sections in module order, custom ones
 * too, checking that known sections come in the order the format demands.
 * Throws MalformedModule. A generator, so that a reader may stop early.
 */
export function* sections(bytes: Uint8Array): Generator<Section, void, undefined> {
  if (bytes.byteLength < HEADER_BYTES) throw new MalformedModule('truncated header');
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new MalformedModule('bad magic number');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new MalformedModule('unsupported version');
  }
  const r = new Reader(bytes, HEADER_BYTES, bytes.byteLength);
  let lastRank = 0;
  while (!r.done) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.byteLength)
      throw new MalformedModule(`section ${id} at offset ${start} runs past the end of the module`);
    const rank = SECTION_RANK[id];
    if (rank === undefined) throw new MalformedModule(`unknown section id ${id} at offset ${start}`);
    if (id !== SECTION_CUSTOM) {
      if (rank <= lastRank) throw new MalformedModule(`section ${id} at offset ${start} is out of order or repeated`);
      lastRank = rank;
    }
    const s = new Reader(bytes, r.pos, end);
    const count = id === SECTION_CUSTOM || id === SECTION_START ? 0 : s.u32();
    yield { id, start, entries: s.pos, end, count };
    r.pos = end;
  }
}

/** A growable output buffer. */
export class Writer {
  private buf: Uint8Array<ArrayBuffer>;
  private len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned LEB128 of `value` (at most 32 bits). */
  u32(value: number): void {
    this.reserve(5);
    let v = value;
    do {
      const b = v & 0x7f;
      v = Math.floor(v / 128);
      this.buf[this.len++] = v === 0 ? b : b | 0x80;
    } while (v !== 0);
  }

  bytes(src: Uint8Array | readonly number[]): void {
    this.reserve(src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
  }

  /** `[id][size][content]` */
  section(id: number, content: Uint8Array): void {
    this.byte(id);
    this.u32(content.length);
    this.bytes(content);
  }

  /** The bytes written so far (a view: later writes may change or move it). */
  view(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.len);
  }
}

/** Unsigned LEB128 encoding of `value` (at most 32 bits). */
export function encodeU32(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    out.push(v === 0 ? b : b | 0x80);
  } while (v !== 0);
  return out;
}

/**
 * Makes a module tell the host when a `memory.grow` was refused. Aether caps a
 * module's memory (`importMemory`); a C program at the cap sees malloc return
 * NULL and then traps or exits non-zero, which looks like any other failure.
 * The JS API has no hook on memory.grow, so this file rewrites the binary:
 * every `memory.grow` becomes a call to an added function that grows the
 * memory and, on -1, sets an added exported global. After a failed run the
 * host reads that global and reports AETHER_E_WASM_MEMORY_LIMIT only when
 * growth was really refused. Finding memory.grow needs an instruction decoder
 * (0x40 is also the empty block type), so the one below covers every opcode
 * clang and the shipped proposals emit, and gives up on the rest.
 */
import { aetherError } from '@aether/core';

/** Name of the exported mutable i32 global that becomes 1 once a `memory.grow` returned -1. */
export const GROW_FAILED_EXPORT = '__aether_grow_failed';

/**
 * The result of {@link instrumentMemoryGrow}. When `instrumented` is false,
 * `bytes` is the input itself and `reason` says what the decoder did not know.
 */
export type InstrumentResult =
  | { bytes: Uint8Array; instrumented: true; growSites: number }
  | { bytes: Uint8Array; instrumented: false; reason: string };

/** Truncated or malformed input: becomes AETHER_E_WASM_INVALID_MODULE. */
class Malformed extends Error {}
/** Something the decoder does not know: becomes `instrumented: false`. */
class Unsupported extends Error {}

const SECTION_CUSTOM = 0;
const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_FUNCTION = 3;
const SECTION_MEMORY = 5;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const SECTION_CODE = 10;
/** Position of each known section id (index) in the order the binary format demands (tag 13 after memory). */
const SECTION_RANK = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

const I32 = 0x7f;
const FUNC_TYPE_I32_I32 = [0x60, 0x01, I32, 0x01, I32];
const GLOBAL_MUT_I32_ZERO = [I32, 0x01, 0x41, 0x00, 0x0b];
const EXPORT_NAME = new TextEncoder().encode(GROW_FAILED_EXPORT);

/** A cursor over the module bytes; reads past `end` are malformed input. */
class Reader {
  constructor(
    readonly b: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  byte(): number {
    if (this.pos >= this.end) throw new Malformed(`unexpected end of data at offset ${this.pos}`);
    return this.b[this.pos++] as number;
  }

  u32(): number {
    const first = this.byte();
    if (first < 0x80) return first;
    let result = first & 0x7f;
    for (let shift = 7; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffff_ffff) break;
        return result;
      }
    }
    throw new Malformed(`malformed LEB128 integer before offset ${this.pos}`);
  }

  /** Skips a LEB128 integer of at most `maxBytes` bytes (5 for 32 bits, 10 for 64). */
  leb(maxBytes: number): void {
    for (let i = 0; i < maxBytes; i++) if ((this.byte() & 0x80) === 0) return;
    throw new Malformed(`malformed LEB128 integer before offset ${this.pos}`);
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw new Malformed(`unexpected end of data at offset ${this.pos}`);
    this.pos += n;
  }

  /** A value type: one byte, or `ref`/`ref null` (0x64/0x63) followed by an s33 heap type. */
  valType(): void {
    const t = this.byte();
    if (t === 0x63 || t === 0x64) this.leb(5);
  }

  /** Limits; returns the flags byte (bit 0: has max, 1: shared, 2: 64-bit, 3: custom page size). */
  limits(): number {
    const flags = this.byte();
    if (flags > 0x0f) throw new Unsupported(`unknown limits flags 0x${hex(flags)} at offset ${this.pos - 1}`);
    this.leb(10);
    if ((flags & 0x01) !== 0) this.leb(10);
    if ((flags & 0x08) !== 0) this.u32();
    return flags;
  }

  blockType(): void {
    const t = this.b[this.pos];
    if (t === 0x40) this.pos++;
    else if (t === 0x63 || t === 0x64) this.valType();
    else this.leb(5); // a one-byte value type, or an s33 type index
  }

  memarg(): void {
    if ((this.u32() & 0x40) !== 0) this.u32(); // multi-memory: a memory index follows the alignment
    this.leb(10); // offset: u64 for memory64
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function unknownOpcode(at: number, op: number, sub?: number): Unsupported {
  const name = sub === undefined ? `0x${hex(op)}` : `0x${hex(op)} 0x${hex(sub)}`;
  return new Unsupported(`unknown opcode ${name} at offset ${at}`);
}

/**
 * Decodes one instruction; for a `memory.grow` it pushes the byte range of
 * the whole instruction onto `sites`.
 */
function instruction(r: Reader, sites: number[]): void {
  const at = r.pos;
  const op = r.byte();
  if (op >= 0x45 && op <= 0xc4) return; // numeric, including sign extension: no immediates
  if (op >= 0x20 && op <= 0x26) return void r.u32(); // local.*, global.*, table.get/set
  if (op >= 0x28 && op <= 0x3e) return r.memarg(); // loads and stores
  switch (op) {
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x05: // else
    case 0x0b: // end
    case 0x0f: // return
    case 0x19: // catch_all
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
      return;
    case 0x02: // block
    case 0x03: // loop
    case 0x04: // if
    case 0x06: // try
      return r.blockType();
    case 0x07: // catch
    case 0x08: // throw
    case 0x09: // rethrow
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x18: // delegate
    case 0x3f: // memory.size
    case 0xd2: // ref.func
      return void r.u32();
    case 0x0e: // br_table: n labels and the default
      for (let n = r.u32(); n >= 0; n--) r.u32();
      return;
    case 0x11: // call_indirect
    case 0x13: // return_call_indirect
      r.u32();
      return void r.u32();
    case 0x1c: // select t*
      for (let n = r.u32(); n > 0; n--) r.valType();
      return;
    case 0x40: // memory.grow
      if (r.u32() !== 0) throw new Unsupported('multi-memory');
      sites.push(at, r.pos);
      return;
    case 0x41: // i32.const
      return r.leb(5);
    case 0x42: // i64.const
      return r.leb(10);
    case 0x43: // f32.const
      return r.skip(4);
    case 0x44: // f64.const
      return r.skip(8);
    case 0xd0: // ref.null heaptype
      return r.leb(5);
    case 0xfc:
      return miscInstruction(r, at);
    case 0xfd:
      return simdInstruction(r, at);
    case 0xfe:
      return atomicInstruction(r, at);
    default:
      throw unknownOpcode(at, op);
  }
}

/** 0xFC: saturating truncation, bulk memory, reference-type table instructions. */
function miscInstruction(r: Reader, at: number): void {
  const sub = r.u32();
  if (sub <= 7) return; // trunc_sat
  switch (sub) {
    case 8: // memory.init data mem
    case 10: // memory.copy mem mem
    case 12: // table.init elem table
    case 14: // table.copy table table
      r.u32();
      return void r.u32();
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      return void r.u32();
    default:
      throw unknownOpcode(at, 0xfc, sub);
  }
}

/** 0xFD: fixed-width and relaxed SIMD. */
function simdInstruction(r: Reader, at: number): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) return r.memarg(); // loads, stores, load_zero
  if (sub === 12 || sub === 13) return r.skip(16); // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) return r.skip(1); // extract/replace lane
  if (sub >= 84 && sub <= 91) {
    r.memarg(); // load/store lane
    return r.skip(1);
  }
  if (sub <= 0x113) return; // everything else up to the relaxed SIMD opcodes has no immediates
  throw unknownOpcode(at, 0xfd, sub);
}

/** 0xFE: threads (atomics). */
function atomicInstruction(r: Reader, at: number): void {
  const sub = r.u32();
  if (sub === 0x03) return void r.byte(); // atomic.fence 0x00
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) return r.memarg();
  throw unknownOpcode(at, 0xfe, sub);
}

/** A growable output buffer. */
class Writer {
  buf: Uint8Array;
  len = 0;

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

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function leb(value: number): number[] {
  const w = new Writer(5);
  w.u32(value);
  return [...w.view()];
}

interface Section {
  id: number;
  /** Offset of the id byte. */
  start: number;
  /** Offset after the element count of a vector section (where its entries start). */
  entries: number;
  end: number;
  count: number;
}

/** One function body: where its size field starts, its bytes, and its memory.grow sites (indices into `sites`). */
interface Body {
  entry: number;
  start: number;
  end: number;
  firstSite: number;
  lastSite: number;
}

interface Parsed {
  sections: Section[];
  byId: Map<number, Section>;
  importedFunctions: number;
  importedGlobals: number;
  /** Limits flags of memory 0, when the module has a memory. */
  memoryFlags?: number;
  /** Index of an existing `(i32) -> (i32)` function type. */
  i32ToI32?: number;
  bodies: Body[];
  /** Start and end offsets of each memory.grow, flattened. */
  sites: number[];
}

function readSections(bytes: Uint8Array): Section[] {
  if (bytes.byteLength < 8) throw new Malformed('truncated header');
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Malformed('bad magic number');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new Malformed('unsupported version');
  const sections: Section[] = [];
  const r = new Reader(bytes, 8, bytes.byteLength);
  let lastRank = 0;
  while (r.pos < bytes.byteLength) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.byteLength) throw new Malformed(`section ${id} at offset ${start} runs past the end of the module`);
    const rank = SECTION_RANK[id];
    if (rank === undefined) throw new Malformed(`unknown section id ${id} at offset ${start}`);
    if (id !== SECTION_CUSTOM) {
      if (rank <= lastRank) throw new Malformed(`section ${id} at offset ${start} is out of order or repeated`);
      lastRank = rank;
    }
    const s = new Reader(bytes, r.pos, end);
    const count = id === SECTION_CUSTOM || id === 8 ? 0 : s.u32(); // start (8) holds an index, not a vector
    sections.push({ id, start, entries: s.pos, end, count });
    r.pos = end;
  }
  return sections;
}

function parse(bytes: Uint8Array): Parsed {
  const sections = readSections(bytes);
  const byId = new Map(sections.filter((s) => s.id !== SECTION_CUSTOM).map((s) => [s.id, s]));
  const p: Parsed = { sections, byId, importedFunctions: 0, importedGlobals: 0, bodies: [], sites: [] };
  const at = (s: Section): Reader => new Reader(bytes, s.entries, s.end);

  const types = byId.get(SECTION_TYPE);
  if (types !== undefined) {
    const r = at(types);
    for (let i = 0; i < types.count; i++) {
      const start = r.pos;
      const form = r.byte();
      if (form !== 0x60) throw new Unsupported(`unknown type form 0x${hex(form)} at offset ${start}`);
      for (let n = r.u32(); n > 0; n--) r.valType();
      for (let n = r.u32(); n > 0; n--) r.valType();
      const t = bytes.subarray(start, r.pos);
      if (p.i32ToI32 === undefined && t.length === 5 && FUNC_TYPE_I32_I32.every((b, k) => t[k] === b)) {
        p.i32ToI32 = i;
      }
    }
  }

  const imports = byId.get(SECTION_IMPORT);
  if (imports !== undefined) {
    const r = at(imports);
    for (let i = 0; i < imports.count; i++) {
      r.skip(r.u32()); // module name
      r.skip(r.u32()); // field name
      const kind = r.byte();
      if (kind === 0x00) {
        r.u32();
        p.importedFunctions++;
      } else if (kind === 0x01) {
        r.valType();
        r.limits();
      } else if (kind === 0x02) {
        const flags = r.limits();
        p.memoryFlags ??= flags;
      } else if (kind === 0x03) {
        r.valType();
        r.byte();
        p.importedGlobals++;
      } else if (kind === 0x04) {
        r.byte();
        r.u32();
      } else {
        throw new Unsupported(`unknown import kind 0x${hex(kind)} at offset ${r.pos - 1}`);
      }
    }
  }

  const memories = byId.get(SECTION_MEMORY);
  if (memories !== undefined && memories.count > 0) p.memoryFlags ??= at(memories).limits();

  const exports = byId.get(SECTION_EXPORT);
  if (exports !== undefined) {
    const r = at(exports);
    for (let i = 0; i < exports.count; i++) {
      const len = r.u32();
      const name = bytes.subarray(r.pos, r.pos + len);
      r.skip(len);
      r.byte();
      r.u32();
      if (len === EXPORT_NAME.length && EXPORT_NAME.every((b, k) => name[k] === b)) {
        throw new Unsupported(`the module already exports ${GROW_FAILED_EXPORT}`);
      }
    }
  }

  const code = byId.get(SECTION_CODE);
  const declared = byId.get(SECTION_FUNCTION)?.count ?? 0;
  if ((code?.count ?? 0) !== declared) {
    throw new Malformed(
      `the function section declares ${declared} functions, the code section has ${code?.count ?? 0}`,
    );
  }
  if (code !== undefined) {
    const r = at(code);
    for (let i = 0; i < code.count; i++) {
      const entry = r.pos;
      const size = r.u32();
      const start = r.pos;
      const end = start + size;
      if (end > code.end) throw new Malformed(`function body ${i} at offset ${entry} runs past the code section`);
      const firstSite = p.sites.length;
      r.end = end;
      for (let n = r.u32(); n > 0; n--) {
        r.u32();
        r.valType();
      }
      let last = r.pos;
      while (r.pos < end) {
        last = r.pos;
        instruction(r, p.sites);
      }
      if (bytes[last] !== 0x0b) throw new Malformed(`function body ${i} at offset ${entry} does not end with end`);
      r.end = code.end;
      p.bodies.push({ entry, start, end, firstSite, lastSite: p.sites.length });
    }
    if (r.pos !== code.end) throw new Malformed(`trailing bytes in the code section at offset ${r.pos}`);
  }
  return p;
}

/** The added function: grows memory 0 like memory.grow and sets the flag global when that returns -1. */
function hookBody(flagGlobal: number): number[] {
  // prettier-ignore
  const body = [
    0x01, 0x01, I32, // locals: 1 x i32
    0x20, 0x00, 0x40, 0x00, 0x22, 0x01, // local.get 0; memory.grow 0; local.tee 1
    0x41, 0x7f, 0x46, 0x04, 0x40, // i32.const -1; i32.eq; if
    0x41, 0x01, 0x24, ...leb(flagGlobal), 0x0b, // i32.const 1; global.set $flag; end
    0x20, 0x01, 0x0b, // local.get 1; end
  ];
  return [...leb(body.length), ...body];
}

/** The code section with every memory.grow replaced by `call hookIndex`, plus `extra` bodies. */
function rewriteCode(bytes: Uint8Array, p: Parsed, hookIndex: number, extra: number[][]): Uint8Array {
  const code = p.byId.get(SECTION_CODE);
  const call = [0x10, ...leb(hookIndex)];
  const w = new Writer((code === undefined ? 0 : code.end - code.start) + p.sites.length * 4 + 64);
  w.u32(p.bodies.length + extra.length);
  for (const body of p.bodies) {
    if (body.firstSite === body.lastSite) {
      w.bytes(bytes.subarray(body.entry, body.end));
      continue;
    }
    let size = body.end - body.start;
    for (let s = body.firstSite; s < body.lastSite; s += 2) {
      size += call.length - ((p.sites[s + 1] as number) - (p.sites[s] as number));
    }
    w.u32(size);
    let from = body.start;
    for (let s = body.firstSite; s < body.lastSite; s += 2) {
      w.bytes(bytes.subarray(from, p.sites[s]));
      w.bytes(call);
      from = p.sites[s + 1] as number;
    }
    w.bytes(bytes.subarray(from, body.end));
  }
  for (const body of extra) w.bytes(body);
  return w.view();
}

function instrument(bytes: Uint8Array): InstrumentResult {
  const p = parse(bytes);
  const growSites = p.sites.length / 2;
  if (growSites > 0 && p.memoryFlags === undefined) throw new Malformed('memory.grow in a module without a memory');
  if (growSites > 0 && ((p.memoryFlags ?? 0) & 0x04) !== 0) {
    throw new Unsupported('memory64: memory.grow takes and returns i64');
  }
  const hook = growSites > 0;
  const flagGlobal = p.importedGlobals + (p.byId.get(SECTION_GLOBAL)?.count ?? 0);
  const hookIndex = p.importedFunctions + (p.byId.get(SECTION_FUNCTION)?.count ?? 0);
  const typeCount = p.byId.get(SECTION_TYPE)?.count ?? 0;
  const hookType = p.i32ToI32 ?? typeCount;

  // entries to append to each section's vector; a missing section is created with them
  const appended = new Map<number, number[][]>();
  appended.set(SECTION_GLOBAL, [GLOBAL_MUT_I32_ZERO]);
  appended.set(SECTION_EXPORT, [[...leb(EXPORT_NAME.length), ...EXPORT_NAME, 0x03, ...leb(flagGlobal)]]);
  if (hook) {
    if (p.i32ToI32 === undefined) appended.set(SECTION_TYPE, [FUNC_TYPE_I32_I32]);
    appended.set(SECTION_FUNCTION, [leb(hookType)]);
  }

  const out = new Writer(bytes.byteLength + 128 + growSites * 4);
  out.bytes(bytes.subarray(0, 8));
  const emit = (id: number, content: Uint8Array): void => {
    out.byte(id);
    out.u32(content.length);
    out.bytes(content);
  };
  const vector = (count: number, existing: Uint8Array, extra: number[][]): Uint8Array => {
    const w = new Writer(existing.length + 16 * extra.length + 5);
    w.u32(count + extra.length);
    w.bytes(existing);
    for (const e of extra) w.bytes(e);
    return w.view();
  };
  // created sections go before the first existing section that must follow them
  const created = [...appended.keys()].filter((id) => !p.byId.has(id)).sort((a, b) => rank(a) - rank(b));
  const flushCreated = (beforeRank: number): void => {
    while (created.length > 0 && rank(created[0] as number) < beforeRank) {
      const id = created.shift() as number;
      emit(id, vector(0, new Uint8Array(0), appended.get(id) ?? []));
    }
  };
  for (const s of p.sections) {
    if (s.id !== SECTION_CUSTOM) flushCreated(rank(s.id));
    const extra = appended.get(s.id); // never for custom sections (id 0)
    if (s.id === SECTION_CODE && hook) emit(s.id, rewriteCode(bytes, p, hookIndex, [hookBody(flagGlobal)]));
    else if (extra !== undefined) emit(s.id, vector(s.count, bytes.subarray(s.entries, s.end), extra));
    else out.bytes(bytes.subarray(s.start, s.end));
  }
  flushCreated(Infinity);
  return { bytes: out.view().slice(), instrumented: true, growSites };
}

function rank(id: number): number {
  return SECTION_RANK[id] ?? 0;
}

/**
 * Rewrites a WebAssembly module so that a refused `memory.grow` is visible to
 * the host: it adds a mutable i32 global, initially 0 and exported as
 * {@link GROW_FAILED_EXPORT}, and, when the module has at least one
 * `memory.grow`, a function (appended, so no index shifts) that performs
 * `memory.grow` on memory 0 and sets the global to 1 when it returns -1; every
 * `memory.grow` in every body becomes a call to it. A module without a
 * memory or without memory.grow gets the global and its export only
 * (`growSites: 0`), so callers read the flag the same way for every module.
 * Custom sections stay in place (DWARF code offsets go stale; `name` stays right).
 *
 * Returns `instrumented: false` with the input bytes and a reason when the
 * module uses something the decoder does not know (GC, typed function
 * references, `try_table`, multi-memory memory.grow, memory64 growth,
 * non-function type definitions) or already exports the flag. Throws
 * `AETHER_E_WASM_INVALID_MODULE` for truncated or malformed input. It is not a
 * validator: run `WebAssembly.validate` (or `inspectModule`) as usual.
 *
 * @example
 * const r = instrumentMemoryGrow(bytes);
 * const capped = importMemory(r.bytes, limitPages);
 * // after a trap or non-zero exit:
 * const refused = r.instrumented && (instance.exports[GROW_FAILED_EXPORT] as WebAssembly.Global).value === 1;
 */
export function instrumentMemoryGrow(bytes: Uint8Array): InstrumentResult {
  try {
    return instrument(bytes);
  } catch (e) {
    if (e instanceof Unsupported) return { bytes, instrumented: false, reason: e.message };
    if (e instanceof Malformed) {
      throw aetherError(
        'AETHER_E_WASM_INVALID_MODULE',
        `invalid WebAssembly module: ${e.message}`,
        { sizeBytes: bytes.byteLength },
        e,
      );
    }
    throw e;
  }
}

/**
 * Makes a module tell the host when a `memory.grow` was refused. Aether caps a
 * module's memory (`importMemory`); a C program at the cap sees malloc return
 * NULL and then traps or exits non-zero, which looks like any other failure.
 * The JS API has no hook on memory.grow, so this file rewrites the binary:
 * every `memory.grow` becomes a call to an added function that grows the
 * memory and, on -1, sets an added exported global. After a failed run the
 * host reads that global and reports AETHER_E_WASM_MEMORY_LIMIT only when
 * growth was really refused. Finding memory.grow needs the instruction decoder
 * of wasm-instructions.ts; a module it cannot decode is left as it is.
 */
import { aetherError } from '@aether/core';

import {
  MalformedModule,
  Reader,
  SECTION_CODE,
  SECTION_CUSTOM,
  SECTION_EXPORT,
  SECTION_FUNCTION,
  SECTION_GLOBAL,
  SECTION_IMPORT,
  SECTION_MEMORY,
  SECTION_TYPE,
  Writer,
  encodeU32,
  sectionRank,
  sections,
  type Section,
} from './wasm-binary.js';
import { OP_MEMORY_GROW, Unsupported, hex, skipInstruction } from './wasm-instructions.js';

/** Name of the exported mutable i32 global that becomes 1 once a `memory.grow` returned -1. */
export const GROW_FAILED_EXPORT = '__aether_grow_failed';

/**
 * The result of {@link instrumentMemoryGrow}. When `instrumented` is false,
 * `bytes` is the input itself and `reason` says what the decoder did not know.
 */
export type InstrumentResult =
  | { bytes: Uint8Array; instrumented: true; growSites: number }
  | { bytes: Uint8Array; instrumented: false; reason: string };

const I32 = 0x7f;
const FUNC_TYPE_I32_I32 = [0x60, 0x01, I32, 0x01, I32];
const GLOBAL_MUT_I32_ZERO = [I32, 0x01, 0x41, 0x00, 0x0b];
const EXPORT_NAME = new TextEncoder().encode(GROW_FAILED_EXPORT);

/** Limits; returns the flags byte. Flags this decoder does not know are Unsupported, not malformed. */
function limitsFlags(r: Reader): number {
  const flags = r.done ? 0 : (r.bytes[r.pos] as number);
  if (flags > 0x0f) throw new Unsupported(`unknown limits flags 0x${hex(flags)} at offset ${r.pos}`);
  return r.limits().flags;
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

function parse(bytes: Uint8Array): Parsed {
  const all = [...sections(bytes)];
  const byId = new Map(all.filter((s) => s.id !== SECTION_CUSTOM).map((s) => [s.id, s]));
  const p: Parsed = { sections: all, byId, importedFunctions: 0, importedGlobals: 0, bodies: [], sites: [] };
  const at = (s: Section): Reader => new Reader(bytes, s.entries, s.end);

  const types = byId.get(SECTION_TYPE);
  if (types !== undefined) {
    const r = at(types);
    for (let i = 0; i < types.count; i++) {
      const start = r.pos;
      const form = r.byte();
      if (form !== 0x60) throw new Unsupported(`unknown type form 0x${hex(form)} at offset ${start}`);
      for (let n = r.u32(); n > 0; n--) r.valueType();
      for (let n = r.u32(); n > 0; n--) r.valueType();
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
        r.valueType();
        limitsFlags(r);
      } else if (kind === 0x02) {
        const flags = limitsFlags(r);
        p.memoryFlags ??= flags;
      } else if (kind === 0x03) {
        r.valueType();
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
  if (memories !== undefined && memories.count > 0) p.memoryFlags ??= limitsFlags(at(memories));

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
    throw new MalformedModule(
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
      if (end > code.end) throw new MalformedModule(`function body ${i} at offset ${entry} runs past the code section`);
      const firstSite = p.sites.length;
      r.end = end;
      for (let n = r.u32(); n > 0; n--) {
        r.u32();
        r.valueType();
      }
      let last = r.pos;
      while (r.pos < end) {
        last = r.pos;
        if (bytes[r.pos] !== OP_MEMORY_GROW) {
          skipInstruction(r);
          continue;
        }
        r.pos++;
        if (r.u32() !== 0) throw new Unsupported('multi-memory');
        p.sites.push(last, r.pos);
      }
      if (bytes[last] !== 0x0b)
        throw new MalformedModule(`function body ${i} at offset ${entry} does not end with end`);
      r.end = code.end;
      p.bodies.push({ entry, start, end, firstSite, lastSite: p.sites.length });
    }
    if (r.pos !== code.end) throw new MalformedModule(`trailing bytes in the code section at offset ${r.pos}`);
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
    0x41, 0x01, 0x24, ...encodeU32(flagGlobal), 0x0b, // i32.const 1; global.set $flag; end
    0x20, 0x01, 0x0b, // local.get 1; end
  ];
  return [...encodeU32(body.length), ...body];
}

/** The code section with every memory.grow replaced by `call hookIndex`, plus `extra` bodies. */
function rewriteCode(bytes: Uint8Array, p: Parsed, hookIndex: number, extra: number[][]): Uint8Array {
  const code = p.byId.get(SECTION_CODE);
  const call = [0x10, ...encodeU32(hookIndex)];
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
  if (growSites > 0 && p.memoryFlags === undefined)
    throw new MalformedModule('memory.grow in a module without a memory');
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
  appended.set(SECTION_EXPORT, [[...encodeU32(EXPORT_NAME.length), ...EXPORT_NAME, 0x03, ...encodeU32(flagGlobal)]]);
  if (hook) {
    if (p.i32ToI32 === undefined) appended.set(SECTION_TYPE, [FUNC_TYPE_I32_I32]);
    appended.set(SECTION_FUNCTION, [encodeU32(hookType)]);
  }

  const out = new Writer(bytes.byteLength + 128 + growSites * 4);
  out.bytes(bytes.subarray(0, 8));
  const vector = (count: number, existing: Uint8Array, extra: number[][]): Uint8Array => {
    const w = new Writer(existing.length + 16 * extra.length + 5);
    w.u32(count + extra.length);
    w.bytes(existing);
    for (const e of extra) w.bytes(e);
    return w.view();
  };
  // created sections go before the first existing section that must follow them
  const created = [...appended.keys()].filter((id) => !p.byId.has(id)).sort((a, b) => sectionRank(a) - sectionRank(b));
  const flushCreated = (beforeRank: number): void => {
    while (created.length > 0 && sectionRank(created[0] as number) < beforeRank) {
      const id = created.shift() as number;
      out.section(id, vector(0, new Uint8Array(0), appended.get(id) ?? []));
    }
  };
  for (const s of p.sections) {
    if (s.id !== SECTION_CUSTOM) flushCreated(sectionRank(s.id));
    const extra = appended.get(s.id); // never for custom sections (id 0)
    if (s.id === SECTION_CODE && hook) out.section(s.id, rewriteCode(bytes, p, hookIndex, [hookBody(flagGlobal)]));
    else if (extra !== undefined) out.section(s.id, vector(s.count, bytes.subarray(s.entries, s.end), extra));
    else out.bytes(bytes.subarray(s.start, s.end));
  }
  flushCreated(Infinity);
  return { bytes: out.view().slice(), instrumented: true, growSites };
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
    if (e instanceof MalformedModule) {
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

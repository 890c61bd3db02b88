/**
 * A decoder of WebAssembly instructions that knows only how long each one is:
 * enough to walk a function body and find the instructions of one opcode,
 * which grow-instrument.ts needs (memory.grow's 0x40 is also the empty block
 * type, so a byte scan would not do). It covers every opcode clang and the
 * shipped proposals emit (MVP, sign extension, bulk memory, reference types,
 * SIMD and relaxed SIMD, threads, exceptions, tail calls) and throws
 * Unsupported for the rest (GC, typed function references, `try_table`).
 */
import type { Reader } from './wasm-binary.js';

/** Something the decoder does not know. */
export class Unsupported extends Error {}

/** Opcode of `memory.grow`; its immediate is the memory index. */
export const OP_MEMORY_GROW = 0x40;

/** A block type: empty (0x40), a value type, or an s33 type index. */
function blockType(r: Reader): void {
  const t = r.bytes[r.pos];
  if (t === 0x40) r.pos++;
  else if (t === 0x63 || t === 0x64) r.valueType();
  else r.leb(5); // a one-byte value type, or an s33 type index
}

function memarg(r: Reader): void {
  if ((r.u32() & 0x40) !== 0) r.u32(); // multi-memory: a memory index follows the alignment
  r.leb(10); // offset: u64 for memory64
}

/** A byte in two hex digits, for messages. */
export function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function unknownOpcode(at: number, op: number, sub?: number): Unsupported {
  const name = sub === undefined ? `0x${hex(op)}` : `0x${hex(op)} 0x${hex(sub)}`;
  return new Unsupported(`unknown opcode ${name} at offset ${at}`);
}

/** Reads one instruction with its immediates, leaving `r` at the next one. */
export function skipInstruction(r: Reader): void {
  const at = r.pos;
  const op = r.byte();
  if (op >= 0x45 && op <= 0xc4) return; // numeric, including sign extension: no immediates
  if (op >= 0x20 && op <= 0x26) return void r.u32(); // local.*, global.*, table.get/set
  if (op >= 0x28 && op <= 0x3e) return memarg(r); // loads and stores
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
      return blockType(r);
    case 0x07: // catch
    case 0x08: // throw
    case 0x09: // rethrow
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x18: // delegate
    case 0x3f: // memory.size
    case OP_MEMORY_GROW: // memory.grow
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
      for (let n = r.u32(); n > 0; n--) r.valueType();
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
  if (sub <= 11 || sub === 92 || sub === 93) return memarg(r); // loads, stores, load_zero
  if (sub === 12 || sub === 13) return r.skip(16); // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) return r.skip(1); // extract/replace lane
  if (sub >= 84 && sub <= 91) {
    memarg(r); // load/store lane
    return r.skip(1);
  }
  if (sub <= 0x113) return; // everything else up to the relaxed SIMD opcodes has no immediates
  throw unknownOpcode(at, 0xfd, sub);
}

/** 0xFE: threads (atomics). */
function atomicInstruction(r: Reader, at: number): void {
  const sub = r.u32();
  if (sub === 0x03) return void r.byte(); // atomic.fence 0x00
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) return memarg(r);
  throw unknownOpcode(at, 0xfe, sub);
}

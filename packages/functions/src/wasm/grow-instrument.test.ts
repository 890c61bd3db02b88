/**
 * Tests of the memory.grow instrumentation: on C programs built with clang (plain, SIMD, bulk
 * memory), on hand-written modules that exercise every immediate kind the decoder knows, and on
 * the examples. Results are checked by running them and by counting memory.grow with wabt's own
 * disassembler, an independent decoder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { AetherError } from '@aether/core';
import { afterAll, describe, expect, it } from 'vitest';

import { compileC } from '../test-support/compile-wasm.js';
import { GROW_FAILED_EXPORT, instrumentMemoryGrow, type InstrumentResult } from './grow-instrument.js';
import { importMemory, importedMemory } from './memory-import.js';
import { WASI_MODULE, WASM_PAGE_BYTES, inspectModule } from './module-inspect.js';
import { runInstance, type RunResult } from './run-instance.js';
import { WasiExit, createWasiContext } from './wasi.js';
import { createWasmRuntime } from './wasm-runtime.js';

const LIMIT_PAGES = 256; // 16 MB
const LIMIT_BYTES = LIMIT_PAGES * WASM_PAGE_BYTES;
const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../examples/wasm/build');

const HOG_C = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void *volatile last; /* keeps clang from deleting the allocations */
int main(void) {
  for (unsigned mb = 0;; mb++) {
    void *p = malloc(1024 * 1024);
    if (p == NULL) { fprintf(stderr, "refused after %u MB\\n", mb); abort(); }
    memset(p, 1, 1024 * 1024);
    last = p;
  }
}`;

/** Allocates 512 KB (so memory grows, successfully), frees it and prints a checksum. */
const SMALL_C = `#include <stdio.h>
#include <stdlib.h>
int main(void) {
  unsigned char *blocks[4];
  unsigned sum = 0;
  for (int b = 0; b < 4; b++) {
    unsigned char *p = blocks[b] = malloc(128 * 1024);
    if (p == NULL) return 9;
    for (int i = 0; i < 128 * 1024; i++) p[i] = (unsigned char)(i * 7 + b);
    for (int i = 0; i < 128 * 1024; i += 97) sum += p[i];
  }
  for (int b = 0; b < 4; b++) free(blocks[b]);
  printf("sum=%u\\n", sum);
  return 0;
}`;

/** Uses loads and stores, lane extraction and replacement, a lane load, shuffles and v128 constants. */
const SIMD_C = `#include <stdio.h>
#include <stdlib.h>
#include <wasm_simd128.h>
int main(void) {
  unsigned char *buf = calloc(1, 4096);
  size_t n = fread(buf, 1, 4096 - 32, stdin);
  v128_t acc = wasm_i32x4_make(1, 2, 3, 5);
  unsigned qs = 0;
  for (size_t i = 0; i < n; i += 16) {
    v128_t v = wasm_v128_load(buf + i);
    if (wasm_u8x16_extract_lane(v, 4) == 'q') qs++;
    v128_t r = wasm_i8x16_shuffle(v, v, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    r = wasm_v128_load16_lane(buf + i + 17, r, 1);
    acc = wasm_i32x4_add(acc, wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(r)));
    acc = wasm_i32x4_replace_lane(acc, 0, wasm_i32x4_extract_lane(acc, 0) ^ (int)i);
    wasm_v128_store(buf + i, wasm_i8x16_add(v, wasm_i8x16_splat(1)));
  }
  printf("%d %d %d %d %u %u\\n", wasm_i32x4_extract_lane(acc, 0), wasm_i32x4_extract_lane(acc, 1),
         wasm_i32x4_extract_lane(acc, 2), wasm_i32x4_extract_lane(acc, 3), (unsigned)buf[0], qs);
  free(buf);
  return 0;
}`;

/** memcpy/memset of struct-sized blocks, which -mbulk-memory turns into memory.copy/memory.fill. */
const BULK_C = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct block { char bytes[300]; };
int main(void) {
  struct block *a = malloc(64 * sizeof *a), *b = malloc(64 * sizeof *b);
  for (int i = 0; i < 64; i++) memset(&a[i], 'a' + i % 26, sizeof a[i]);
  for (int i = 0; i < 64; i++) memcpy(&b[63 - i], &a[i], sizeof a[i]);
  printf("%c%c%c %zu\\n", b[0].bytes[0], b[1].bytes[299], b[63].bytes[150], sizeof *a);
  return 0;
}`;

const tmp = mkdtempSync(path.join(tmpdir(), 'aether-grow-instrument-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Assembles WebAssembly text with wabt's wat2wasm (every proposal it knows enabled). */
function wat(text: string): Uint8Array {
  const src = path.join(tmp, 'module.wat');
  const out = path.join(tmp, 'module.wasm');
  writeFileSync(src, text);
  execFileSync('wat2wasm', ['--enable-all', src, '-o', out], { stdio: 'pipe' });
  return new Uint8Array(readFileSync(out));
}

/** How many memory.grow wabt's disassembler finds: an independent decoder to check ours against. */
function objdumpGrowSites(bytes: Uint8Array): number {
  const file = path.join(tmp, 'objdump.wasm');
  writeFileSync(file, bytes);
  const listing = execFileSync('wasm-objdump', ['-d', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return listing.split('\n').filter((line) => /\|\s*memory\.grow\b/.test(line)).length;
}

// The JS API takes views of an ArrayBuffer; these bytes are never views of a SharedArrayBuffer.
const compile = (bytes: Uint8Array): WebAssembly.Module => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
const valid = (bytes: Uint8Array): boolean => WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);

/** Builds a module from raw sections: [id, content bytes]. Sizes here stay below 128. */
function rawModule(...sections: [number, number[]][]): Uint8Array {
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  for (const [id, content] of sections) bytes.push(id, content.length, ...content);
  return new Uint8Array(bytes);
}

/** A module with one `() -> ()` function whose body (after its local declarations) is `code`. */
function oneFunction(code: number[]): Uint8Array {
  const body = [0x00, ...code, 0x0b];
  return rawModule([1, [1, 0x60, 0, 0]], [3, [1, 0]], [5, [1, 0, 1]], [10, [1, body.length, ...body]]);
}

/** Instruments `bytes`, checks the result validates and the grow sites match wabt's count. */
function instrumented(bytes: Uint8Array): Extract<InstrumentResult, { instrumented: true }> {
  const result = instrumentMemoryGrow(bytes);
  if (!result.instrumented) throw new Error(`expected the module to be instrumented: ${result.reason}`);
  expect(valid(result.bytes)).toBe(true);
  expect(result.growSites).toBe(objdumpGrowSites(bytes));
  expect(objdumpGrowSites(result.bytes)).toBe(result.growSites === 0 ? 0 : 1); // only the hook's own
  return result;
}

function thrown(fn: () => unknown): AetherError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AetherError);
    return e as AetherError;
  }
  throw new Error('expected an AetherError');
}

function flagOf(instance: WebAssembly.Instance): unknown {
  const flag = instance.exports[GROW_FAILED_EXPORT];
  expect(flag).toBeInstanceOf(WebAssembly.Global);
  return (flag as WebAssembly.Global).value;
}

/** The memory of `bytes` as the runtime prepares it: imported, capped at 16 MB. */
function memoryOf(bytes: Uint8Array): ReturnType<typeof importedMemory> {
  const info = inspectModule(bytes, { maxModuleBytes: 1 << 24, memoryLimitBytes: LIMIT_BYTES });
  return importedMemory(info.memory, LIMIT_PAGES);
}

/**
 * Runs a WASI command whose memory importMemory made an import (capped at 16 MB) and reads the
 * flag afterwards, which runInstance cannot (it keeps the instance).
 */
function runReadingFlag(bytes: Uint8Array, input = ''): { outcome: string; flag: unknown; stdout: string } {
  const info = memoryOf(bytes);
  const module = compile(importMemory(bytes, LIMIT_PAGES));
  const wasi = createWasiContext({
    stdin: new TextEncoder().encode(input),
    args: ['main'],
    env: {},
    maxOutputBytes: 1 << 20,
    importNames: WebAssembly.Module.imports(module)
      .filter((i) => i.module === WASI_MODULE)
      .map((i) => i.name),
  });
  const memory = new WebAssembly.Memory({ initial: info.initialPages, maximum: LIMIT_PAGES });
  const instance = new WebAssembly.Instance(module, { [WASI_MODULE]: wasi.imports, aether: { memory } });
  wasi.bind(memory);
  let outcome = 'ok';
  try {
    (instance.exports._start as () => void)();
  } catch (e) {
    if (e instanceof WasiExit) outcome = e.code === 0 ? 'ok' : `exit ${e.code}`;
    else if (e instanceof WebAssembly.RuntimeError) outcome = 'trap';
    else throw e;
  }
  return { outcome, flag: flagOf(instance), stdout: new TextDecoder().decode(wasi.stdout()) };
}

/** Runs a module capped at 16 MB with the runtime's own runner, its memory imported as the runtime does. */
function run(bytes: Uint8Array, input = ''): Omit<RunResult, 'durationMs'> {
  const module = compile(importMemory(bytes, LIMIT_PAGES));
  const { durationMs: _, ...rest } = runInstance(module, new TextEncoder().encode(input), {
    memoryLimitBytes: LIMIT_BYTES,
    maxOutputBytes: 1 << 20,
    memory: memoryOf(bytes),
  });
  return rest;
}

describe('instrumentMemoryGrow on C programs', () => {
  it('sets the flag once a 16 MB cap refuses a memory hog, which still traps as before', () => {
    const original = compileC(HOG_C);
    const result = instrumented(original);
    expect(result.growSites).toBeGreaterThan(0);
    const { outcome, flag } = runReadingFlag(result.bytes);
    expect(outcome).toBe('trap');
    expect(flag).toBe(1);
    // Uninstrumented, runInstance can only judge by distance to the cap: a refused
    // 1 MB grow leaves the memory further than a page away, so it sees a plain trap;
    // instrumented, it reads the flag and reports the memory limit exactly.
    const before = run(original);
    const after = run(result.bytes);
    expect(before.outcome).toBe('trap');
    expect(after.outcome).toBe('memory-limit');
    expect(after.message).toContain('memory.grow was refused');
    expect(new TextDecoder().decode(after.stderr)).toBe('refused after 15 MB\n');
    expect({ ...after, outcome: 'trap', message: before.message }).toEqual(before);
  });

  it('leaves the flag at 0 when memory grows successfully, and the output is unchanged', () => {
    const original = compileC(SMALL_C);
    const result = instrumented(original);
    expect(result.growSites).toBeGreaterThan(0);

    const { outcome, flag, stdout } = runReadingFlag(result.bytes);
    expect(outcome).toBe('ok');
    expect(flag).toBe(0);
    expect(stdout).toMatch(/^sum=\d+\n$/);
    const after = run(result.bytes);
    expect(after.memoryBytes).toBeGreaterThan(512 * 1024); // it did grow
    expect(after).toEqual(run(original));
  });

  it('instruments SIMD code, and the program prints the same', () => {
    const original = compileC(SIMD_C, ['-msimd128']);
    const result = instrumented(original);
    expect(result.growSites).toBeGreaterThan(0);
    const input = 'the quick brown fox jumps over the lazy dog, '.repeat(20);
    const after = run(result.bytes, input);
    expect(after.outcome).toBe('ok');
    expect(new TextDecoder().decode(after.stdout)).toMatch(/^(-?\d+ ){4}\d+ \d+\n$/);
    expect(after).toEqual(run(original, input));
  });

  it('instruments bulk-memory code, and the program prints the same', () => {
    const original = compileC(BULK_C, ['-mbulk-memory']);
    const result = instrumented(original);
    expect(result.growSites).toBeGreaterThan(0);
    const after = run(result.bytes);
    expect(new TextDecoder().decode(after.stdout)).toBe('lka 300\n');
    expect(after).toEqual(run(original));
  });

  it('keeps custom sections such as the name section in place and unchanged', () => {
    const original = compileC(SMALL_C);
    const names = (b: Uint8Array): ArrayBuffer[] => WebAssembly.Module.customSections(compile(b), 'name');
    const before = names(original);
    expect(before).toHaveLength(1);
    expect(names(instrumented(original).bytes)).toEqual(before);
  });
});

describe('instrumentMemoryGrow on hand-written modules', () => {
  it('rewrites only real memory.grow, not the 0x40 empty block type, and keeps imported indices', () => {
    const original = wat(`(module
      (import "env" "f" (func $f (param i32) (result i32)))
      (import "env" "g" (global $g i32))
      (memory 1 2)
      (global $mine (mut i32) (i32.const 7))
      (func (export "grow") (param i32) (result i32)
        (block (drop (memory.grow (i32.const 0))))
        (loop (br_if 0 (i32.const 0)))
        (if (i32.const 0) (then (nop)))
        (memory.grow (local.get 0)))
      (func (export "other") (result i32)
        (global.set $mine (i32.add (global.get $mine) (i32.const 1)))
        (i32.add (call $f (global.get $g)) (global.get $mine))))`);
    const result = instrumented(original);
    expect(result.growSites).toBe(2);
    expect(result.bytes[10]).toBe(original[10]); // type count: (i32) -> (i32) was reused
    const module = compile(result.bytes);
    expect(WebAssembly.Module.exports(module)).toContainEqual({ name: GROW_FAILED_EXPORT, kind: 'global' });

    const instance = new WebAssembly.Instance(module, { env: { f: (x: number) => x * 10, g: 3 } });
    const grow = instance.exports.grow as (pages: number) => number;
    expect(grow(1)).toBe(1);
    expect(flagOf(instance)).toBe(0);
    expect(grow(1)).toBe(-1);
    expect(flagOf(instance)).toBe(1);
    expect(grow(0)).toBe(2);
    expect(flagOf(instance)).toBe(1); // sticky
    expect((instance.exports.other as () => number)()).toBe(38);
  });

  it('appends an (i32) -> (i32) type when the module has none', () => {
    const original = wat(`(module (memory 1 1) (func (export "g") (result i32) (memory.grow (i32.const 1))))`);
    const result = instrumented(original);
    expect(result.growSites).toBe(1);
    expect([original[10], result.bytes[10]]).toEqual([1, 2]); // type count
    const instance = new WebAssembly.Instance(compile(result.bytes));
    expect((instance.exports.g as () => number)()).toBe(-1);
    expect(flagOf(instance)).toBe(1);
  });

  it('creates the global and export sections, without a hook, for a module with no memory', () => {
    for (const text of ['(module)', '(module (func (export "f") (result i32) (i32.const 4)))']) {
      const result = instrumented(wat(text));
      expect(result.growSites).toBe(0);
      const instance = new WebAssembly.Instance(compile(result.bytes));
      expect(flagOf(instance)).toBe(0);
      expect(Object.keys(instance.exports)).toContain(GROW_FAILED_EXPORT);
    }
  });

  it('decodes legacy exceptions, tail calls, typed select and reference instructions', () => {
    const result = instrumented(
      wat(`(module
        (type $t (func (param i32) (result i32)))
        ${'(tag) '.repeat(64)}(tag $e (param i32)) ;; index 64: its LEB is 0x40
        (memory 1 2)
        (table 1 funcref)
        (elem (i32.const 0) $callee)
        (func $callee (type $t) (memory.grow (local.get 0)))
        (func (export "tail") (param i32) (result i32) (return_call $callee (local.get 0)))
        (func (export "tailIndirect") (param i32) (result i32)
          (return_call_indirect (type $t) (local.get 0) (i32.const 0)))
        (func (export "eh") (param i32) (result i32)
          (try (result i32)
            (do (throw $e (memory.grow (local.get 0))))
            (catch $e)
            (catch_all (i32.const -2))))
        (func (export "nested") (param i32) (result i32)
          (try (result i32)
            (do (try (result i32) (do (throw $e (memory.grow (local.get 0)))) (delegate 0)))
            (catch $e)))
        (func (export "re") (param i32) (result i32)
          (try (result i32)
            (do (try (result i32) (do (throw $e (memory.grow (local.get 0)))) (catch_all (rethrow 0))))
            (catch $e)))
        (func (export "sel") (param i32) (result i32)
          (select (result i32) (memory.grow (i32.const 0)) (i32.const 5) (local.get 0)))
        (func (export "refs") (result i32)
          (drop (ref.is_null (ref.func $callee)))
          (ref.is_null (ref.null func))))`),
    );
    expect(result.growSites).toBe(5);
    const instance = new WebAssembly.Instance(compile(result.bytes));
    const fn = (name: string): ((n?: number) => number) => instance.exports[name] as (n?: number) => number;
    expect(fn('tail')(0)).toBe(1);
    expect(fn('eh')(0)).toBe(1);
    expect(fn('nested')(0)).toBe(1);
    expect(fn('re')(0)).toBe(1);
    expect(fn('sel')(1)).toBe(1);
    expect(fn('refs')()).toBe(1);
    expect(flagOf(instance)).toBe(0);
    expect(fn('tailIndirect')(1)).toBe(1); // 1 -> 2 pages, the maximum
    expect(fn('re')(1)).toBe(-1);
    expect(flagOf(instance)).toBe(1);
  });

  it('decodes the immediates of SIMD, bulk memory, table, saturating and constant instructions', () => {
    // Each instruction is followed by a memory.grow, which a misread immediate would swallow or
    // misplace. Immediates end in 0x40 (memory.grow) or 0x0a (unknown) where they can, so that
    // one read short shows too: f32.const 3.0, f64.const 2.5, i32.const -64, offset=64, ...
    const text = `(module
        (memory 1 2)
        (table 2 funcref)
        (data $d0 "x") (data $d1 "yz")
        (func $f)
        (elem $e0 func $f) (elem $e1 func $f)
        (func (export "f") (result i32)
          (drop (v128.load offset=3 align=1 (i32.const 0)))
          (drop (memory.grow (i32.const 0)))
          (v128.store offset=5 (i32.const 0) (v128.const i32x4 0 0 0 0x40000000))
          (drop (memory.grow (i32.const 0)))
          (drop (i8x16.shuffle 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 0 (v128.const i64x2 7 8) (v128.const i64x2 9 10)))
          (drop (memory.grow (i32.const 0)))
          (drop (i32x4.extract_lane 3 (v128.const i32x4 1 2 3 4)))
          (drop (memory.grow (i32.const 0)))
          (drop (i8x16.replace_lane 15 (v128.const i32x4 0 0 0 0) (i32.const 9)))
          (drop (memory.grow (i32.const 0)))
          (drop (v128.load16_lane offset=64 7 (i32.const 0) (v128.const i32x4 0 0 0 0)))
          (drop (memory.grow (i32.const 0)))
          (v128.store8_lane 9 (i32.const 0) (v128.const i32x4 0 0 0 0))
          (drop (memory.grow (i32.const 0)))
          (drop (v128.load32_zero offset=64 align=2 (i32.const 0)))
          (drop (memory.grow (i32.const 0)))
          (drop (v128.load64_zero offset=64 align=2 (i32.const 0)))
          (drop (memory.grow (i32.const 0)))
          (drop (i32x4.dot_i16x8_s (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4)))
          (drop (memory.grow (i32.const 0)))
          (drop (i32.trunc_sat_f32_s (f32.const 1.5)))
          (drop (memory.grow (i32.const 0)))
          (memory.init $d1 (i32.const 0) (i32.const 0) (i32.const 1))
          (drop (memory.grow (i32.const 0)))
          (data.drop $d1)
          (drop (memory.grow (i32.const 0)))
          (memory.copy (i32.const 0) (i32.const 1) (i32.const 1))
          (drop (memory.grow (i32.const 0)))
          (memory.fill (i32.const 0) (i32.const 64) (i32.const 1))
          (drop (memory.grow (i32.const 0)))
          (table.init 0 $e1 (i32.const 0) (i32.const 0) (i32.const 1))
          (drop (memory.grow (i32.const 0)))
          (elem.drop $e1)
          (drop (memory.grow (i32.const 0)))
          (table.copy 0 0 (i32.const 1) (i32.const 0) (i32.const 1))
          (drop (memory.grow (i32.const 0)))
          (drop (table.grow 0 (ref.null func) (i32.const 0)))
          (drop (memory.grow (i32.const 0)))
          (drop (table.size 0))
          (drop (memory.grow (i32.const 0)))
          (table.fill 0 (i32.const 0) (ref.null func) (i32.const 0))
          (drop (memory.grow (i32.const 0)))
          (table.set 0 (i32.const 1) (table.get 0 (i32.const 0)))
          (drop (memory.grow (i32.const 0)))
          (drop (i64.const -123456789012))
          (drop (memory.grow (i32.const 0)))
          (drop (f32.const 3.0))
          (drop (memory.grow (i32.const 0)))
          (drop (f64.const 2.5))
          (drop (memory.grow (i32.const 0)))
          (drop (i32.const -64))
          (drop (memory.grow (i32.const 0)))
          ${'(block '.repeat(11)}(br_table 0 10 (i32.const 0))${')'.repeat(11)}
          (drop (memory.grow (i32.const 0)))
          (i32.extend8_s (memory.grow (i32.const 1))))
      )`;
    const result = instrumented(wat(text));
    expect(result.growSites).toBe(text.match(/memory\.grow/g)?.length);
    const instance = new WebAssembly.Instance(compile(result.bytes));
    expect((instance.exports.f as () => number)()).toBe(1);
    expect(flagOf(instance)).toBe(0);
  });

  it('decodes atomics on a shared memory', () => {
    const result = instrumented(
      wat(`(module
        (memory 1 1 shared)
        (func (export "f") (result i32)
          (atomic.fence)
          (drop (memory.grow (i32.const 0)))
          (drop (memory.atomic.notify offset=64 (i32.const 0) (i32.const 1)))
          (drop (memory.grow (i32.const 0)))
          (i32.atomic.store offset=64 (i32.const 0) (i32.const 1))
          (drop (memory.grow (i32.const 0)))
          (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
          (i32.add (i32.atomic.load (i32.const 0)) (memory.grow (memory.size)))))`),
    );
    expect(result.growSites).toBe(4);
    const instance = new WebAssembly.Instance(compile(result.bytes));
    expect((instance.exports.f as () => number)()).toBe(1 + -1); // the counter plus a refused grow
    expect(flagOf(instance)).toBe(1);
  });

  it('returns the input with a reason for opcodes it does not know, multi-memory growth and a second run', () => {
    // oneFunction's body starts at offset 28
    const cases: [Uint8Array, string][] = [
      [oneFunction([0xfb, 0x01, 0x00]), 'unknown opcode 0xfb at offset 28'], // GC struct.new
      [oneFunction([0x01, 0x1f, 0x40, 0x00, 0x0b]), 'unknown opcode 0x1f at offset 29'], // nop; try_table
      [oneFunction([0xfc, 0x12, 0x00]), 'unknown opcode 0xfc 0x12 at offset 28'],
      [oneFunction([0x41, 0x01, 0x40, 0x01, 0x1a]), 'multi-memory'], // memory.grow 1
      [instrumented(wat('(module)')).bytes, `the module already exports ${GROW_FAILED_EXPORT}`],
    ];
    for (const [bytes, reason] of cases) {
      const result = instrumentMemoryGrow(bytes);
      expect(result).toEqual({ bytes, instrumented: false, reason });
      expect(result.bytes).toBe(bytes);
    }
  });

  it('reads the memory index of a memarg whose alignment has bit 6 set (multi-memory)', () => {
    // i32.const 0; i32.load align=2|0x40 mem=1 offset=64; drop: a memarg read without the
    // memory index would take offset 64 (0x40) for a memory.grow
    const result = instrumentMemoryGrow(oneFunction([0x41, 0x00, 0x28, 0x42, 0x01, 0x40, 0x1a]));
    expect(result).toMatchObject({ instrumented: true, growSites: 0 });
  });

  it('throws AETHER_E_WASM_INVALID_MODULE for truncated or malformed input', () => {
    const hog = readExample('hog');
    const bad = [
      hog.subarray(0, 5),
      hog.subarray(0, hog.length - 1),
      hog.subarray(0, Math.floor(hog.length / 2)),
      new Uint8Array([0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0]),
      oneFunction([0x41]), // i32.const takes the final end as its immediate: no end
      oneFunction([0x44, 0x00]), // f64.const runs past the body
      rawModule([3, [1, 0]]), // a declared function without a body
    ];
    for (const bytes of bad) {
      expect(thrown(() => instrumentMemoryGrow(bytes)).code).toBe('AETHER_E_WASM_INVALID_MODULE');
    }
  });

  it('never throws anything but AETHER_E_WASM_INVALID_MODULE for any prefix of a module', () => {
    const loop = readExample('loop');
    for (let end = 0; end < loop.length; end++) {
      const prefix = loop.subarray(0, end);
      try {
        expect(valid(instrumentMemoryGrow(prefix).bytes)).toBe(valid(prefix));
      } catch (e) {
        expect((e as AetherError).code).toBe('AETHER_E_WASM_INVALID_MODULE');
      }
    }
  });
});

function readExample(name: string): Uint8Array {
  const file = path.join(EXAMPLES, `${name}.wasm`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`bash scripts/build-wasm.sh\``);
  return new Uint8Array(readFileSync(file));
}

describe('instrumentMemoryGrow on the examples', () => {
  const names = ['echo', 'fib', 'hello', 'hog', 'loop', 'transform'];

  it.each(names)('instruments %s into a valid module', (name) => {
    const result = instrumented(readExample(name));
    expect(result.growSites).toBe(name === 'echo' || name === 'loop' ? 0 : 1);
  });

  it('runs hello, echo, fib and transform with the same results', () => {
    const inputs: [string, string][] = [
      ['hello', '{"msg":"Hello from Aether!"}'],
      ['echo', '{"any":["json",1,true]}'],
      ['fib', '{"n":20}'],
      ['transform', '{"items":[{"name":"a","price":2.5,"qty":2}],"currency":"EUR"}'],
      ['transform', '{"items":[{"name":"a"}]}'], // exits 2
    ];
    for (const [name, input] of inputs) {
      const original = readExample(name);
      expect(run(instrumented(original).bytes, input)).toEqual(run(original, input));
    }
    expect(new TextDecoder().decode(run(instrumented(readExample('hello')).bytes, '{"msg":"hi"}').stdout)).toBe('hi\n');
  });

  it('runs hog to the same trap at the cap, with the flag set', () => {
    const original = readExample('hog');
    const result = instrumented(original);
    const after = run(result.bytes);
    const before = run(original);
    expect(after.outcome).toBe('memory-limit'); // the flag says a grow was refused
    expect(before.outcome).toBe('trap'); // not within a page of the cap: without the flag it cannot tell
    expect(new TextDecoder().decode(after.stderr)).toBe('hog: malloc failed after 15 MB; aborting\n');
    expect({ ...after, outcome: 'trap', message: before.message }).toEqual(before);
    expect(runReadingFlag(result.bytes)).toMatchObject({ outcome: 'trap', flag: 1 });
  });

  it('runs loop until the timeout, as before', async () => {
    const runtime = createWasmRuntime({ workers: 1 });
    try {
      for (const code of [instrumented(readExample('loop')).bytes, readExample('loop')]) {
        const { hash } = await runtime.prepare(code);
        const execution = runtime.execute({
          name: 'loop',
          hash,
          input: null,
          timeoutMs: 200,
          loadCode: () => Promise.resolve(code),
        });
        await expect(execution).rejects.toMatchObject({ code: 'AETHER_E_WASM_TIMEOUT' });
      }
    } finally {
      await runtime.close();
    }
  });

  it('instruments the 50 KB transform module in well under a few milliseconds', () => {
    const transform = readExample('transform');
    expect(transform.length).toBeGreaterThan(45_000);
    for (let i = 0; i < 5; i++) instrumentMemoryGrow(transform);
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      instrumentMemoryGrow(transform);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    expect(times[15]).toBeLessThan(5);
  });
});

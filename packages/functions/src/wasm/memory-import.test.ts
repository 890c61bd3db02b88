import { AetherError, TerminalError } from '@aether/core';
import { describe, expect, it } from 'vitest';

import { compileC } from '../test-support/compile-wasm.js';
import { AETHER_MEMORY_MODULE, AETHER_MEMORY_NAME, importMemory, importedMemory } from './memory-import.js';
import { WASI_MODULE, inspectModule } from './module-inspect.js';
import { runInstance } from './run-instance.js';
import { WasiExit, createWasiContext } from './wasi.js';

const MB = 1024 * 1024;
const LIMITS = { maxModuleBytes: 10 * MB, memoryLimitBytes: 16 * MB };
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const enc = (s: string): number[] => [s.length, ...new TextEncoder().encode(s)];
/** The import entry importMemory appends, for limits whose LEB128s take one byte each. */
const AETHER_IMPORT = [...enc('aether'), ...enc('memory'), 0x02, 0x01];

/** Prints a string from a data segment, then a static counter (0 in a fresh memory) it increments. */
const DATA_C = `#include <stdio.h>
static const char greeting[] = "greetings from the data segment";
static int counter;
int main(void) { printf("%s %d\\n", greeting, counter++); return 0; }`;

/** A module from raw sections: header, then `[id, ...content]` each with its size prepended (sizes below 128). */
function rawModule(...sections: [number, ...number[]][]): Uint8Array {
  const bytes = [...HEADER];
  for (const [id, ...content] of sections) bytes.push(id, content.length, ...content);
  return new Uint8Array(bytes);
}

function thrown(fn: () => unknown): AetherError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TerminalError);
    return e as AetherError;
  }
  throw new Error('expected an error');
}

describe('importMemory', () => {
  it('turns the defined memory of a C program into an import of aether.memory with its initial size and the cap', () => {
    const bytes = compileC(DATA_C);
    const before = inspectModule(bytes, LIMITS).memory;
    const out = importMemory(bytes, 256);
    expect(WebAssembly.validate(out)).toBe(true);

    const module = new WebAssembly.Module(out);
    const imports = WebAssembly.Module.imports(module);
    // the WASI imports keep their order (and function indices); the memory comes last
    expect(imports.slice(0, -1)).toEqual(WebAssembly.Module.imports(new WebAssembly.Module(bytes)));
    expect(imports.at(-1)).toEqual({ module: AETHER_MEMORY_MODULE, name: AETHER_MEMORY_NAME, kind: 'memory' });
    expect(WebAssembly.Module.exports(module)).toEqual(WebAssembly.Module.exports(new WebAssembly.Module(bytes)));
    expect(inspectModule(out, LIMITS).memory).toEqual({
      kind: 'imported',
      initialPages: before.initialPages,
      maxPages: 256,
      importModule: 'aether',
      importName: 'memory',
    });
    expect(importedMemory(before, 256)).toEqual(inspectModule(out, LIMITS).memory);
  });

  it('runs the rewritten program on the memory it is given: data segments and the memory export work', () => {
    const out = importMemory(compileC(DATA_C), 256);
    const module = new WebAssembly.Module(out);
    const info = inspectModule(out, LIMITS).memory;
    const memory = new WebAssembly.Memory({ initial: info.initialPages, maximum: 256 });
    const wasi = createWasiContext({
      stdin: new Uint8Array(),
      args: ['main'],
      env: {},
      maxOutputBytes: MB,
      importNames: WebAssembly.Module.imports(module)
        .filter((i) => i.module === WASI_MODULE)
        .map((i) => i.name),
    });
    wasi.bind(memory);
    const instance = new WebAssembly.Instance(module, { [WASI_MODULE]: wasi.imports, aether: { memory } });
    expect(instance.exports.memory).toBe(memory);
    try {
      (instance.exports._start as () => void)();
    } catch (e) {
      if (!(e instanceof WasiExit && e.code === 0)) throw e;
    }
    expect(new TextDecoder().decode(wasi.stdout())).toBe('greetings from the data segment 0\n');

    const result = runInstance(module, new Uint8Array(), {
      memoryLimitBytes: 16 * MB,
      maxOutputBytes: MB,
      memory: info,
    });
    expect(result.outcome).toBe('ok');
    expect(new TextDecoder().decode(result.stdout)).toBe('greetings from the data segment 0\n');
  });

  it('lowers a larger declared maximum and keeps a lower one', () => {
    const big = compileC(DATA_C, [`-Wl,--max-memory=${64 * MB}`]);
    expect(inspectModule(importMemory(big, 256), LIMITS).memory.maxPages).toBe(256);
    const small = compileC(DATA_C, ['-Wl,--max-memory=1048576']);
    expect(inspectModule(importMemory(small, 256), LIMITS).memory.maxPages).toBe(16);
  });

  it('creates the import section right after the type section, keeping custom sections in place', () => {
    const bytes = rawModule(
      [0, ...enc('a'), 1], // custom "a"
      [1, 1, 0x60, 0, 0], // type: () -> ()
      [0, ...enc('b'), 2], // custom "b"
      [3, 1, 0], // function 0: type 0
      [5, 1, 0x00, 1], // memory {min 1}
      [7, 1, ...enc('memory'), 0x02, 0], // export "memory" = memory 0
      [10, 1, 2, 0, 0x0b], // code: one empty body
      [0, ...enc('c'), 3], // custom "c"
    );
    const out = importMemory(bytes, 4);
    const importSection = [2, 1 + AETHER_IMPORT.length + 2, 1, ...AETHER_IMPORT, 1, 4];
    expect([...out]).toEqual([
      ...HEADER,
      ...[0, 3, ...enc('a'), 1],
      ...[1, 4, 1, 0x60, 0, 0],
      ...[0, 3, ...enc('b'), 2],
      ...importSection,
      ...[3, 2, 1, 0],
      ...[7, 10, 1, ...enc('memory'), 0x02, 0],
      ...[10, 4, 1, 2, 0, 0x0b],
      ...[0, 3, ...enc('c'), 3],
    ]);
    expect(WebAssembly.validate(out)).toBe(true);
    const module = new WebAssembly.Module(out);
    expect(WebAssembly.Module.customSections(module, 'b')).toHaveLength(1);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    expect(new WebAssembly.Instance(module, { aether: { memory } }).exports.memory).toBe(memory);
  });

  it('creates the import section in front of the memory section of a module with nothing else', () => {
    expect([...importMemory(rawModule([5, 1, 0x01, 1, 3]), 256)]).toEqual([
      ...HEADER,
      ...[2, 1 + AETHER_IMPORT.length + 2, 1, ...AETHER_IMPORT, 1, 3],
    ]);
  });

  it('re-encodes LEB128s that change length', () => {
    // memory {min 1} -> import {min 1, max 65536}: the max needs three LEB128 bytes
    const out = importMemory(rawModule([5, 1, 0x00, 1]), 65536);
    expect([...out.subarray(HEADER.length)]).toEqual([2, 21, 1, ...AETHER_IMPORT, 1, 0x80, 0x80, 0x04]);
    expect(WebAssembly.validate(out)).toBe(true);
  });

  it('returns a module that imports its memory unchanged (a copy)', () => {
    const bytes = compileC(DATA_C, ['-Wl,--import-memory']);
    const out = importMemory(bytes, 256);
    expect(out).not.toBe(bytes);
    expect(out).toEqual(bytes);
  });

  it('returns a module without memory unchanged (a copy)', () => {
    const bytes = rawModule([1, 1, 0x60, 0, 0]);
    const out = importMemory(bytes, 256);
    expect(out).not.toBe(bytes);
    expect(out).toEqual(bytes);
  });

  it('rejects shared and 64-bit memories', () => {
    for (const limits of [
      [0x03, 1, 2],
      [0x04, 1],
    ]) {
      const err = thrown(() => importMemory(rawModule([5, 1, ...limits]), 256));
      expect(err.code).toBe('AETHER_E_WASM_INVALID_MODULE');
      expect(err.message).toMatch(/shared or 64-bit/);
    }
  });

  it('rejects more than one memory, defined or imported', () => {
    const two = rawModule([5, 2, 0x00, 1, 0x00, 1]);
    expect(thrown(() => importMemory(two, 256)).code).toBe('AETHER_E_WASM_INVALID_MODULE');
    const importedAndDefined = rawModule([2, 1, ...enc('env'), ...enc('memory'), 0x02, 0x00, 1], [5, 1, 0x00, 1]);
    const err = thrown(() => importMemory(importedAndDefined, 256));
    expect(err.code).toBe('AETHER_E_WASM_INVALID_MODULE');
    expect(err.message).toMatch(/more than one memory/);
  });

  it('rejects a module that already imports something as aether.memory', () => {
    const bytes = rawModule([1, 1, 0x60, 0, 0], [2, 1, ...enc('aether'), ...enc('memory'), 0x00, 0], [5, 1, 0x00, 1]);
    expect(thrown(() => importMemory(bytes, 256)).code).toBe('AETHER_E_WASM_INVALID_MODULE');
  });

  it('rejects a cap below the initial memory, defined or imported', () => {
    expect(thrown(() => importMemory(rawModule([5, 1, 0x00, 4]), 2)).code).toBe('AETHER_E_WASM_MEMORY_LIMIT');
    const imported = rawModule([2, 1, ...enc('env'), ...enc('memory'), 0x02, 0x00, 4]);
    const err = thrown(() => importMemory(imported, 2));
    expect(err.code).toBe('AETHER_E_WASM_MEMORY_LIMIT');
    expect(err.details).toEqual({ initialBytes: 4 * 65536, limitBytes: 2 * 65536 });
  });

  it('rejects malformed input', () => {
    const bytes = compileC(DATA_C);
    for (const bad of [
      bytes.slice(0, 40), // truncated in a section
      new Uint8Array([0x00, 0x61, 0x73, 0x6d]), // truncated header
      rawModule([5, 1, 0x00, 1], [1, 1, 0x60, 0, 0]), // sections out of order
    ]) {
      expect(thrown(() => importMemory(bad, 256)).code).toBe('AETHER_E_WASM_INVALID_MODULE');
    }
  });

  it('refuses a page count that is not one', () => {
    for (const maxPages of [-1, 1.5, 65537]) {
      expect(() => importMemory(rawModule(), maxPages)).toThrow(RangeError);
    }
  });
});

describe('importedMemory', () => {
  it('describes a defined memory as the aether.memory import, capped', () => {
    expect(importedMemory({ kind: 'defined', initialPages: 2 }, 256)).toEqual({
      kind: 'imported',
      initialPages: 2,
      maxPages: 256,
      importModule: 'aether',
      importName: 'memory',
    });
    expect(importedMemory({ kind: 'defined', initialPages: 2, maxPages: 16 }, 256).maxPages).toBe(16);
  });

  it('keeps the module and name of an imported memory and caps its maximum', () => {
    const memory = {
      kind: 'imported',
      initialPages: 2,
      maxPages: 1000,
      importModule: 'env',
      importName: 'mem',
    } as const;
    expect(importedMemory(memory, 256)).toEqual({ ...memory, maxPages: 256 });
  });

  it('leaves no memory as none', () => {
    expect(importedMemory({ kind: 'none', initialPages: 0 }, 256)).toEqual({ kind: 'none', initialPages: 0 });
  });
});

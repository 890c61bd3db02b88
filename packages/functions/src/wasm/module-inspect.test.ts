import { createHash } from 'node:crypto';

import { AetherError, TerminalError } from '@aether/core';
import { describe, expect, it } from 'vitest';

import { compileC } from '../test-support/compile-wasm.js';
import { inspectModule } from './module-inspect.js';

const MB = 1024 * 1024;
const LIMITS = { maxModuleBytes: 10 * MB, memoryLimitBytes: 16 * MB };

const HELLO = `#include <stdio.h>
int main(void) { puts("hello"); return 0; }`;

function thrown(fn: () => unknown): AetherError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TerminalError);
    return e as AetherError;
  }
  throw new Error('expected an error');
}

/** A module from raw sections: header, then `[id, ...content]` each with its size prepended. */
function rawModule(...sections: [number, ...number[]][]): Uint8Array {
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  for (const [id, ...content] of sections) bytes.push(id, content.length, ...content);
  return new Uint8Array(bytes);
}

describe('inspectModule', () => {
  it('describes a WASI command: hash, size, defined memory and its WASI imports', () => {
    const bytes = compileC(HELLO);
    const info = inspectModule(bytes, LIMITS);
    expect(info.hash).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(info.sizeBytes).toBe(bytes.byteLength);
    expect(info.memory.kind).toBe('defined');
    expect(info.memory.initialPages).toBeGreaterThan(0);
    expect(info.memory.maxPages).toBeUndefined();
    expect(info.wasiImports).toContain('fd_write');
    expect(info.wasiImports).toContain('proc_exit');
  });

  it('reads the maximum a module declares', () => {
    const info = inspectModule(compileC(HELLO, ['-Wl,--max-memory=1048576']), LIMITS);
    expect(info.memory).toMatchObject({ kind: 'defined', maxPages: 16 });
  });

  it('reports an imported memory with its module and name', () => {
    const info = inspectModule(compileC(HELLO, ['-Wl,--import-memory']), LIMITS);
    expect(info.memory).toMatchObject({ kind: 'imported', importModule: 'env', importName: 'memory' });
    expect(info.memory.initialPages).toBeGreaterThan(0);
  });

  it('rejects a module above the size limit before looking at it', () => {
    const err = thrown(() => inspectModule(new Uint8Array(2000), { ...LIMITS, maxModuleBytes: 1000 }));
    expect(err.code).toBe('AETHER_E_WASM_TOO_LARGE');
    expect(err.details).toEqual({ sizeBytes: 2000, maxBytes: 1000 });
  });

  it('rejects bytes that are not WebAssembly with a bad-magic message', () => {
    const err = thrown(() => inspectModule(new TextEncoder().encode('#!/bin/sh\necho hi\n'), LIMITS));
    expect(err.code).toBe('AETHER_E_WASM_INVALID_MODULE');
    expect(err.message).toMatch(/bad magic number/);
  });

  it('rejects a truncated module with the reason the compiler gives', () => {
    const bytes = compileC(HELLO);
    const err = thrown(() => inspectModule(bytes.slice(0, Math.floor(bytes.byteLength / 2)), LIMITS));
    expect(err.code).toBe('AETHER_E_WASM_INVALID_MODULE');
    expect(err.message).toMatch(/^invalid WebAssembly module: ./);
  });

  it('rejects an unknown binary version', () => {
    const bytes = rawModule();
    bytes[4] = 2;
    expect(thrown(() => inspectModule(bytes, LIMITS)).code).toBe('AETHER_E_WASM_INVALID_MODULE');
  });

  it('rejects a reactor (library) module, which has no _start', () => {
    const reactor = compileC(`__attribute__((export_name("add"))) int add(int a, int b) { return a + b; }`, [
      '-mexec-model=reactor',
    ]);
    const err = thrown(() => inspectModule(reactor, LIMITS));
    expect(err.code).toBe('AETHER_E_WASM_NO_START');
    expect(err.message).toMatch(/reactor/);
  });

  it('rejects an import from outside WASI and names it', () => {
    const bytes = compileC(`extern int foo(void) __attribute__((import_module("env"), import_name("foo")));
      int main(void) { return foo(); }`);
    const err = thrown(() => inspectModule(bytes, LIMITS));
    expect(err.code).toBe('AETHER_E_WASM_UNSUPPORTED_IMPORT');
    expect(err.details).toEqual({ module: 'env', name: 'foo', kind: 'function' });
    expect(err.message).toMatch(/env\.foo/);
  });

  it('rejects a module whose initial memory is above the limit', () => {
    const bytes = compileC(`static char big[32 << 20];
      int main(int argc, char **argv) { big[argc] = 1; return big[argc * 1000]; }`);
    const err = thrown(() => inspectModule(bytes, LIMITS));
    expect(err.code).toBe('AETHER_E_WASM_MEMORY_LIMIT');
    expect(err.details.limitBytes).toBe(16 * MB);
    expect(err.details.initialBytes).toBeGreaterThan(32 * MB);
    expect(err.message).toMatch(/above the limit of 16384 KB/);
  });

  it('checks the start function before the imports', () => {
    // a reactor that also imports env.foo: NO_START comes first in the order
    const bytes = compileC(
      `extern int foo(void) __attribute__((import_module("env"), import_name("foo")));
      __attribute__((export_name("f"))) int f(void) { return foo(); }`,
      ['-mexec-model=reactor'],
    );
    expect(thrown(() => inspectModule(bytes, LIMITS)).code).toBe('AETHER_E_WASM_NO_START');
  });
});

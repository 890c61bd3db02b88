import { describe, expect, it } from 'vitest';

import { AetherError } from '@aether/core';
import { compileC } from '../test-support/compile-wasm.js';
import { importMemory, importedMemory } from './memory-import.js';
import { createMemoryPool, type MemoryPool } from './memory-pool.js';
import { inspectModule, type ModuleMemory } from './module-inspect.js';
import { runInstance, type RunOptions } from './run-instance.js';

const MB = 1024 * 1024;
const OPTS: RunOptions = { memoryLimitBytes: 16 * MB, maxOutputBytes: MB };

const ECHO = `#include <stdio.h>
int main(void) {
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
  return 0;
}`;

const ARGS_ENV = `#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("arg%d=%s\\n", i, argv[i]);
  const char *g = getenv("GREETING");
  printf("GREETING=%s\\n", g ? g : "(unset)");
  return 0;
}`;

/** A loop of `chunk`-byte allocations; the volatile store keeps clang from removing them. */
const hog = (chunk: number) => `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void *volatile keep;
int main(void) {
  for (long total = 0;; total += ${chunk}) {
    char *p = malloc(${chunk});
    if (!p) { fprintf(stderr, "out of memory after %ld KB\\n", total / 1024); abort(); }
    memset(p, 1, ${chunk});
    keep = p;
  }
}`;

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);

function compile(source: string, flags: string[] = []): WebAssembly.Module {
  return new WebAssembly.Module(compileC(source, flags));
}

/** Compiles like the runtime does: the memory becomes an import of `aether.memory` capped at `limitBytes`. */
function prepared(bytes: Uint8Array, limitBytes = 16 * MB): { module: WebAssembly.Module; memory: ModuleMemory } {
  const pages = limitBytes / 65536;
  const info = inspectModule(bytes, { maxModuleBytes: 10 * MB, memoryLimitBytes: limitBytes });
  return { module: new WebAssembly.Module(importMemory(bytes, pages)), memory: importedMemory(info.memory, pages) };
}

describe('runInstance', () => {
  it('copies stdin to stdout and reports ok with exit code 0', () => {
    const input = bytesOf('hello, wasm\n'.repeat(1000));
    const result = runInstance(compile(ECHO), input, OPTS);
    expect(result).toMatchObject({ outcome: 'ok', exitCode: 0 });
    expect(result.stdout).toEqual(input);
    expect(result.stderr).toHaveLength(0);
    expect(result.message).toBeUndefined();
    expect(result.memoryBytes).toBeGreaterThan(0);
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('gives the module its arguments and environment, with argv[0] "main" by default', () => {
    const module = compile(ARGS_ENV);
    expect(text(runInstance(module, new Uint8Array(), OPTS).stdout)).toBe('arg0=main\nGREETING=(unset)\n');
    const result = runInstance(module, new Uint8Array(), {
      ...OPTS,
      args: ['fn', 'a b', 'ünï'],
      env: { GREETING: 'hi=there' },
    });
    expect(text(result.stdout)).toBe('arg0=fn\narg1=a b\narg2=ünï\nGREETING=hi=there\n');
  });

  it('reports a nonzero return from main as exit with its code and keeps stderr', () => {
    const result = runInstance(
      compile(`#include <stdio.h>
      int main(void) { fputs("bad input\\n", stderr); return 3; }`),
      new Uint8Array(),
      OPTS,
    );
    expect(result).toMatchObject({ outcome: 'exit', exitCode: 3 });
    expect(text(result.stderr)).toBe('bad input\n');
    expect(result.message).toMatch(/code 3/);
  });

  it('treats exit(0) as ok and flushes stdout before it', () => {
    const result = runInstance(
      compile(`#include <stdio.h>
      #include <stdlib.h>
      int main(void) { printf("partial"); exit(0); }`),
      new Uint8Array(),
      OPTS,
    );
    expect(result).toMatchObject({ outcome: 'ok', exitCode: 0 });
    expect(text(result.stdout)).toBe('partial');
  });

  it('reports a trap with the engine message, keeping the lines written before it', () => {
    const result = runInstance(
      compile(`#include <stdio.h>
      int main(void) { puts("before"); __builtin_trap(); }`),
      new Uint8Array(),
      OPTS,
    );
    expect(result).toMatchObject({ outcome: 'trap', exitCode: null });
    expect(result.message).toMatch(/unreachable/);
    expect(text(result.stdout)).toBe('before\n');
  });

  it('reports a stack overflow as a trap', () => {
    // the multiplication after the call keeps clang from turning the recursion into a loop
    const result = runInstance(
      compile(`volatile int depth = 100000000;
      __attribute__((noinline)) int down(int n) { return n == 0 ? 0 : down(n - 1) * 3 + n; }
      int main(void) { return down(depth) == 7; }`),
      new Uint8Array(),
      OPTS,
    );
    expect(result.outcome).toBe('trap');
    expect(result.message).toMatch(/call stack/i);
  });

  it('stops a memory hog at the cap and reports memory-limit', () => {
    const { module, memory } = prepared(compileC(hog(16 * 1024)));
    const result = runInstance(module, new Uint8Array(), { ...OPTS, memory });
    expect(result.outcome).toBe('memory-limit');
    expect(result.exitCode).toBeNull();
    expect(result.memoryBytes).toBeLessThanOrEqual(16 * MB);
    expect(result.memoryBytes + 65536).toBeGreaterThan(16 * MB);
    expect(text(result.stderr)).toMatch(/^out of memory after 16\d{3} KB\n$/);
    expect(result.message).toMatch(/unreachable/);
  });

  it('reports a hog whose last, larger request failed short of the cap as a plain trap', () => {
    // a refused 1 MB grow leaves ~0.9 MB unused: the host cannot tell it from any other trap
    const { module, memory } = prepared(compileC(hog(MB)));
    const result = runInstance(module, new Uint8Array(), { ...OPTS, memory });
    expect(result.outcome).toBe('trap');
    expect(result.memoryBytes).toBeLessThanOrEqual(16 * MB);
    expect(text(result.stderr)).toMatch(/^out of memory after 15360 KB\n$/);
  });

  it('reports a nonzero exit at the cap as memory-limit, keeping the exit code', () => {
    const source = hog(16 * 1024).replace('abort();', 'exit(1);');
    const { module, memory } = prepared(compileC(source), 4 * MB);
    const result = runInstance(module, new Uint8Array(), { ...OPTS, memoryLimitBytes: 4 * MB, memory });
    expect(result).toMatchObject({ outcome: 'memory-limit', exitCode: 1 });
    expect(result.message).toMatch(/exited with code 1/);
  });

  it('gives a module that imports its memory a host memory bounded by the limit', () => {
    const echo = compileC(ECHO, ['-Wl,--import-memory']);
    const info = inspectModule(echo, { maxModuleBytes: MB, memoryLimitBytes: 16 * MB });
    const result = runInstance(new WebAssembly.Module(echo), bytesOf('via host memory'), {
      ...OPTS,
      memory: info.memory,
    });
    expect(result).toMatchObject({ outcome: 'ok', exitCode: 0 });
    expect(text(result.stdout)).toBe('via host memory');

    const hogBytes = compileC(hog(16 * 1024), ['-Wl,--import-memory']);
    const hogInfo = inspectModule(hogBytes, { maxModuleBytes: MB, memoryLimitBytes: 4 * MB });
    const hogResult = runInstance(new WebAssembly.Module(hogBytes), new Uint8Array(), {
      ...OPTS,
      memoryLimitBytes: 4 * MB,
      memory: hogInfo.memory,
    });
    expect(hogResult.outcome).toBe('memory-limit');
    expect(hogResult.memoryBytes).toBeLessThanOrEqual(4 * MB);
  });

  it('stops a module that writes past the output limit and keeps the first bytes', () => {
    const result = runInstance(
      compile(`#include <stdio.h>
      int main(void) { for (int i = 0; i < 1000000; i++) putchar('x'); return 0; }`),
      new Uint8Array(),
      { ...OPTS, maxOutputBytes: 10_000 },
    );
    expect(result).toMatchObject({ outcome: 'output-too-large', exitCode: null });
    expect(result.stdout).toHaveLength(10_000);
    expect(result.message).toMatch(/10000 bytes/);
  });

  it('counts stderr toward the output limit', () => {
    const result = runInstance(
      compile(`#include <stdio.h>
      int main(void) { for (int i = 0; i < 100; i++) fputs("0123456789", stderr); return 0; }`),
      new Uint8Array(),
      { ...OPTS, maxOutputBytes: 500 },
    );
    expect(result.outcome).toBe('output-too-large');
    expect(result.stderr).toHaveLength(500);
  });

  it('offers clocks and randomness, and no filesystem', () => {
    const result = runInstance(
      compile(`#include <stdio.h>
      #include <time.h>
      #include <unistd.h>
      #include <errno.h>
      int main(void) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        clock_gettime(CLOCK_MONOTONIC, &b);
        unsigned char r[64] = {0};
        int rc = getentropy(r, sizeof r);
        int nonzero = 0;
        for (int i = 0; i < 64; i++) nonzero |= r[i];
        FILE *f = fopen("/etc/passwd", "r");
        printf("time=%d mono=%d rand=%d,%d open=%s\\n", time(NULL) > 1600000000,
               b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec), rc, nonzero != 0,
               f ? "yes" : "no");
        return 0;
      }`),
      new Uint8Array(),
      OPTS,
    );
    expect(text(result.stdout)).toBe('time=1 mono=1 rand=0,1 open=no\n');
  });

  it('isolates calls: a fresh instance each time', () => {
    const module = compile(`#include <stdio.h>
      static int calls;
      int main(void) { printf("%d", ++calls); return 0; }`);
    expect(text(runInstance(module, new Uint8Array(), OPTS).stdout)).toBe('1');
    expect(text(runInstance(module, new Uint8Array(), OPTS).stdout)).toBe('1');
  });

  it('instantiates and runs a small module in well under a millisecond once warm', () => {
    const module = compile(ECHO);
    const input = bytesOf('ping');
    for (let i = 0; i < 50; i++) runInstance(module, input, OPTS);
    const times = Array.from({ length: 200 }, () => runInstance(module, input, OPTS).durationMs).sort((a, b) => a - b);
    const median = times[100]!;
    // a loose bound: the measured median is ~0.05 ms; a regression to node:wasi-like costs is ~1 ms
    expect(median).toBeLessThan(1);
  });
});

/**
 * Prints the 32 bytes of a static buffer ('.' for 0), then copies stdin into it and, by the
 * input's first word, traps, exits 3, writes without end or returns: every way a run can end.
 */
const slot = (initializer: string) => `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
volatile char slot[32]${initializer};
int main(void) {
  for (int i = 0; i < 32; i++) putchar(slot[i] ? slot[i] : '.');
  putchar('\\n');
  fflush(stdout);
  char in[32] = {0};
  ssize_t n = read(0, in, sizeof in - 1);
  for (ssize_t i = 0; i < n; i++) slot[i] = in[i];
  if (strncmp(in, "trap", 4) == 0) __builtin_trap();
  if (strncmp(in, "exit", 4) == 0) exit(3);
  if (strncmp(in, "spam", 4) == 0) for (;;) putchar('x');
  return 0;
}`;

/** A pool that checks a memory is never handed out while in use and counts what comes back. */
function checkedPool(): MemoryPool & {
  inUse: Set<WebAssembly.Memory>;
  seen: Set<WebAssembly.Memory>;
  released: number;
} {
  const pool = createMemoryPool();
  const inUse = new Set<WebAssembly.Memory>();
  const seen = new Set<WebAssembly.Memory>();
  return {
    inUse,
    seen,
    released: 0,
    acquire(initialPages, maxPages) {
      const memory = pool.acquire(initialPages, maxPages);
      expect(inUse.has(memory)).toBe(false);
      inUse.add(memory);
      seen.add(memory);
      return memory;
    },
    release(memory, initialPages, maxPages) {
      expect(inUse.delete(memory)).toBe(true);
      this.released++;
      pool.release(memory, initialPages, maxPages);
    },
  };
}

describe('runInstance with a memory pool', () => {
  const firstLine = (bytes: Uint8Array) => text(bytes).split('\n')[0];

  it('reuses one memory across runs, and a later run never sees what an earlier one wrote', () => {
    const { module, memory } = prepared(compileC(slot('')));
    const pool = checkedPool();
    const options = { ...OPTS, memory, memoryPool: pool };
    for (const secret of ['secret of request 1', 'secret of request 2', 'secret of request 3']) {
      const result = runInstance(module, bytesOf(secret), options);
      expect(result.outcome).toBe('ok');
      expect(firstLine(result.stdout)).toBe('.'.repeat(32));
    }
    expect(pool.seen.size).toBe(1);
    expect(pool.released).toBe(3);
    expect(pool.inUse.size).toBe(0);
  });

  it('gives a module with a data segment its initial data on every run', () => {
    const { module, memory } = prepared(compileC(slot(' = "initial data"')));
    const pool = checkedPool();
    for (const secret of ['overwritten by request 1', 'overwritten by request 2']) {
      const result = runInstance(module, bytesOf(secret), { ...OPTS, memory, memoryPool: pool });
      expect(firstLine(result.stdout)).toBe('initial data' + '.'.repeat(20));
    }
    expect(pool.seen.size).toBe(1);
  });

  it('gives the memory back and zeroed after a trap, an exit and too much output', () => {
    const { module, memory } = prepared(compileC(slot('')));
    const pool = checkedPool();
    const options = { ...OPTS, maxOutputBytes: 1000, memory, memoryPool: pool };
    const outcomes = ['trap: secret', 'exit: secret', 'spam: secret', 'fine'].map((input) => {
      const result = runInstance(module, bytesOf(input), options);
      expect(firstLine(result.stdout)).toBe('.'.repeat(32));
      return result.outcome;
    });
    expect(outcomes).toEqual(['trap', 'exit', 'output-too-large', 'ok']);
    expect(pool.seen.size).toBe(1);
    expect(pool.released).toBe(4);
  });

  it('reports the memory a run grew to, and drops that memory rather than reuse it', () => {
    const { module, memory } = prepared(compileC(hog(16 * 1024)), 4 * MB);
    const pool = checkedPool();
    const options = { ...OPTS, memoryLimitBytes: 4 * MB, memory, memoryPool: pool };
    const first = runInstance(module, new Uint8Array(), options);
    expect(first.outcome).toBe('memory-limit');
    expect(first.memoryBytes + 65536).toBeGreaterThan(4 * MB);
    const second = runInstance(module, new Uint8Array(), options);
    expect(second).toMatchObject({ outcome: 'memory-limit', memoryBytes: first.memoryBytes });
    expect(pool.seen.size).toBe(2);
    expect(pool.released).toBe(2);

    const small = prepared(compileC(slot('')));
    const result = runInstance(small.module, new Uint8Array(), { ...OPTS, memory: small.memory, memoryPool: pool });
    expect(result.memoryBytes).toBe(small.memory.initialPages * 65536);
  });

  it('gives the memory back when the module cannot be linked', () => {
    const bytes = compileC(
      `extern int foo(void) __attribute__((import_module("env"), import_name("foo")));
      int main(void) { return foo(); }`,
      ['-Wl,--import-memory'],
    );
    const pool = checkedPool();
    let error: unknown;
    try {
      runInstance(new WebAssembly.Module(bytes), new Uint8Array(), {
        ...OPTS,
        // env.foo is missing, so linking fails whatever the memory
        memory: { kind: 'imported', initialPages: 1, importModule: 'env', importName: 'memory' },
        memoryPool: pool,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AetherError);
    expect((error as AetherError).code).toBe('AETHER_E_WASM_UNSUPPORTED_IMPORT');
    expect(pool.released).toBe(1);
    expect(pool.inUse.size).toBe(0);
  });
});

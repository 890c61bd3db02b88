import { describe, expect, it } from 'vitest';

import { compileC } from '../test-support/compile-wasm.js';
import { capMemory, inspectModule } from './module-inspect.js';
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
    const capped = capMemory(compileC(hog(16 * 1024)), (16 * MB) / 65536);
    const result = runInstance(new WebAssembly.Module(capped), new Uint8Array(), OPTS);
    expect(result.outcome).toBe('memory-limit');
    expect(result.exitCode).toBeNull();
    expect(result.memoryBytes).toBeLessThanOrEqual(16 * MB);
    expect(result.memoryBytes + 65536).toBeGreaterThan(16 * MB);
    expect(text(result.stderr)).toMatch(/^out of memory after 16\d{3} KB\n$/);
    expect(result.message).toMatch(/unreachable/);
  });

  it('reports a hog whose last, larger request failed short of the cap as a plain trap', () => {
    // a refused 1 MB grow leaves ~0.9 MB unused: the host cannot tell it from any other trap
    const capped = capMemory(compileC(hog(MB)), (16 * MB) / 65536);
    const result = runInstance(new WebAssembly.Module(capped), new Uint8Array(), OPTS);
    expect(result.outcome).toBe('trap');
    expect(result.memoryBytes).toBeLessThanOrEqual(16 * MB);
    expect(text(result.stderr)).toMatch(/^out of memory after 15360 KB\n$/);
  });

  it('reports a nonzero exit at the cap as memory-limit, keeping the exit code', () => {
    const source = hog(16 * 1024).replace('abort();', 'exit(1);');
    const capped = capMemory(compileC(source), (4 * MB) / 65536);
    const result = runInstance(new WebAssembly.Module(capped), new Uint8Array(), {
      ...OPTS,
      memoryLimitBytes: 4 * MB,
    });
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

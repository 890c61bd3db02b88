/**
 * Test support: C sources of the wasm modules the runtime and pool tests run, compiled with
 * compileC (cached per source). Kept apart so both test files share them.
 */
import { compileC } from '../test-support/compile-wasm.js';

/** Copies stdin to stdout. */
export const ECHO_C = `#include <unistd.h>
int main(void) {
  static char buf[65536];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) > 0)
    if (write(1, buf, n) != n) return 2;
  return 0;
}`;

/** Prints a line of text that is not JSON. */
export const HELLO_C = `#include <stdio.h>
int main(void) { printf("hello, world\\n"); return 0; }`;

/** Never ends. */
export const SPIN_C = `int main(void) { volatile unsigned long x = 0; for (;;) x++; }`;

/**
 * Allocates and touches 4 KiB blocks until malloc fails, then exits 1. Small
 * blocks make malloc fail only once the memory is at its cap (run-instance.ts
 * tells 'memory-limit' from 'exit' by how close the memory is to the limit).
 */
export const HOG_C = `#include <stdlib.h>
#include <string.h>
char *volatile last; /* keeps clang from deleting the allocations */
int main(void) {
  for (;;) {
    char *p = malloc(4096);
    if (!p) return 1;
    memset(p, 1, 4096);
    last = p;
  }
}`;

/** Complains on stderr and exits 3. */
export const FAIL_C = `#include <stdio.h>
int main(void) { fprintf(stderr, "something broke\\n"); return 3; }`;

/** Traps (unreachable). */
export const TRAP_C = `int main(void) { __builtin_trap(); }`;

export const echoWasm = (): Uint8Array => compileC(ECHO_C);
export const helloWasm = (): Uint8Array => compileC(HELLO_C);
export const spinWasm = (): Uint8Array => compileC(SPIN_C);
export const hogWasm = (): Uint8Array => compileC(HOG_C);
export const failWasm = (): Uint8Array => compileC(FAIL_C);
export const trapWasm = (): Uint8Array => compileC(TRAP_C);

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

/**
 * Prints a static buffer that starts as "initial" (a data segment) and one that starts zeroed
 * (.bss), '.' for each 0 byte, then copies stdin into both: a later run that printed anything
 * but `initial.........|................` would have seen an earlier run's memory.
 */
export const SLOT_C = `#include <stdio.h>
#include <unistd.h>
volatile char data[16] = "initial";
volatile char bss[16];
int main(void) {
  for (int i = 0; i < 16; i++) putchar(data[i] ? data[i] : '.');
  putchar('|');
  for (int i = 0; i < 16; i++) putchar(bss[i] ? bss[i] : '.');
  putchar('\\n');
  char in[16];
  ssize_t n = read(0, in, sizeof in);
  for (ssize_t i = 0; i < n; i++) data[i] = bss[i] = in[i];
  return 0;
}`;

export const echoWasm = (): Uint8Array => compileC(ECHO_C);
/** ECHO_C built to import its memory (`env.memory`) instead of defining it. */
export const echoImportingMemoryWasm = (): Uint8Array => compileC(ECHO_C, ['-Wl,--import-memory']);
export const slotWasm = (): Uint8Array => compileC(SLOT_C);
export const helloWasm = (): Uint8Array => compileC(HELLO_C);
export const spinWasm = (): Uint8Array => compileC(SPIN_C);
export const hogWasm = (): Uint8Array => compileC(HOG_C);
export const failWasm = (): Uint8Array => compileC(FAIL_C);
export const trapWasm = (): Uint8Array => compileC(TRAP_C);

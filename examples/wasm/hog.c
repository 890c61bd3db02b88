/*
 * hog: allocates 1 MB blocks until malloc fails, writing every byte of each
 * block so the memory is really used. When malloc returns NULL it reports
 * on stderr how many MB it got and calls abort(), which traps. Shows
 * Aether's memory limit (16 MB by default): Aether sets the module's memory
 * maximum, so memory.grow fails and malloc returns NULL instead of the
 * module growing towards the 4 GB wasm32 address space. Build:
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-all hog.c -o hog.wasm
 * (add -Wl,--max-memory=16777216 to try the limit without Aether).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1024 * 1024)

/* Each block's address is stored here, so the compiler cannot drop the
 * malloc/memset pairs as unused. */
static void *volatile last_block;

int main(void) {
  unsigned long mb = 0;
  for (;;) {
    void *block = malloc(BLOCK);
    if (block == NULL) {
      fprintf(stderr, "hog: malloc failed after %lu MB; aborting\n", mb);
      abort();
    }
    memset(block, 0xAB, BLOCK);
    last_block = block;
    mb++;
  }
}

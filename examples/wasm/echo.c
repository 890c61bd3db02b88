/*
 * echo: copies stdin to stdout unchanged, so the function's output is the
 * request's JSON input. Build:
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-all echo.c -o echo.wasm
 */
#include <stdio.h>

int main(void) {
  static char buf[64 * 1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
    if (fwrite(buf, 1, n, stdout) != n) {
      fputs("echo: write to stdout failed\n", stderr);
      return 1;
    }
  }
  if (ferror(stdin)) {
    fputs("echo: read from stdin failed\n", stderr);
    return 1;
  }
  return 0;
}

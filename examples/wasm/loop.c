/*
 * loop: spins forever and prints nothing; shows Aether's execution timeout
 * (3 s by default). The counter is volatile, so the optimizer must keep
 * every increment and cannot remove or shortcut the loop. Build:
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-all loop.c -o loop.wasm
 */
static volatile unsigned long counter;

int main(void) {
  for (;;) counter++;
}

#!/usr/bin/env bash
# Compiles each examples/wasm/*.c to examples/wasm/build/<name>.wasm, a WASI
# command module, with Debian's clang and wasi-libc. A module is rebuilt only
# when it is missing or older than its source; one line is printed per module
# built. Without the toolchain it prints a warning and exits 0, so `npm install`
# still works on a machine that lacks it (scripts/setup-system.sh installs it).
set -euo pipefail

cd "$(dirname "$0")/.."
src_dir=examples/wasm
out_dir=$src_dir/build
cflags=(--target=wasm32-wasi -O2 -Wl,--strip-all)

shopt -s nullglob
sources=("$src_dir"/*.c)
[ ${#sources[@]} -gt 0 ] || exit 0

stale=()
for src in "${sources[@]}"; do
  out=$out_dir/$(basename "$src" .c).wasm
  if [ ! -f "$out" ] || [ "$src" -nt "$out" ]; then
    stale+=("$src")
  fi
done
[ ${#stale[@]} -gt 0 ] || exit 0

# Can clang build a trivial wasm32-wasi program (compiler, wasm-ld, sysroot)?
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
if ! command -v clang >/dev/null 2>&1 ||
  ! echo 'int main(void){return 0;}' | clang --target=wasm32-wasi -x c - -o "$probe/probe.wasm" >/dev/null 2>&1; then
  echo "build-wasm: warning: clang cannot build wasm32-wasi modules; skipping $src_dir (install the Debian packages clang lld wasi-libc libclang-rt-14-dev-wasm32, or run scripts/setup-system.sh as root)" >&2
  exit 0
fi

mkdir -p "$out_dir"
for src in "${stale[@]}"; do
  name=$(basename "$src" .c)
  out=$out_dir/$name.wasm
  # compile next to the target and rename, so a reader never sees half a module
  tmp=$out_dir/.$name.wasm.$$
  clang "${cflags[@]}" "$src" -o "$tmp" || {
    rm -f "$tmp"
    exit 1
  }
  mv -f "$tmp" "$out"
  echo "build-wasm: built $out ($(wc -c <"$out") bytes)"
done

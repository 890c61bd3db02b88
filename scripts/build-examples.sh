#!/usr/bin/env bash
# Compiles seed 000's Rust example, examples/handlers/rust-handler/src/main.rs
# (std only, no cargo), to examples/handlers/build/rust-handler with rustc. The
# binary is rebuilt only when it is missing or older than its source; one line
# is printed when it is built. rustc is taken from PATH, else ~/.cargo/bin.
# Without rustc it prints a warning and exits 0, so `npm install` still works on
# a machine that lacks it (scripts/setup-system.sh installs it).
set -euo pipefail

cd "$(dirname "$0")/.."
src=examples/handlers/rust-handler/src/main.rs
out_dir=examples/handlers/build
out=$out_dir/rust-handler

[ -f "$src" ] || exit 0
if [ -f "$out" ] && [ ! "$src" -nt "$out" ]; then
  exit 0
fi

rustc=$(command -v rustc 2>/dev/null || true)
if [ -z "$rustc" ] && [ -x "${HOME:-}/.cargo/bin/rustc" ]; then
  rustc=${HOME:-}/.cargo/bin/rustc
fi
if [ -z "$rustc" ]; then
  echo "build-examples: warning: rustc not found (PATH, ~/.cargo/bin); skipping $src (install the Debian package rustc, or run scripts/setup-system.sh as root)" >&2
  exit 0
fi

mkdir -p "$out_dir"
# compile next to the target and rename, so a reader never sees half a binary
tmp=$out_dir/.rust-handler.$$
"$rustc" -O --edition 2021 -o "$tmp" "$src" || {
  rm -f "$tmp"
  exit 1
}
mv -f "$tmp" "$out"
echo "build-examples: built $out ($(wc -c <"$out") bytes)"

#!/usr/bin/env bash
# Installs the Debian packages Aether's tests need, when they are missing:
# PostgreSQL (the conformance and crash-recovery suites start a real server),
# a C toolchain for better-sqlite3's native build, and clang with wasi-libc
# (plus wabt's wasm tools) to compile the WASI function examples and test
# fixtures to wasm32-wasi. For process functions: bubblewrap (the sandbox),
# Pillow for Debian's /usr/bin/python3 (the image-resize example handler) and
# rustc (the Rust example handler, unless a rustup toolchain is in ~/.cargo/bin).
# For the benchmark: nginx-light (a baseline server) and wrk (the load generator).
# For the dashboard's tests: chromium.
set -euo pipefail

need=()
have_postgres() {
  command -v postgres >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
}
have_postgres || need+=(postgresql)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
have_wasm_clang() {
  command -v clang >/dev/null 2>&1 || return 1
  local out
  out=$(mktemp)
  if echo 'int main(void){return 0;}' | clang --target=wasm32-wasi -x c - -o "$out" >/dev/null 2>&1; then
    rm -f "$out"
    return 0
  fi
  rm -f "$out"
  return 1
}
have_wasm_clang || need+=(clang lld wasi-libc libclang-rt-14-dev-wasm32 wabt)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
have_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}
have_nginx || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# the image example runs Debian's interpreter, which sees only Debian's Pillow
/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1 || need+=(python3-pil)
have_rustc() {
  command -v rustc >/dev/null 2>&1 || [ -x "${HOME:-}/.cargo/bin/rustc" ]
}
have_rustc || need+=(rustc)
# the dashboard's browser tests drive Debian's Chromium (playwright-core, no downloaded browser)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: missing ${need[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "setup-system: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  # Debian's package starts a cluster on 5432; the tests start their own.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for v in /etc/postgresql/*/main; do
      [ -d "$v" ] && pg_ctlcluster "$(basename "$(dirname "$v")")" main stop 2>/dev/null || true
    done
  fi
  # Debian's nginx may start a server on port 80; the benchmark starts its own.
  if [[ " ${need[*]} " == *" nginx-light "* ]]; then
    /usr/sbin/nginx -s quit 2>/dev/null || true
  fi
fi
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres

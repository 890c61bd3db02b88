/**
 * Test support: compiles a C source to a WASI command module with Debian's
 * clang (installed by scripts/setup-system.sh), cached per source text so a
 * test file compiles each fixture once.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CACHE_DIR = path.join(tmpdir(), 'aether-wasm-fixtures');

/**
 * Compiles `source` (C) with `clang --target=wasm32-wasi -O2` plus `flags`
 * (e.g. `-Wl,--max-memory=1048576`) and returns the module bytes.
 */
export function compileC(source: string, flags: string[] = []): Uint8Array<ArrayBuffer> {
  const key = createHash('sha256')
    .update(source)
    .update('\0' + flags.join('\0'))
    .digest('hex')
    .slice(0, 16);
  mkdirSync(CACHE_DIR, { recursive: true });
  const out = path.join(CACHE_DIR, `${key}.wasm`);
  if (!existsSync(out)) {
    const src = path.join(CACHE_DIR, `${key}.c`);
    writeFileSync(src, source);
    const tmpOut = `${out}.${process.pid}.tmp`;
    execFileSync('clang', ['--target=wasm32-wasi', '-O2', ...flags, src, '-o', tmpOut], { stdio: 'pipe' });
    // rename is atomic, so parallel test files never read a half-written module
    execFileSync('mv', ['-f', tmpOut, out]);
  }
  return new Uint8Array(readFileSync(out));
}

/**
 * A minimal WASI preview 1 host that lives entirely in memory: stdin is a byte
 * array, stdout and stderr are captured, there is no filesystem, socket or
 * preopened directory. node:wasi cannot do this (it takes file descriptors for
 * stdio) and its import object is slow to instantiate against; here every
 * import is a plain closure. It implements what wasi-libc's C programs call;
 * every other preview 1 function the module imports answers ENOSYS.
 */
import { randomFillSync } from 'node:crypto';

/** WASI errno values (wasi/api.h). */
const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_FAULT = 21;
const ERRNO_INVAL = 28;
const ERRNO_NOSYS = 52;
const ERRNO_SPIPE = 70;
const ERRNO_NOTCAPABLE = 76;

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_PROCESS_CPUTIME = 2;
const CLOCK_THREAD_CPUTIME = 3;

const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHTS_FD_READ = 1n << 1n;
const RIGHTS_FD_WRITE = 1n << 6n;
const RIGHTS_POLL_FD_READWRITE = 1n << 27n;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;

/** Thrown by `proc_exit` to unwind the module's stack; the runner catches it. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = 'WasiExit';
  }
}

/** Thrown by `fd_write` when stdout + stderr would exceed the output limit; stops the run. */
export class WasiOutputLimit extends Error {
  constructor(readonly limitBytes: number) {
    super(`the function wrote more than ${limitBytes} bytes to stdout and stderr`);
    this.name = 'WasiOutputLimit';
  }
}

/** A pointer or length outside linear memory; the import answers EFAULT. */
class WasiFault extends Error {}

/** Options of {@link createWasiContext}. */
export interface WasiContextOptions {
  /** What the module reads from fd 0; EOF after it. */
  stdin: Uint8Array;
  /** argv, including argv[0]. */
  args: string[];
  env: Record<string, string>;
  /** Most bytes stdout and stderr may hold together. */
  maxOutputBytes: number;
  /**
   * Names the module imports from `wasi_snapshot_preview1`. When given,
   * `imports` holds exactly these (unknown ones answer ENOSYS), so any module
   * links; when absent it holds the implemented functions only.
   */
  importNames?: readonly string[];
}

/** One run's WASI state: the import object, the bound memory and the captured output. */
export interface WasiContext {
  /** The `wasi_snapshot_preview1` import object. */
  readonly imports: Record<string, (...args: never[]) => number>;
  /** Points the imports at the instance's memory; call it before `_start`. */
  bind(memory: WebAssembly.Memory): void;
  /** Bytes written to fd 1 so far. */
  stdout(): Uint8Array;
  /** Bytes written to fd 2 so far. */
  stderr(): Uint8Array;
  /** The code given to `proc_exit`, once it was called. */
  readonly exitCode: number | undefined;
}

/** A growable byte buffer: appends copy straight from linear memory. */
class Output {
  private buf = new Uint8Array(256);
  private len = 0;

  append(src: Uint8Array, start: number, end: number): void {
    const need = this.len + (end - start);
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(src.subarray(start, end), this.len);
    this.len = need;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** NUL-terminated UTF-8 strings laid out back to back, as args_get and environ_get write them. */
function encodeStrings(strings: readonly string[]): { bytes: Uint8Array; offsets: number[] } {
  const parts = strings.map((s) => Buffer.from(`${s}\0`, 'utf8'));
  const offsets: number[] = [];
  let at = 0;
  for (const p of parts) {
    offsets.push(at);
    at += p.length;
  }
  return { bytes: Buffer.concat(parts), offsets };
}

/** Wraps an import so that a bad pointer answers EFAULT instead of throwing into the module. */
function guarded<A extends unknown[]>(fn: (...args: A) => number): (...args: A) => number {
  return (...args: A) => {
    try {
      return fn(...args);
    } catch (e) {
      if (e instanceof WasiFault) return ERRNO_FAULT;
      throw e;
    }
  };
}

/**
 * Creates a fresh WASI context for one run. Pointers arrive as signed i32 and
 * are read as unsigned (`>>> 0`); the memory views are rebuilt whenever
 * `memory.buffer` changed, because `memory.grow` detaches the old buffer.
 */
export function createWasiContext(opts: WasiContextOptions): WasiContext {
  const argv = encodeStrings(opts.args);
  const environ = encodeStrings(Object.entries(opts.env).map(([k, v]) => `${k}=${v}`));
  const stdin = opts.stdin;
  const stdout = new Output();
  const stderr = new Output();
  const startedAt = process.hrtime.bigint();
  let stdinPos = 0;
  let outputBytes = 0;
  let exitCode: number | undefined;

  let memory: WebAssembly.Memory | undefined;
  let buffer: ArrayBuffer | undefined;
  let view = new DataView(new ArrayBuffer(0));
  let u8 = new Uint8Array(0);

  /** Refreshes the views and checks that [ptr, ptr + len) lies in memory. */
  function range(ptr: number, len: number): void {
    if (memory === undefined) throw new WasiFault();
    if (memory.buffer !== buffer) {
      buffer = memory.buffer;
      view = new DataView(buffer);
      u8 = new Uint8Array(buffer);
    }
    if (ptr + len > u8.length) throw new WasiFault();
  }
  function setU32(ptr: number, value: number): void {
    range(ptr, 4);
    view.setUint32(ptr, value, true);
  }
  function setU64(ptr: number, value: bigint): void {
    range(ptr, 8);
    view.setBigUint64(ptr, value, true);
  }
  /** Reads iovec i (`{buf: u32, buf_len: u32}`) of the array at `iovs`. */
  function iovec(iovs: number, i: number): [start: number, end: number] {
    range(iovs + i * 8, 8);
    const start = view.getUint32(iovs + i * 8, true);
    const len = view.getUint32(iovs + i * 8 + 4, true);
    range(start, len);
    return [start, start + len];
  }

  const stringsGet = (strings: { bytes: Uint8Array; offsets: number[] }) =>
    guarded((ptrs: number, buf: number): number => {
      const p = ptrs >>> 0;
      const b = buf >>> 0;
      range(b, strings.bytes.length);
      u8.set(strings.bytes, b);
      strings.offsets.forEach((off, i) => setU32(p + i * 4, b + off));
      return ERRNO_SUCCESS;
    });
  const stringsSizesGet = (strings: { bytes: Uint8Array; offsets: number[] }) =>
    guarded((countPtr: number, sizePtr: number): number => {
      setU32(countPtr >>> 0, strings.offsets.length);
      setU32(sizePtr >>> 0, strings.bytes.length);
      return ERRNO_SUCCESS;
    });

  function now(clock: number): bigint | undefined {
    switch (clock) {
      case CLOCK_REALTIME:
        return BigInt(Date.now()) * 1_000_000n;
      case CLOCK_MONOTONIC:
        return process.hrtime.bigint();
      case CLOCK_PROCESS_CPUTIME:
      case CLOCK_THREAD_CPUTIME:
        // a run is one synchronous call on one thread: its wall time since
        // start is the closest thing to its CPU time that the host can tell
        return process.hrtime.bigint() - startedAt;
      default:
        return undefined;
    }
  }

  const implemented: Record<string, (...args: never[]) => number> = {
    args_get: stringsGet(argv),
    args_sizes_get: stringsSizesGet(argv),
    environ_get: stringsGet(environ),
    environ_sizes_get: stringsSizesGet(environ),

    clock_res_get: guarded((clock: number, resPtr: number): number => {
      if (now(clock) === undefined) return ERRNO_INVAL;
      setU64(resPtr >>> 0, clock === CLOCK_REALTIME ? 1_000_000n : 1n);
      return ERRNO_SUCCESS;
    }),
    clock_time_get: guarded((clock: number, _precision: bigint, timePtr: number): number => {
      const t = now(clock);
      if (t === undefined) return ERRNO_INVAL;
      setU64(timePtr >>> 0, t);
      return ERRNO_SUCCESS;
    }),

    fd_read: guarded((fd: number, iovs: number, iovsLen: number, nreadPtr: number): number => {
      if (fd !== STDIN) return ERRNO_BADF;
      let nread = 0;
      for (let i = 0; i < iovsLen >>> 0 && stdinPos < stdin.length; i++) {
        const [start, end] = iovec(iovs >>> 0, i);
        const n = Math.min(end - start, stdin.length - stdinPos);
        u8.set(stdin.subarray(stdinPos, stdinPos + n), start);
        stdinPos += n;
        nread += n;
      }
      setU32(nreadPtr >>> 0, nread);
      return ERRNO_SUCCESS;
    }),
    fd_write: guarded((fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number => {
      if (fd !== STDOUT && fd !== STDERR) return ERRNO_BADF;
      const out = fd === STDOUT ? stdout : stderr;
      let written = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const [start, end] = iovec(iovs >>> 0, i);
        if (outputBytes + (end - start) > opts.maxOutputBytes) {
          // keep what fits: the start of a runaway output helps to debug it
          out.append(u8, start, start + (opts.maxOutputBytes - outputBytes));
          outputBytes = opts.maxOutputBytes;
          throw new WasiOutputLimit(opts.maxOutputBytes);
        }
        out.append(u8, start, end);
        outputBytes += end - start;
        written += end - start;
      }
      setU32(nwrittenPtr >>> 0, written);
      return ERRNO_SUCCESS;
    }),
    fd_close: (fd: number): number => (isStdio(fd) ? ERRNO_SUCCESS : ERRNO_BADF),
    fd_seek: (fd: number): number => (isStdio(fd) ? ERRNO_SPIPE : ERRNO_BADF),
    fd_fdstat_get: guarded((fd: number, statPtr: number): number => {
      if (!isStdio(fd)) return ERRNO_BADF;
      const p = statPtr >>> 0;
      range(p, 24);
      // a character device without seek/tell rights: wasi-libc's isatty()
      // says yes, so stdout is line-buffered and lines written before a trap
      // are not lost in a buffer
      view.setUint8(p, FILETYPE_CHARACTER_DEVICE);
      view.setUint16(p + 2, 0, true);
      const rights = (fd === STDIN ? RIGHTS_FD_READ : RIGHTS_FD_WRITE) | RIGHTS_POLL_FD_READWRITE;
      view.setBigUint64(p + 8, rights, true);
      view.setBigUint64(p + 16, 0n, true);
      return ERRNO_SUCCESS;
    }),
    fd_fdstat_set_flags: (fd: number): number => (isStdio(fd) ? ERRNO_SUCCESS : ERRNO_BADF),
    // no preopened directories: the sandbox has no filesystem, and wasi-libc
    // stops scanning for preopens at the first EBADF
    fd_prestat_get: (): number => ERRNO_BADF,
    fd_prestat_dir_name: (): number => ERRNO_BADF,
    path_open: (dirFd: number): number => (isStdio(dirFd) ? ERRNO_NOTCAPABLE : ERRNO_BADF),

    random_get: guarded((bufPtr: number, len: number): number => {
      const b = bufPtr >>> 0;
      const n = len >>> 0;
      range(b, n);
      // filled in a fresh buffer, then copied: crypto never sees a view of
      // wasm memory (which may be shared), and randomFillSync has no 64 KiB cap
      u8.set(randomFillSync(new Uint8Array(n)), b);
      return ERRNO_SUCCESS;
    }),
    sched_yield: (): number => ERRNO_SUCCESS,
    poll_oneoff: (): number => ERRNO_NOSYS,
    proc_exit: (code: number): number => {
      exitCode = code;
      throw new WasiExit(code);
    },
  };

  // no prototype: an import named `__proto__` or `toString` must not find Object's
  const imports = Object.create(null) as Record<string, (...args: never[]) => number>;
  for (const name of opts.importNames ?? Object.keys(implemented)) {
    imports[name] = (Object.hasOwn(implemented, name) ? implemented[name] : undefined) ?? ((): number => ERRNO_NOSYS);
  }

  return {
    imports,
    bind(m: WebAssembly.Memory): void {
      memory = m;
      buffer = undefined;
    },
    stdout: () => stdout.bytes(),
    stderr: () => stderr.bytes(),
    get exitCode() {
      return exitCode;
    },
  };
}

function isStdio(fd: number): boolean {
  return fd === STDIN || fd === STDOUT || fd === STDERR;
}

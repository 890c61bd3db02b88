import { describe, expect, it } from 'vitest';

import { WasiExit, WasiOutputLimit, createWasiContext, type WasiContextOptions } from './wasi.js';

const ERRNO = { SUCCESS: 0, BADF: 8, FAULT: 21, INVAL: 28, NOSYS: 52, SPIPE: 70, NOTCAPABLE: 76 };
const PAGE = 65536;

type Call = (...args: (number | bigint)[]) => number;

function setup(overrides: Partial<WasiContextOptions> = {}) {
  const ctx = createWasiContext({
    stdin: new Uint8Array(),
    args: ['main'],
    env: {},
    maxOutputBytes: 1000,
    ...overrides,
  });
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  ctx.bind(memory);
  const call = (name: string, ...args: (number | bigint)[]) => (ctx.imports[name] as unknown as Call)(...args);
  const view = () => new DataView(memory.buffer);
  /** Puts `text` at `at` and one iovec describing it at `iov`. */
  const putIovec = (iov: number, at: number, text: string) => {
    const bytes = new TextEncoder().encode(text);
    new Uint8Array(memory.buffer).set(bytes, at);
    view().setUint32(iov, at, true);
    view().setUint32(iov + 4, bytes.length, true);
  };
  return { ctx, memory, call, view, putIovec };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('WASI context', () => {
  it('captures fd_write to stdout and stderr, and answers EBADF for other fds', () => {
    const { ctx, call, view, putIovec } = setup();
    putIovec(0, 100, 'out');
    putIovec(8, 200, 'put');
    expect(call('fd_write', 1, 0, 2, 16)).toBe(ERRNO.SUCCESS);
    expect(view().getUint32(16, true)).toBe(6);
    expect(call('fd_write', 2, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    expect(call('fd_write', 3, 0, 1, 16)).toBe(ERRNO.BADF);
    expect(text(ctx.stdout())).toBe('output');
    expect(text(ctx.stderr())).toBe('out');
  });

  it('keeps working after memory.grow replaced the buffer', () => {
    const { ctx, memory, call, putIovec } = setup();
    putIovec(0, 100, 'a');
    expect(call('fd_write', 1, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    memory.grow(1);
    // a pointer into the new page: a stale view would throw or miss it
    putIovec(0, PAGE + 10, 'b');
    expect(call('fd_write', 1, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    expect(text(ctx.stdout())).toBe('ab');
  });

  it('answers EFAULT for pointers outside memory instead of throwing', () => {
    const { call, view } = setup();
    view().setUint32(0, PAGE - 2, true);
    view().setUint32(4, 10, true);
    expect(call('fd_write', 1, 0, 1, 16)).toBe(ERRNO.FAULT);
    expect(call('fd_write', 1, PAGE - 4, 1, 16)).toBe(ERRNO.FAULT);
    // a pointer above 2 GiB arrives as a negative i32
    expect(call('args_sizes_get', -8, 0)).toBe(ERRNO.FAULT);
  });

  it('reads stdin across calls, then reports EOF with zero bytes', () => {
    const { call, view, memory } = setup({ stdin: new TextEncoder().encode('hello') });
    view().setUint32(0, 100, true);
    view().setUint32(4, 3, true);
    expect(call('fd_read', 0, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    expect(view().getUint32(16, true)).toBe(3);
    expect(call('fd_read', 0, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    expect(view().getUint32(16, true)).toBe(2);
    expect(text(new Uint8Array(memory.buffer, 100, 2))).toBe('lo');
    expect(call('fd_read', 0, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    expect(view().getUint32(16, true)).toBe(0);
    expect(call('fd_read', 1, 0, 1, 16)).toBe(ERRNO.BADF);
  });

  it('lays out args and environment as wasi-libc expects', () => {
    const { call, view, memory } = setup({ args: ['fn', 'x'], env: { A: '1' } });
    expect(call('args_sizes_get', 0, 4)).toBe(ERRNO.SUCCESS);
    expect([view().getUint32(0, true), view().getUint32(4, true)]).toEqual([2, 5]);
    expect(call('args_get', 16, 100)).toBe(ERRNO.SUCCESS);
    expect([view().getUint32(16, true), view().getUint32(20, true)]).toEqual([100, 103]);
    expect(text(new Uint8Array(memory.buffer, 100, 5))).toBe('fn\0x\0');
    expect(call('environ_sizes_get', 0, 4)).toBe(ERRNO.SUCCESS);
    expect([view().getUint32(0, true), view().getUint32(4, true)]).toEqual([1, 4]);
    expect(call('environ_get', 16, 200)).toBe(ERRNO.SUCCESS);
    expect(text(new Uint8Array(memory.buffer, 200, 4))).toBe('A=1\0');
  });

  it('answers clock_time_get for realtime and monotonic clocks, EINVAL for unknown ones', () => {
    const { call, view } = setup();
    expect(call('clock_time_get', 0, 0n, 0)).toBe(ERRNO.SUCCESS);
    const realtimeMs = Number(view().getBigUint64(0, true) / 1_000_000n);
    expect(Math.abs(realtimeMs - Date.now())).toBeLessThan(5000);
    expect(call('clock_time_get', 1, 0n, 8)).toBe(ERRNO.SUCCESS);
    expect(call('clock_time_get', 1, 0n, 16)).toBe(ERRNO.SUCCESS);
    expect(view().getBigUint64(16, true)).toBeGreaterThanOrEqual(view().getBigUint64(8, true));
    expect(call('clock_res_get', 1, 0)).toBe(ERRNO.SUCCESS);
    expect(call('clock_time_get', 9, 0n, 0)).toBe(ERRNO.INVAL);
  });

  it('presents stdio as character devices and offers no files', () => {
    const { call, view } = setup();
    expect(call('fd_fdstat_get', 1, 0)).toBe(ERRNO.SUCCESS);
    expect(view().getUint8(0)).toBe(2);
    expect(call('fd_fdstat_get', 3, 0)).toBe(ERRNO.BADF);
    expect(call('fd_seek', 1, 0n, 0, 0)).toBe(ERRNO.SPIPE);
    expect(call('fd_seek', 5, 0n, 0, 0)).toBe(ERRNO.BADF);
    expect(call('fd_prestat_get', 3, 0)).toBe(ERRNO.BADF);
    expect(call('path_open', 3, 0, 0, 0, 0, 0n, 0n, 0, 0)).toBe(ERRNO.BADF);
    expect(call('fd_close', 9)).toBe(ERRNO.BADF);
  });

  it('fills random_get with random bytes', () => {
    const { call, memory } = setup();
    expect(call('random_get', 100, 256)).toBe(ERRNO.SUCCESS);
    expect(new Uint8Array(memory.buffer, 100, 256).some((b) => b !== 0)).toBe(true);
  });

  it('builds the import object from the names the module imports, ENOSYS for unknown ones', () => {
    const ctx = createWasiContext({
      stdin: new Uint8Array(),
      args: [],
      env: {},
      maxOutputBytes: 10,
      importNames: ['fd_write', 'sock_accept', '__proto__', 'toString'],
    });
    expect(Object.keys(ctx.imports).sort()).toEqual(['__proto__', 'fd_write', 'sock_accept', 'toString']);
    expect((ctx.imports.sock_accept as unknown as Call)(0, 0, 0)).toBe(ERRNO.NOSYS);
    expect((ctx.imports.toString as unknown as Call)()).toBe(ERRNO.NOSYS);
  });

  it('unwinds on proc_exit with the code', () => {
    const { ctx, call } = setup();
    expect(() => call('proc_exit', 4)).toThrow(WasiExit);
    expect(ctx.exitCode).toBe(4);
  });

  it('stops at the output limit and keeps the bytes that fit', () => {
    const { ctx, call, putIovec } = setup({ maxOutputBytes: 5 });
    putIovec(0, 100, 'abc');
    expect(call('fd_write', 1, 0, 1, 16)).toBe(ERRNO.SUCCESS);
    expect(() => call('fd_write', 2, 0, 1, 16)).toThrow(WasiOutputLimit);
    expect(text(ctx.stdout())).toBe('abc');
    expect(text(ctx.stderr())).toBe('ab');
  });

  it('answers EFAULT before a memory is bound', () => {
    const ctx = createWasiContext({ stdin: new Uint8Array(), args: [], env: {}, maxOutputBytes: 10 });
    expect((ctx.imports.fd_write as unknown as Call)(1, 0, 1, 16)).toBe(ERRNO.FAULT);
  });
});

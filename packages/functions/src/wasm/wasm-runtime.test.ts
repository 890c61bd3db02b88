import { AetherError } from '@aether/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  echoImportingMemoryWasm,
  echoWasm,
  failWasm,
  helloWasm,
  hogWasm,
  slotWasm,
  spinWasm,
  trapWasm,
} from './test-fixtures.js';
import {
  createWasmRuntime,
  resolveWasmRuntimeOptions,
  type WasmExecuteRequest,
  type WasmRuntime,
  type WasmTransport,
} from './wasm-runtime.js';

/** Awaits a promise expected to reject and returns the AetherError. */
async function rejection(promise: Promise<unknown>): Promise<AetherError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return err as AetherError;
  }
  throw new Error('expected the promise to reject');
}

/** A request for `code`, counting how often its bytes are loaded. */
async function requestFor(
  runtime: WasmRuntime,
  code: Uint8Array,
  input: unknown,
  extra: Partial<WasmExecuteRequest> = {},
): Promise<WasmExecuteRequest & { loads: () => number }> {
  const { hash } = await runtime.prepare(code, { memoryLimitBytes: extra.memoryLimitBytes });
  let loads = 0;
  return {
    name: 'fn',
    hash,
    input,
    loadCode: () => {
      loads++;
      return Promise.resolve(code);
    },
    loads: () => loads,
    ...extra,
  };
}

describe('resolveWasmRuntimeOptions', () => {
  it('fills the documented defaults', () => {
    const o = resolveWasmRuntimeOptions({ workers: 3 });
    expect(o).toMatchObject({
      workers: 3,
      cacheSize: 100,
      transport: 'message',
      maxQueue: 256,
      defaultTimeoutMs: 3000,
      defaultMemoryLimitBytes: 16 * 1024 * 1024,
      maxModuleBytes: 10 * 1024 * 1024,
      maxInputBytes: 1024 * 1024,
      maxOutputBytes: 1024 * 1024,
    });
    expect(resolveWasmRuntimeOptions().workers).toBeGreaterThanOrEqual(1);
  });

  it('rejects bad values at start-up with AETHER_E_CONFIG_INVALID', () => {
    expect(() => resolveWasmRuntimeOptions({ workers: 0 })).toThrow(
      expect.objectContaining({ code: 'AETHER_E_CONFIG_INVALID' }),
    );
    expect(() => resolveWasmRuntimeOptions({ transport: 'carrier-pigeon' as WasmTransport })).toThrow(
      expect.objectContaining({ code: 'AETHER_E_CONFIG_INVALID' }),
    );
  });
});

describe.each<WasmTransport>(['shared-memory', 'message'])('wasm runtime over the %s transport', (transport) => {
  let runtime: WasmRuntime;

  beforeAll(() => {
    runtime = createWasmRuntime({ transport, workers: 2, maxInputBytes: 512 * 1024 });
  });
  afterAll(async () => {
    await runtime.close();
  });

  it('echoes JSON input back as the parsed output', async () => {
    const req = await requestFor(runtime, echoWasm(), { greeting: 'hello', n: [1, 2, 3] });
    const res = await runtime.execute(req);
    expect(res.output).toEqual({ greeting: 'hello', n: [1, 2, 3] });
    expect(res.stdout).toBe('{"greeting":"hello","n":[1,2,3]}');
    expect(res.stderr).toBe('');
    expect(res.memoryUsedKb).toBeGreaterThan(0);
    expect(res.executionTimeMs).toBeGreaterThan(0);
  });

  it('never shows a request the bytes an earlier one left in its memory', async () => {
    const single = createWasmRuntime({ transport, workers: 1 }); // one worker: every run reuses its memory
    try {
      const req = await requestFor(single, slotWasm(), null);
      const runs = [];
      for (const secret of ['secret of request 1', 'secret of request 2', 'secret of request 3']) {
        runs.push(await single.execute({ ...req, input: secret }));
      }
      expect(runs.map((r) => r.output)).toEqual(Array(3).fill(`initial.........|${'.'.repeat(16)}`));
      expect(new Set(runs.map((r) => r.memoryUsedKb)).size).toBe(1);
    } finally {
      await single.close();
    }
  });

  it('runs a module that imports its memory as env.memory', async () => {
    const res = await runtime.execute(await requestFor(runtime, echoImportingMemoryWasm(), { imported: true }));
    expect(res.output).toEqual({ imported: true });
    expect(res.memoryUsedKb).toBeGreaterThan(0);
  });

  it('returns stdout that is not JSON as text without its trailing newline', async () => {
    const res = await runtime.execute(await requestFor(runtime, helloWasm(), null));
    expect(res.output).toBe('hello, world');
    expect(res.stdout).toBe('hello, world\n');
  });

  it('returns a JSON string output as the string itself', async () => {
    const res = await runtime.execute(await requestFor(runtime, echoWasm(), 'plain text'));
    expect(res.output).toBe('plain text');
    expect(res.stdout).toBe('"plain text"');
  });

  it('carries inputs of many sizes intact, across ring wraparound', async () => {
    const req = await requestFor(runtime, echoWasm(), null);
    for (const size of [0, 1, 70_000, 300_000, 5, 400_000, 123_457, 250_000]) {
      const text = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
      const res = await runtime.execute({ ...req, input: text });
      expect(res.output).toBe(text);
    }
  });

  it('rejects an input above maxInputBytes with AETHER_E_PAYLOAD_TOO_LARGE', async () => {
    const req = await requestFor(runtime, echoWasm(), 'x'.repeat(600 * 1024));
    const err = await rejection(runtime.execute(req));
    expect(err.code).toBe('AETHER_E_PAYLOAD_TOO_LARGE');
  });

  it('reports a cache miss on first execution and hits afterwards, loading the code once', async () => {
    const fresh = createWasmRuntime({ transport, workers: 1 });
    try {
      const code = echoWasm();
      const { hash } = await fresh.prepare(code); // the cache warms at prepare...
      expect(fresh.stats().cache).toMatchObject({ size: 1, misses: 1, hits: 0 });
      fresh.evict(hash); // ...so start cold
      let loads = 0;
      const req: WasmExecuteRequest = {
        name: 'echo',
        hash,
        input: 1,
        loadCode: () => {
          loads++;
          return Promise.resolve(code);
        },
      };
      const first = await fresh.execute(req);
      const second = await fresh.execute(req);
      expect([first.cacheHit, second.cacheHit]).toEqual([false, true]);
      expect(loads).toBe(1);
      expect(fresh.stats().cache).toMatchObject({ size: 1, misses: 2, hits: 1 });

      // another memory cap is another compiled module
      const capped = await fresh.execute({ ...req, memoryLimitBytes: 2 * 1024 * 1024 });
      expect(capped.cacheHit).toBe(false);
      expect(fresh.stats().cache.size).toBe(2);

      // concurrent misses load and compile once
      expect(fresh.evict(hash)).toBe(true);
      const burst = await Promise.all([1, 2, 3, 4].map((n) => fresh.execute({ ...req, input: n })));
      expect(burst.map((r) => r.output)).toEqual([1, 2, 3, 4]);
      expect(burst.filter((r) => !r.cacheHit)).toHaveLength(1);
      expect(loads).toBe(3);
      expect(fresh.stats().transport).toBe(transport);
    } finally {
      await fresh.close();
    }
  });

  it('warms the cache at prepare, so the first execution is a hit', async () => {
    const req = await requestFor(runtime, helloWasm(), null);
    const res = await runtime.execute(req);
    expect(res.cacheHit).toBe(true);
    expect(req.loads()).toBe(0);
  });

  it('refuses code that does not match the requested hash', async () => {
    const err = await rejection(
      runtime.execute({ name: 'fn', hash: 'f'.repeat(64), input: null, loadCode: () => Promise.resolve(echoWasm()) }),
    );
    expect(err.code).toBe('AETHER_E_WASM_INVALID_MODULE');
    expect(err.details).toMatchObject({ expectedHash: 'f'.repeat(64) });
  });

  it('rejects an invalid module at prepare', async () => {
    const err = await rejection(runtime.prepare(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff])));
    expect(err.code).toBe('AETHER_E_WASM_INVALID_MODULE');
  });

  it('maps a nonzero exit to AETHER_E_WASM_EXIT with the exit code and stderr', async () => {
    const err = await rejection(runtime.execute(await requestFor(runtime, failWasm(), null)));
    expect(err.code).toBe('AETHER_E_WASM_EXIT');
    expect(err.details).toMatchObject({ exitCode: 3, stderr: 'something broke\n' });
  });

  it('maps a trap to AETHER_E_WASM_TRAP', async () => {
    const err = await rejection(runtime.execute(await requestFor(runtime, trapWasm(), null)));
    expect(err.code).toBe('AETHER_E_WASM_TRAP');
  });

  it('stops a memory hog at its limit with AETHER_E_WASM_MEMORY_LIMIT', async () => {
    const limit = 4 * 1024 * 1024;
    const err = await rejection(
      runtime.execute(await requestFor(runtime, hogWasm(), null, { memoryLimitBytes: limit })),
    );
    expect(err.code).toBe('AETHER_E_WASM_MEMORY_LIMIT');
    expect(err.details).toMatchObject({ limitBytes: limit });
    // the worker survives a module that ran out of memory
    const ok = await runtime.execute(await requestFor(runtime, echoWasm(), 'still here'));
    expect(ok.output).toBe('still here');
  });

  it('stops an infinite loop at its timeout while the other worker keeps serving, then is back at full size', async () => {
    const spin = await requestFor(runtime, spinWasm(), null, { timeoutMs: 300 });
    const echo = await requestFor(runtime, echoWasm(), null);
    const before = runtime.stats().workers;

    const spinning = rejection(runtime.execute(spin));
    for (let i = 0; i < 20; i++) {
      const res = await runtime.execute({ ...echo, input: i });
      expect(res.output).toBe(i);
    }
    const err = await spinning;
    expect(err.code).toBe('AETHER_E_WASM_TIMEOUT');
    expect(err.details).toEqual({ timeoutMs: 300 });

    const after = runtime.stats().workers;
    expect(after.size).toBe(2);
    expect(after.timeouts).toBe(before.timeouts + 1);
    expect(after.replaced).toBe(before.replaced + 1);
    expect(after.crashes).toBe(before.crashes);

    // Both workers serve again: an echo finishes while a loop holds the other worker.
    const order: string[] = [];
    const longSpin = rejection(runtime.execute({ ...spin, timeoutMs: 5000 })).then((e) => {
      order.push('spin');
      return e;
    });
    const quick = runtime.execute({ ...echo, input: 'quick' }).then((r) => {
      order.push('echo');
      return r;
    });
    expect((await quick).output).toBe('quick');
    expect((await longSpin).code).toBe('AETHER_E_WASM_TIMEOUT');
    expect(order).toEqual(['echo', 'spin']);
    expect(runtime.stats().workers.size).toBe(2);
  });

  it('fails fast with AETHER_E_FN_OVERLOADED past the queue, and close rejects queued and running work', async () => {
    const small = createWasmRuntime({ transport, workers: 1, maxQueue: 1 });
    const spin = await requestFor(small, spinWasm(), null, { timeoutMs: 60_000 });
    const running = rejection(small.execute(spin));
    const queued = rejection(small.execute(spin));
    const refused = await rejection(small.execute(spin));
    expect(refused.code).toBe('AETHER_E_FN_OVERLOADED');
    expect(refused.retryable).toBe(true);
    expect(refused.details.retryAfterMs).toBeGreaterThan(0);
    expect(small.stats().workers.queued + small.stats().workers.busy).toBe(2);

    await small.close();
    expect((await running).code).toBe('AETHER_E_SHUTTING_DOWN');
    expect((await queued).code).toBe('AETHER_E_SHUTTING_DOWN');
    expect((await rejection(small.execute(spin))).code).toBe('AETHER_E_SHUTTING_DOWN');
    expect(small.stats().workers.size).toBe(0);
  });

  it('maps output above maxOutputBytes to AETHER_E_WASM_OUTPUT_TOO_LARGE', async () => {
    const small = createWasmRuntime({ transport, workers: 1, maxOutputBytes: 1024 });
    try {
      const err = await rejection(small.execute(await requestFor(small, echoWasm(), 'y'.repeat(4000))));
      expect(err.code).toBe('AETHER_E_WASM_OUTPUT_TOO_LARGE');
      expect(err.details).toMatchObject({ limitBytes: 1024 });
    } finally {
      await small.close();
    }
  });
});

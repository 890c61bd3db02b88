import { AetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';
import { inspectModule } from './module-inspect.js';
import { echoWasm, helloWasm, spinWasm } from './test-fixtures.js';
import { createWorkerPool, type PoolRequest } from './worker-pool.js';
import type { WasmTransport } from './worker-protocol.js';

async function rejection(promise: Promise<unknown>): Promise<AetherError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return err as AetherError;
  }
  throw new Error('expected the promise to reject');
}

function request(code: Uint8Array, input: string, timeoutMs = 30_000): PoolRequest {
  const info = inspectModule(code, { maxModuleBytes: 1 << 24, memoryLimitBytes: 1 << 24 });
  return {
    key: `${info.hash}:256`,
    module: new WebAssembly.Module(code as Uint8Array<ArrayBuffer>),
    input: new TextEncoder().encode(input),
    spec: { memoryLimitBytes: 1 << 24, maxOutputBytes: 1 << 20, memory: info.memory },
    timeoutMs,
  };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A worker main as a data: URL (ESM). */
const workerScript = (source: string) => new URL(`data:text/javascript,${encodeURIComponent(source)}`);

/** Says it is ready, then throws as soon as a request arrives, over either transport. */
const CRASH_ON_REQUEST = workerScript(`
  import { parentPort, workerData } from 'node:worker_threads';
  parentPort.postMessage({ type: 'ready' });
  if (workerData.transport === 'message') {
    parentPort.on('message', (m) => { if (m.type === 'run') throw new Error('boom'); });
  } else {
    const header = new Int32Array(workerData.requests, 0, 4);
    Atomics.wait(header, 1, 0); // the tail index moves when a request frame is written
    throw new Error('boom');
  }
`);

/** Dies before it is ever ready. */
const DIE_AT_START = workerScript(`throw new Error('cannot start');`);

describe.each<WasmTransport>(['shared-memory', 'message'])('worker pool over the %s transport', (transport) => {
  it('runs queued requests in FIFO order on a single worker', async () => {
    const pool = createWorkerPool({ transport, size: 1 });
    try {
      const code = echoWasm();
      const done: string[] = [];
      await Promise.all(
        ['a', 'b', 'c', 'd', 'e'].map(async (s) => {
          const res = await pool.run(request(code, s));
          done.push(text(res.stdout));
        }),
      );
      expect(done).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(pool.stats()).toMatchObject({ size: 1, busy: 0, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('posts a module to a worker once and again after evicting it', async () => {
    const pool = createWorkerPool({ transport, size: 1, maxModulesPerWorker: 1 });
    try {
      const echo = request(echoWasm(), 'x');
      const hello = request(helloWasm(), '');
      expect(text((await pool.run(echo)).stdout)).toBe('x');
      expect(text((await pool.run({ ...echo, input: new TextEncoder().encode('y') })).stdout)).toBe('y');
      // holding one module at most: running another evicts echo from the worker,
      // so echo has to be posted again (a worker without it would fail the run)
      expect(text((await pool.run(hello)).stdout)).toBe('hello, world\n');
      expect(text((await pool.run({ ...echo, input: new TextEncoder().encode('z') })).stdout)).toBe('z');
      pool.evict([echo.key]);
      expect(text((await pool.run({ ...echo, input: new TextEncoder().encode('w') })).stdout)).toBe('w');
    } finally {
      await pool.close();
    }
  });

  it('rejects the request of a worker that dies with AETHER_E_WASM_WORKER_CRASHED and replaces the worker', async () => {
    const pool = createWorkerPool({ transport, size: 1, workerUrl: CRASH_ON_REQUEST });
    try {
      const err = await rejection(pool.run(request(echoWasm(), 'x')));
      expect(err.code).toBe('AETHER_E_WASM_WORKER_CRASHED');
      expect(err.retryable).toBe(true);
      expect(pool.stats()).toMatchObject({ size: 1, crashes: 1, replaced: 1 });
      // the replacement takes the next request (and dies the same way)
      expect((await rejection(pool.run(request(echoWasm(), 'y')))).code).toBe('AETHER_E_WASM_WORKER_CRASHED');
      expect(pool.stats().crashes).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('fails queued requests once replacements keep dying, and keeps retrying with backoff', async () => {
    const pool = createWorkerPool({ transport, size: 1, workerUrl: DIE_AT_START });
    try {
      const err = await rejection(pool.run(request(echoWasm(), 'x')));
      expect(err.code).toBe('AETHER_E_WASM_WORKER_CRASHED');
      expect(err.details).toMatchObject({ consecutiveCrashes: 3 });
      expect(pool.stats()).toMatchObject({ crashes: 3, replaced: 3, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('counts a worker that cannot even be created as a crash instead of throwing', async () => {
    // new Worker throws synchronously for a URL scheme it cannot load
    const pool = createWorkerPool({ transport, size: 1, workerUrl: new URL('http://127.0.0.1/worker.js') });
    try {
      const err = await rejection(pool.run(request(echoWasm(), 'x')));
      expect(err.code).toBe('AETHER_E_WASM_WORKER_CRASHED');
      expect(err.details).toMatchObject({ consecutiveCrashes: 3 });
      expect(pool.stats()).toMatchObject({ crashes: 3, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('runs a request whose timeout is beyond what setTimeout can hold instead of timing it out at once', async () => {
    const pool = createWorkerPool({ transport, size: 1 });
    try {
      const res = await pool.run(request(helloWasm(), '', 2 ** 31));
      expect(text(res.stdout)).toBe('hello, world\n');
      expect(pool.stats().timeouts).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('a second close resolves only once the first one has terminated the workers', async () => {
    const pool = createWorkerPool({ transport, size: 1 });
    await pool.run(request(echoWasm(), 'x'));
    let firstDone = false;
    void pool.close().then(() => {
      firstDone = true;
    });
    await pool.close();
    expect(firstDone).toBe(true);
  });

  it('close terminates idle workers (blocked in Atomics.wait for shared memory) and a spinning one', async () => {
    const pool = createWorkerPool({ transport, size: 2 });
    const code = echoWasm();
    // one served request per worker proves both started and went back to waiting
    await Promise.all([pool.run(request(code, '1')), pool.run(request(code, '2'))]);
    const spinning = rejection(pool.run(request(spinWasm(), '', 60_000)));
    await pool.close();
    expect((await spinning).code).toBe('AETHER_E_SHUTTING_DOWN');
    expect(pool.stats()).toMatchObject({ size: 0, busy: 0, crashes: 0 });
    expect((await rejection(pool.run(request(code, '3')))).code).toBe('AETHER_E_SHUTTING_DOWN');
  });
});

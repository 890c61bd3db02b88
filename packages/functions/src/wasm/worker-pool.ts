/**
 * The pool of worker threads that run wasm instances (DESIGN.md section 5).
 * Each worker runs one request at a time; requests beyond the workers wait in
 * a bounded FIFO queue and fail fast with AETHER_E_FN_OVERLOADED past it.
 * A request that outlives its timeout is stopped by terminating its worker
 * (the only way to stop synchronous wasm), and a replacement keeps the pool at
 * size; a worker that dies rejects its request and is replaced, with backoff
 * while replacements keep dying.
 *
 * Compiled modules are posted to a worker once: the pool remembers which keys
 * each worker holds (bounded, least recently used first out) and tells the
 * worker what to evict.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { aetherError, fromErrorBody, toAetherError, type AetherError } from '@aether/core';
import { RingBuffer } from './ring-buffer.js';
import { resolveWorkerPoolOptions, type WorkerPoolOptions } from './worker-pool-options.js';
import type { RunResult } from './run-instance.js';
import {
  FRAME_META_BUDGET_BYTES,
  UNKNOWN_REQUEST_ID,
  decodeResponseFrame,
  encodeRequestFrame,
  toWireError,
  type ControlMessage,
  type FromWorkerMessage,
  type RunMessage,
  type RunSpec,
  type WasmTransport,
  type WorkerInit,
} from './worker-protocol.js';

/** One run of a compiled module. */
export interface PoolRequest {
  /** Cache key of the module (`${hash}:${maxPages}`): what the workers hold it by. */
  key: string;
  module: WebAssembly.Module;
  /** stdin. With the 'message' transport its buffer is transferred (detached) when it holds only these bytes. */
  input: Uint8Array;
  spec: RunSpec;
  timeoutMs: number;
}

export interface WorkerPoolStats {
  /** Live workers (starting, idle or busy). */
  size: number;
  busy: number;
  queued: number;
  /** Workers started to replace a terminated or dead one. */
  replaced: number;
  timeouts: number;
  crashes: number;
}

export interface WorkerPool {
  readonly transport: WasmTransport;
  /** Runs one request on the next free worker. */
  run(request: PoolRequest): Promise<RunResult>;
  /** Makes every worker drop these module keys. */
  evict(keys: string[]): void;
  stats(): WorkerPoolStats;
  /** Terminates every worker; queued and running requests fail with AETHER_E_SHUTTING_DOWN. */
  close(): Promise<void>;
}

interface Job {
  id: number;
  request: PoolRequest;
  /** The request frame ('shared-memory' transport), encoded once at submit. */
  frame?: Uint8Array;
  resolve: (result: RunResult) => void;
  reject: (err: AetherError) => void;
  timer?: NodeJS.Timeout;
  startedAt?: number;
}

interface Rings {
  requests: RingBuffer;
  responses: RingBuffer;
  control: MessagePort;
}

interface PoolWorker {
  seq: number;
  worker: Worker;
  /** retired: terminated on purpose (timeout, close); its exit is not a crash. */
  state: 'starting' | 'idle' | 'busy' | 'retired' | 'dead';
  /** Module keys the worker holds, least recently used first. */
  held: Set<string>;
  job?: Job | undefined;
  rings?: Rings | undefined;
  lastError?: Error | undefined;
}

/** Consecutive crashes after which queued requests are failed instead of waiting for a worker. */
const CRASH_STREAK_FAILS_QUEUE = 3;
const MAX_BACKOFF_MS = 10_000;
/** Longest delay setTimeout honours; a longer one fires at once (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Starts `size` worker threads. */
export function createWorkerPool(options: WorkerPoolOptions = {}): WorkerPool {
  const opts = resolveWorkerPoolOptions(options);
  const workers = new Set<PoolWorker>();
  const queue: Job[] = [];
  const backoffTimers = new Set<NodeJS.Timeout>();
  let closed = false;
  /** The first close(): later calls wait for the same workers to exit. */
  let closing: Promise<void> | undefined;
  let nextJobId = 1;
  let nextWorkerSeq = 1;
  let replaced = 0;
  let timeouts = 0;
  let crashes = 0;
  let crashStreak = 0;
  /** Exponentially weighted mean of the time a request holds a worker, for Retry-After. */
  let serviceMsEwma: number | undefined;

  const requestRingBytes = opts.maxInputBytes + FRAME_META_BUDGET_BYTES;
  // stdout and stderr together are bounded by maxOutputBytes (wasi.ts)
  const responseRingBytes = opts.maxOutputBytes + FRAME_META_BUDGET_BYTES;

  /** Live workers (starting, idle or busy) and the busy ones; without allocating arrays, as submit calls it per request. */
  function count(): { live: number; busy: number } {
    let live = 0;
    let busy = 0;
    for (const w of workers) {
      if (w.state === 'retired' || w.state === 'dead') continue;
      live++;
      if (w.state === 'busy') busy++;
    }
    return { live, busy };
  }

  function idleWorker(): PoolWorker | undefined {
    for (const w of workers) if (w.state === 'idle') return w;
    return undefined;
  }

  function spawn(): void {
    if (closed) return;
    const seq = nextWorkerSeq++;
    let init: WorkerInit;
    let rings: Rings | undefined;
    const transferList: MessagePort[] = [];
    if (opts.transport === 'shared-memory') {
      const channel = new MessageChannel();
      rings = {
        requests: RingBuffer.create(requestRingBytes),
        responses: RingBuffer.create(responseRingBytes),
        control: channel.port1,
      };
      init = {
        transport: 'shared-memory',
        requests: rings.requests.buffer,
        responses: rings.responses.buffer,
        control: channel.port2,
      };
      transferList.push(channel.port2);
    } else {
      init = { transport: 'message' };
    }
    let worker: Worker;
    try {
      worker = new Worker(opts.workerUrl, { workerData: init, transferList });
    } catch (err) {
      // Out of threads or memory: a replacement that cannot start counts as a crash
      // (backoff, and the queue fails after a streak) instead of throwing out of a timer.
      rings?.control.close();
      crashes++;
      crashStreak++;
      opts.logger.error({ worker: seq, err }, 'cannot start a wasm worker; retrying');
      failQueueAfterStreak();
      replace(Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.max(0, crashStreak - 1)));
      return;
    }
    const w: PoolWorker = { seq, worker, state: 'starting', held: new Set(), rings };
    workers.add(w);
    worker.on('message', (msg: FromWorkerMessage) => onMessage(w, msg));
    worker.on('error', (err) => {
      w.lastError = err;
    });
    worker.on('exit', (code) => onExit(w, code));
  }

  function onMessage(w: PoolWorker, msg: FromWorkerMessage): void {
    if (w.state === 'retired' || w.state === 'dead') return;
    if (msg.type === 'ready') {
      w.state = 'idle';
      pump();
      return;
    }
    finish(w, msg);
  }

  function finish(w: PoolWorker, msg: Exclude<FromWorkerMessage, { type: 'ready' }>): void {
    const job = w.job;
    if (job === undefined || (msg.id !== job.id && msg.id !== UNKNOWN_REQUEST_ID)) {
      opts.logger.warn({ worker: w.seq, id: msg.id }, 'wasm worker answered a request it was not given');
      return;
    }
    clearTimeout(job.timer);
    w.job = undefined;
    w.state = 'idle';
    const heldMs = performance.now() - (job.startedAt ?? performance.now());
    serviceMsEwma = serviceMsEwma === undefined ? heldMs : 0.8 * serviceMsEwma + 0.2 * heldMs;
    if (msg.type === 'result') {
      crashStreak = 0;
      job.resolve(msg.result);
    } else {
      job.reject(fromErrorBody(msg.error));
    }
    pump();
  }

  function onExit(w: PoolWorker, code: number): void {
    const wasRetired = w.state === 'retired';
    w.state = 'dead';
    workers.delete(w);
    w.rings?.responses.wake();
    w.rings?.control.close();
    if (wasRetired || closed) return;
    crashes++;
    crashStreak++;
    const cause = w.lastError;
    opts.logger.error({ worker: w.seq, exitCode: code, err: cause }, 'wasm worker died; replacing it');
    const job = w.job;
    w.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      job.reject(
        aetherError(
          'AETHER_E_WASM_WORKER_CRASHED',
          `the wasm worker died while running the request (exit code ${code}${cause ? `: ${cause.message}` : ''})`,
          { exitCode: code },
          cause,
        ),
      );
    }
    failQueueAfterStreak();
    replace(crashStreak <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (crashStreak - 2)));
  }

  /** After a streak of crashes, queued requests fail instead of waiting for workers that keep dying. */
  function failQueueAfterStreak(): void {
    if (crashStreak < CRASH_STREAK_FAILS_QUEUE) return;
    for (const queued of queue.splice(0)) {
      queued.reject(
        aetherError(
          'AETHER_E_WASM_WORKER_CRASHED',
          `wasm workers keep dying (${crashStreak} in a row); the request was not run`,
          { consecutiveCrashes: crashStreak },
        ),
      );
    }
  }

  function replace(delayMs: number): void {
    replaced++;
    if (delayMs === 0) {
      spawn();
      return;
    }
    const timer = setTimeout(() => {
      backoffTimers.delete(timer);
      spawn();
    }, delayMs);
    backoffTimers.add(timer);
  }

  function onTimeout(w: PoolWorker, job: Job): void {
    if (w.job !== job || w.state !== 'busy') return;
    timeouts++;
    w.job = undefined;
    retire(w);
    job.reject(
      aetherError(
        'AETHER_E_WASM_TIMEOUT',
        `the function ran past its timeout of ${job.request.timeoutMs} ms and was stopped`,
        { timeoutMs: job.request.timeoutMs },
      ),
    );
    replace(0);
    pump();
  }

  function retire(w: PoolWorker): void {
    w.state = 'retired';
    // wakes the main-thread wait on the response ring so it notices the worker is gone
    w.rings?.responses.wake();
    w.worker.terminate().catch((err: unknown) => {
      opts.logger.warn({ worker: w.seq, err }, 'terminating a wasm worker failed');
    });
  }

  function pump(): void {
    while (queue.length > 0) {
      const w = idleWorker();
      if (w === undefined) return;
      dispatch(w, queue.shift()!);
    }
  }

  /** Posts a control message on the worker's control port (shared-memory) or to the worker (message). */
  function postControl(w: PoolWorker, msg: ControlMessage): void {
    if (w.rings) w.rings.control.postMessage(msg);
    else w.worker.postMessage(msg);
  }

  function holdModule(w: PoolWorker, key: string, module: WebAssembly.Module): void {
    if (w.held.has(key)) {
      w.held.delete(key);
      w.held.add(key);
      return;
    }
    if (w.held.size >= opts.maxModulesPerWorker) {
      const oldest = w.held.values().next().value as string;
      w.held.delete(oldest);
      postControl(w, { type: 'evict', keys: [oldest] });
    }
    postControl(w, { type: 'module', key, module });
    w.held.add(key);
  }

  function dispatch(w: PoolWorker, job: Job): void {
    w.state = 'busy';
    w.job = job;
    job.startedAt = performance.now();
    job.timer = setTimeout(() => onTimeout(w, job), Math.min(job.request.timeoutMs, MAX_TIMER_MS));
    const { key, module, input, spec } = job.request;
    try {
      // the module goes before the request (on the control port for shared
      // memory, so the worker finds it when it drains the port after waking)
      holdModule(w, key, module);
      if (w.rings) {
        if (!w.rings.requests.write(job.frame!)) throw new Error('the request ring of an idle worker is not empty');
        void awaitRingResponse(w, w.rings.responses);
      } else {
        const msg: RunMessage = { type: 'run', id: job.id, key, spec, input: detachable(input) };
        w.worker.postMessage(msg, [msg.input]);
      }
    } catch (err) {
      // the worker's state is unknown: replace it rather than reuse it
      clearTimeout(job.timer);
      w.job = undefined;
      retire(w);
      replace(0);
      job.reject(toAetherError(err));
    }
  }

  async function awaitRingResponse(w: PoolWorker, ring: RingBuffer): Promise<void> {
    for (;;) {
      if (w.state !== 'busy') return;
      let frame: Uint8Array | undefined;
      try {
        frame = ring.read();
        if (frame !== undefined) finish(w, decodeResponseFrame(frame));
      } catch (err) {
        finish(w, { type: 'failed', id: UNKNOWN_REQUEST_ID, error: toWireError(err) });
        return;
      }
      if (frame !== undefined) return;
      await ring.waitForDataAsync();
    }
  }

  function submit(request: PoolRequest): Promise<RunResult> {
    if (closed) return Promise.reject(shuttingDown());
    if (request.input.byteLength > opts.maxInputBytes) {
      return Promise.reject(
        aetherError(
          'AETHER_E_PAYLOAD_TOO_LARGE',
          `the input is ${request.input.byteLength} bytes, above the limit of ${opts.maxInputBytes} bytes`,
          { sizeBytes: request.input.byteLength, maxBytes: opts.maxInputBytes },
        ),
      );
    }
    const { live, busy } = count();
    // waiting requests are allowed up to maxQueue beyond the workers (starting ones included)
    if (busy + queue.length >= live + opts.maxQueue) {
      return Promise.reject(
        aetherError('AETHER_E_FN_OVERLOADED', `all ${live} wasm workers are busy and the queue is full`, {
          retryAfterMs: retryAfterMs(live),
          queued: queue.length,
          maxQueue: opts.maxQueue,
        }),
      );
    }
    const id = nextJobId++;
    let frame: Uint8Array | undefined;
    if (opts.transport === 'shared-memory') {
      frame = encodeRequestFrame({ id, key: request.key, spec: request.spec, input: request.input });
      if (frame.byteLength > requestRingBytes) {
        return Promise.reject(
          aetherError('AETHER_E_PAYLOAD_TOO_LARGE', 'the request (input, env and args) does not fit the request ring', {
            sizeBytes: frame.byteLength,
            maxBytes: requestRingBytes,
          }),
        );
      }
    }
    return new Promise<RunResult>((resolve, reject) => {
      queue.push({ id, request, resolve, reject, ...(frame ? { frame } : {}) });
      pump();
    });
  }

  function retryAfterMs(liveWorkers: number): number {
    const perRequest = serviceMsEwma ?? 100;
    const ahead = queue.length + liveWorkers;
    return Math.min(60_000, Math.max(10, Math.ceil((perRequest * ahead) / Math.max(1, liveWorkers))));
  }

  async function closeAll(): Promise<void> {
    closed = true;
    for (const t of backoffTimers) clearTimeout(t);
    backoffTimers.clear();
    for (const job of queue.splice(0)) job.reject(shuttingDown());
    const exits: Promise<unknown>[] = [];
    for (const w of workers) {
      const job = w.job;
      w.job = undefined;
      if (job) {
        clearTimeout(job.timer);
        job.reject(shuttingDown());
      }
      if (w.state === 'dead') continue;
      w.state = 'retired';
      w.rings?.responses.wake();
      exits.push(w.worker.terminate());
    }
    await Promise.allSettled(exits);
  }
  for (let i = 0; i < opts.size; i++) spawn();

  return {
    transport: opts.transport,
    run: submit,
    evict(keys) {
      for (const w of workers) {
        const drop = keys.filter((k) => w.held.delete(k));
        if (drop.length === 0 || w.state === 'retired' || w.state === 'dead') continue;
        postControl(w, { type: 'evict', keys: drop });
      }
    },
    stats() {
      const { live, busy } = count();
      return {
        size: live,
        busy,
        queued: queue.length,
        replaced,
        timeouts,
        crashes,
      };
    },
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
}

function shuttingDown(): AetherError {
  return aetherError('AETHER_E_SHUTTING_DOWN', 'the wasm runtime is shutting down');
}

/** An ArrayBuffer holding exactly `bytes`, safe to transfer (copied when it is a view of something larger). */
function detachable(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer;
  }
  return bytes.slice().buffer;
}

/**
 * What the main thread and a wasm worker thread say to each other, shared by
 * worker-pool.ts and worker-entry.ts. Messages are unions discriminated by
 * `type`; requests carry ids. In the 'shared-memory' transport the run request
 * and its response travel as ring-buffer frames: `[u32 metaLength][meta JSON]`
 * followed by the raw bytes (input, or stdout then stderr), so the bulk data is
 * never JSON-encoded or structured-cloned.
 */
import type { MessagePort } from 'node:worker_threads';
import { toAetherError } from '@aether/core';
import type { ModuleMemory } from './module-inspect.js';
import type { RunResult } from './run-instance.js';

/** How request and response bytes move between threads. */
export type WasmTransport = 'shared-memory' | 'message';

/**
 * The transport when none is configured: the faster one in `npm run bench --
 * wasm-transport`. 'shared-memory' led while every run allocated its own
 * memory; since runs reuse pooled memories, 'message' serves more requests
 * (2 cores, tiny input: 12.3k vs 9.6k req/s at concurrency 4).
 */
export const DEFAULT_WASM_TRANSPORT: WasmTransport = 'message';

/** How one instance runs: the `runInstance` options besides the module and stdin. */
export interface RunSpec {
  memoryLimitBytes: number;
  maxOutputBytes: number;
  memory: ModuleMemory;
  env?: Record<string, string> | undefined;
  args?: string[] | undefined;
}

/** An error as it crosses the thread boundary; turned back into an AetherError. */
export interface WireError {
  code: string;
  message: string;
}

/** Handed to each worker at start (`workerData`). */
export type WorkerInit =
  | { transport: 'message' }
  | {
      transport: 'shared-memory';
      /** main -> worker ring of run requests */
      requests: SharedArrayBuffer;
      /** worker -> main ring of responses */
      responses: SharedArrayBuffer;
      /** side channel for module and evict messages, read with receiveMessageOnPort */
      control: MessagePort;
    };

/** Main -> worker, on the worker (message) or the control port (shared-memory). */
export type ControlMessage =
  { type: 'module'; key: string; module: WebAssembly.Module } | { type: 'evict'; keys: string[] };

/** Main -> worker in the 'message' transport; `input` is transferred. */
export interface RunMessage {
  type: 'run';
  id: number;
  key: string;
  spec: RunSpec;
  input: ArrayBuffer;
}

export type ToWorkerMessage = ControlMessage | RunMessage;

/** The metadata of a RunResult, without its bytes. */
export type ResultMeta = Omit<RunResult, 'stdout' | 'stderr'>;

/** Worker -> main. `id` is -1 when a corrupt request frame hid the id. */
export type FromWorkerMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; result: RunResult }
  | { type: 'failed'; id: number; error: WireError };

/** The id a worker reports when it could not read the request's own id. */
export const UNKNOWN_REQUEST_ID = -1;

/** Room reserved in a ring frame for the JSON metadata next to the bulk bytes. */
export const FRAME_META_BUDGET_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frame(meta: unknown, parts: Uint8Array[]): Uint8Array {
  const metaBytes = encoder.encode(JSON.stringify(meta));
  const total = 4 + metaBytes.byteLength + parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, metaBytes.byteLength, true);
  out.set(metaBytes, 4);
  let at = 4 + metaBytes.byteLength;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function unframe(bytes: Uint8Array): { meta: unknown; rest: Uint8Array } {
  if (bytes.byteLength < 4) throw new Error(`frame of ${bytes.byteLength} B has no metadata length`);
  const metaLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (4 + metaLength > bytes.byteLength) throw new Error(`frame metadata length ${metaLength} exceeds the frame`);
  const meta: unknown = JSON.parse(decoder.decode(bytes.subarray(4, 4 + metaLength)));
  return { meta, rest: bytes.subarray(4 + metaLength) };
}

/** A run request in ring-frame form. */
export interface RequestFrame {
  id: number;
  key: string;
  spec: RunSpec;
  input: Uint8Array;
}

export function encodeRequestFrame(req: RequestFrame): Uint8Array {
  return frame({ id: req.id, key: req.key, spec: req.spec }, [req.input]);
}

export function decodeRequestFrame(bytes: Uint8Array): RequestFrame {
  const { meta, rest } = unframe(bytes);
  const m = meta as Omit<RequestFrame, 'input'>;
  if (typeof m.id !== 'number' || typeof m.key !== 'string' || typeof m.spec !== 'object') {
    throw new Error('request frame metadata is malformed');
  }
  return { id: m.id, key: m.key, spec: m.spec, input: rest };
}

type ResponseMeta =
  | { type: 'result'; id: number; result: ResultMeta; stdoutBytes: number; stderrBytes: number }
  | { type: 'failed'; id: number; error: WireError };

export function encodeResponseFrame(msg: Exclude<FromWorkerMessage, { type: 'ready' }>): Uint8Array {
  if (msg.type === 'failed') return frame(msg, []);
  const { stdout, stderr, ...result } = msg.result;
  const meta: ResponseMeta = {
    type: 'result',
    id: msg.id,
    result,
    stdoutBytes: stdout.byteLength,
    stderrBytes: stderr.byteLength,
  };
  return frame(meta, [stdout, stderr]);
}

export function decodeResponseFrame(bytes: Uint8Array): Exclude<FromWorkerMessage, { type: 'ready' }> {
  const { meta, rest } = unframe(bytes);
  const m = meta as ResponseMeta;
  if (m.type === 'failed') return m;
  if (m.type !== 'result' || m.stdoutBytes + m.stderrBytes !== rest.byteLength) {
    throw new Error('response frame metadata is malformed');
  }
  return {
    type: 'result',
    id: m.id,
    result: {
      ...m.result,
      stdout: rest.subarray(0, m.stdoutBytes),
      stderr: rest.subarray(m.stdoutBytes),
    },
  };
}

/** Turns anything thrown in a worker into its wire form. */
export function toWireError(err: unknown): WireError {
  const e = toAetherError(err);
  return { code: e.code, message: e.message };
}

/**
 * The main of a wasm worker thread. It keeps the compiled modules the main
 * thread posted (the main thread decides which, and tells it what to evict)
 * and runs one request at a time: wasm runs synchronously, so a worker is busy
 * until its instance ends or the main thread terminates it. The thread's
 * MemoryPool hands each run a zeroed memory it reuses (modules import their
 * memory), which saves the memory allocation that dominated a small run.
 *
 * 'message' transport: requests arrive as worker messages, results leave as
 * messages with their byte buffers transferred.
 * 'shared-memory' transport: the thread never returns to its event loop. It
 * blocks in Atomics.wait on the request ring, pulls pending module/evict
 * messages from the control port with receiveMessageOnPort (the main thread
 * posts them before writing the request frame), runs, and writes the response
 * frame to the response ring.
 *
 * Nothing thrown here crosses the boundary except as `{code, message}`.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { aetherError } from '@aether/core';
import { createMemoryPool } from './memory-pool.js';
import { RingBuffer } from './ring-buffer.js';
import { runInstance, type RunResult } from './run-instance.js';
import {
  UNKNOWN_REQUEST_ID,
  decodeRequestFrame,
  encodeResponseFrame,
  toWireError,
  type ControlMessage,
  type FromWorkerMessage,
  type RunSpec,
  type ToWorkerMessage,
  type WorkerInit,
} from './worker-protocol.js';

const modules = new Map<string, WebAssembly.Module>();
/** This thread's memories; never shared with another thread. */
const memoryPool = createMemoryPool();

function applyControl(msg: ControlMessage): void {
  if (msg.type === 'module') modules.set(msg.key, msg.module);
  else for (const key of msg.keys) modules.delete(key);
}

function run(key: string, input: Uint8Array, spec: RunSpec): RunResult {
  const module = modules.get(key);
  if (module === undefined) {
    throw aetherError('AETHER_E_INTERNAL', `wasm worker holds no module ${key}`, { key });
  }
  // RunSpec is the runInstance options besides the pool (args and env may be undefined: the defaults apply)
  return runInstance(module, input, { ...spec, memoryPool });
}

/** Posts a message, transferring the result's buffers when they can be detached. */
function postResult(port: MessagePort, msg: FromWorkerMessage): void {
  if (msg.type !== 'result') {
    port.postMessage(msg);
    return;
  }
  const transfer = [msg.result.stdout, msg.result.stderr]
    .filter((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer)
    .map((b) => b.buffer as ArrayBuffer);
  try {
    port.postMessage(msg, transfer);
  } catch {
    // a buffer that cannot be detached (e.g. shared with the instance) is copied instead
    port.postMessage(msg);
  }
}

function serveMessages(port: MessagePort): void {
  port.on('message', (msg: ToWorkerMessage) => {
    if (msg.type !== 'run') {
      applyControl(msg);
      return;
    }
    let reply: FromWorkerMessage;
    try {
      reply = { type: 'result', id: msg.id, result: run(msg.key, new Uint8Array(msg.input), msg.spec) };
    } catch (err) {
      reply = { type: 'failed', id: msg.id, error: toWireError(err) };
    }
    postResult(port, reply);
  });
}

function serveSharedMemory(init: Extract<WorkerInit, { transport: 'shared-memory' }>): never {
  const requests = new RingBuffer(init.requests);
  const responses = new RingBuffer(init.responses);
  for (;;) {
    let frame: Uint8Array | undefined;
    let reply: Exclude<FromWorkerMessage, { type: 'ready' }>;
    try {
      frame = requests.read();
      if (frame === undefined) {
        requests.waitForData();
        continue;
      }
      for (let m = receiveMessageOnPort(init.control); m !== undefined; m = receiveMessageOnPort(init.control)) {
        applyControl(m.message as ControlMessage);
      }
      const req = decodeRequestFrame(frame);
      try {
        reply = { type: 'result', id: req.id, result: run(req.key, req.input, req.spec) };
      } catch (err) {
        reply = { type: 'failed', id: req.id, error: toWireError(err) };
      }
    } catch (err) {
      // a corrupt or unreadable frame: the main thread has one request in flight, so -1 names it
      reply = { type: 'failed', id: UNKNOWN_REQUEST_ID, error: toWireError(err) };
    }
    let out = encodeResponseFrame(reply);
    if (out.byteLength > responses.maxMessageBytes) {
      out = encodeResponseFrame({
        type: 'failed',
        id: reply.id,
        error: {
          code: 'AETHER_E_WASM_OUTPUT_TOO_LARGE',
          message: `the response (${out.byteLength} B) does not fit in the ${responses.maxMessageBytes} B response ring`,
        },
      });
    }
    // the ring is empty here: the main thread reads each response before sending the next request
    if (!responses.write(out)) throw new Error('wasm worker response ring is full');
  }
}

const init = workerData as WorkerInit;
if (parentPort === null) throw new Error('worker-entry must run as a worker thread');
parentPort.postMessage({ type: 'ready' } satisfies FromWorkerMessage);
if (init.transport === 'message') serveMessages(parentPort);
else serveSharedMemory(init);

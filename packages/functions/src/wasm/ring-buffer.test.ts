import { Worker } from 'node:worker_threads';
import { AetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, RING_HEADER_BYTES, RingBuffer } from './ring-buffer.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
const filled = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

describe('RingBuffer', () => {
  it('returns undefined when empty and messages in FIFO order', () => {
    const ring = RingBuffer.create(64);
    expect(ring.read()).toBeUndefined();
    expect(ring.write(bytes(1, 2, 3))).toBe(true);
    expect(ring.write(bytes())).toBe(true);
    expect(ring.write(bytes(4))).toBe(true);
    expect(ring.read()).toEqual(bytes(1, 2, 3));
    expect(ring.read()).toEqual(bytes());
    expect(ring.read()).toEqual(bytes(4));
    expect(ring.read()).toBeUndefined();
    expect(ring.usedBytes()).toBe(0);
  });

  it('always fits one message of maxMessageBytes in an empty ring', () => {
    const ring = RingBuffer.create(100);
    expect(ring.maxMessageBytes).toBe(100);
    expect(ring.write(filled(101, 0))).toBe(false);
    expect(ring.write(filled(100, 0))).toBe(true);
    expect(ring.read()).toEqual(filled(100, 0));
  });

  it('refuses a write that does not fit and leaves the ring readable', () => {
    const ring = RingBuffer.create(40);
    expect(ring.write(filled(20, 1))).toBe(true);
    expect(ring.write(filled(20, 2))).toBe(false);
    expect(ring.usedBytes()).toBe(28);
    expect(ring.read()).toEqual(filled(20, 1));
    expect(ring.write(filled(20, 2))).toBe(true);
    expect(ring.read()).toEqual(filled(20, 2));
  });

  it('holds exactly capacity bytes when full, then accepts nothing more', () => {
    const ring = RingBuffer.create(24); // capacity 32: two frames of 8 + 8
    expect(ring.write(filled(8, 1))).toBe(true);
    expect(ring.write(filled(8, 2))).toBe(true);
    expect(ring.usedBytes()).toBe(ring.capacity);
    expect(ring.write(bytes())).toBe(false);
    expect(ring.read()).toEqual(filled(8, 1));
    expect(ring.read()).toEqual(filled(8, 2));
    expect(ring.read()).toBeUndefined();
  });

  it('wraps frames (header and payload) around the end of the data area', () => {
    const ring = RingBuffer.create(33); // capacity 41, prime, so frames land on every offset
    for (let round = 0; round < 200; round++) {
      const a = filled(round % 13, round);
      const b = filled((round * 7) % 11, round + 1);
      expect(ring.write(a)).toBe(true);
      expect(ring.write(b)).toBe(true);
      expect(ring.read()).toEqual(a);
      expect(ring.read()).toEqual(b);
    }
    expect(ring.usedBytes()).toBe(0);
  });

  it('carries many messages between threads in order, the consumer blocking in Atomics.wait', async () => {
    const toWorker = RingBuffer.create(1000);
    const toMain = RingBuffer.create(1000);
    const count = 5000;
    // The worker echoes every frame back with its bytes reversed.
    const worker = new Worker(
      `
      const { workerData } = require('node:worker_threads');
      const { crc32 } = require('node:zlib');
      ${echoWorkerSource}
      `,
      { eval: true, workerData: { requests: toWorker.buffer, responses: toMain.buffer, count } },
    );
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    try {
      let sent = 0;
      let received = 0;
      while (received < count) {
        while (sent < count && sent - received < 20 && toWorker.write(filled(sent % 300, sent))) sent++;
        const frame = toMain.read();
        if (frame === undefined) {
          await toMain.waitForDataAsync();
          continue;
        }
        expect(frame).toEqual(filled(received % 300, received).reverse());
        received++;
      }
      expect(await exited).toBe(0);
    } finally {
      await worker.terminate();
    }
  });

  it('detects a payload byte flipped in shared memory and reads the next frame after it', () => {
    const ring = RingBuffer.create(64);
    ring.write(bytes(10, 20, 30, 40));
    ring.write(bytes(50));
    const raw = new Uint8Array(ring.buffer);
    raw[RING_HEADER_BYTES + FRAME_HEADER_BYTES + 2]! ^= 0x01;
    let caught: unknown;
    try {
      ring.read();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AetherError);
    expect((caught as AetherError).code).toBe('AETHER_E_WASM_TRANSPORT_CORRUPT');
    expect(ring.read()).toEqual(bytes(50));
  });

  it('detects a corrupt length and drops everything unread', () => {
    const ring = RingBuffer.create(64);
    ring.write(bytes(1, 2));
    ring.write(bytes(3));
    new DataView(ring.buffer).setUint32(RING_HEADER_BYTES, 1000, true);
    expect(() => ring.read()).toThrow(expect.objectContaining({ code: 'AETHER_E_WASM_TRANSPORT_CORRUPT' }));
    expect(ring.read()).toBeUndefined();
    expect(ring.write(bytes(9))).toBe(true);
    expect(ring.read()).toEqual(bytes(9));
  });

  it('resolves waitForDataAsync when the other side writes, and on wake()', async () => {
    const ring = RingBuffer.create(16);
    const other = new RingBuffer(ring.buffer);
    const waiting = ring.waitForDataAsync();
    other.write(bytes(7));
    expect(await waiting).toBe(true);
    expect(ring.read()).toEqual(bytes(7));
    const woken = ring.waitForDataAsync();
    ring.wake();
    expect(await woken).toBe(true);
    expect(ring.read()).toBeUndefined();
    expect(await ring.waitForDataAsync(1)).toBe(false);
  });
});

// Plain JS run by the test worker: a minimal consumer/producer of the same
// frame format, so the test also checks the layout against an independent reader.
const echoWorkerSource = `
const HEADER = ${RING_HEADER_BYTES};
function ring(sab) {
  const h = new Int32Array(sab, 0, HEADER / 4);
  const cap = sab.byteLength - HEADER;
  const data = new Uint8Array(sab, HEADER, cap);
  const used = () => (Atomics.load(h, 1) - Atomics.load(h, 0) + 2 * cap) % (2 * cap);
  const copyOut = (at, n) => { const out = new Uint8Array(n); for (let i = 0; i < n; i++) out[i] = data[(at + i) % cap]; return out; };
  const copyIn = (at, b) => { for (let i = 0; i < b.length; i++) data[(at + i) % cap] = b[i]; };
  return {
    read() {
      while (used() === 0) Atomics.wait(h, 1, Atomics.load(h, 1));
      const head = Atomics.load(h, 0);
      const hdr = new DataView(copyOut(head % cap, 8).buffer);
      const len = hdr.getUint32(0, true);
      const payload = copyOut((head + 8) % cap, len);
      if (crc32(payload) !== hdr.getUint32(4, true)) throw new Error('crc');
      Atomics.store(h, 0, (head + 8 + len) % (2 * cap));
      return payload;
    },
    write(b) {
      while (cap - used() < 8 + b.length) Atomics.wait(h, 0, Atomics.load(h, 0));
      const tail = Atomics.load(h, 1);
      const hdr = new Uint8Array(8);
      new DataView(hdr.buffer).setUint32(0, b.length, true);
      new DataView(hdr.buffer).setUint32(4, crc32(b), true);
      copyIn(tail % cap, hdr);
      copyIn((tail + 8) % cap, b);
      Atomics.store(h, 1, (tail + 8 + b.length) % (2 * cap));
      Atomics.notify(h, 1);
    },
  };
}
const requests = ring(workerData.requests);
const responses = ring(workerData.responses);
for (let i = 0; i < workerData.count; i++) responses.write(requests.read().reverse());
`;

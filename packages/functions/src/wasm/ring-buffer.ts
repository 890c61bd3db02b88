/**
 * A single-producer single-consumer ring buffer of byte messages over a
 * SharedArrayBuffer: the 'shared-memory' transport between the main thread and
 * a wasm worker. Each message is a frame `[u32 length][u32 crc32][payload]`
 * that may wrap around the end of the data area; the CRC32 catches a frame
 * torn or overwritten in shared memory before it is decoded.
 *
 * Indices are free-running byte positions in [0, 2 * capacity) so that a full
 * ring (used == capacity) differs from an empty one (used == 0) without
 * wasting a byte. Only the consumer moves `head`, only the producer moves
 * `tail`; both are published with Atomics so the payload written before a
 * `tail` store is visible to a consumer that loads that `tail`.
 */
import { crc32 } from 'node:zlib';
import { aetherError } from '@aether/core';

const HEAD = 0;
const TAIL = 1;
/** Bytes before the data area: the Int32Array header (head, tail, 2 spare). */
export const RING_HEADER_BYTES = 16;
/** Bytes of a frame before its payload: `[u32 length][u32 crc32]`. */
export const FRAME_HEADER_BYTES = 8;

// Atomics.waitAsync ships in Node 20 (V8) but in TypeScript's ES2024 lib only.
type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync: WaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** A ring buffer view over a SharedArrayBuffer; both threads build one over the same buffer. */
export class RingBuffer {
  /** The shared buffer to post to the other thread. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes in the data area. */
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly scratch = new Uint8Array(FRAME_HEADER_BYTES);
  private readonly scratchView = new DataView(this.scratch.buffer);

  /** Allocates a ring whose empty state holds one message of up to `maxMessageBytes`. */
  static create(maxMessageBytes: number): RingBuffer {
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1) {
      throw new RangeError(`ring buffer message size must be a positive integer, got ${maxMessageBytes}`);
    }
    return new RingBuffer(new SharedArrayBuffer(RING_HEADER_BYTES + FRAME_HEADER_BYTES + maxMessageBytes));
  }

  constructor(buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength - RING_HEADER_BYTES;
    // positions run to 2 * capacity and must stay positive int32 values
    if (capacity <= FRAME_HEADER_BYTES || capacity > 0x3fff_ffff) {
      throw new RangeError(`ring buffer data area must be 9 B .. 1 GiB, got ${capacity} B`);
    }
    this.buffer = buffer;
    this.capacity = capacity;
    this.header = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
    this.data = new Uint8Array(buffer, RING_HEADER_BYTES, capacity);
    this.view = new DataView(buffer, RING_HEADER_BYTES, capacity);
  }

  /** Largest payload that fits in an empty ring. */
  get maxMessageBytes(): number {
    return this.capacity - FRAME_HEADER_BYTES;
  }

  /** Bytes held by unread frames. */
  usedBytes(): number {
    return this.distance(Atomics.load(this.header, HEAD), Atomics.load(this.header, TAIL));
  }

  /**
   * Producer: appends one message and wakes a waiting consumer. Returns false,
   * writing nothing, when the frame does not fit in the free space.
   */
  write(bytes: Uint8Array): boolean {
    const head = Atomics.load(this.header, HEAD);
    const tail = Atomics.load(this.header, TAIL);
    const frameBytes = FRAME_HEADER_BYTES + bytes.byteLength;
    if (frameBytes > this.capacity - this.distance(head, tail)) return false;
    const at = tail % this.capacity;
    if (at + FRAME_HEADER_BYTES <= this.capacity) {
      this.view.setUint32(at, bytes.byteLength, true);
      this.view.setUint32(at + 4, crc32(bytes), true);
    } else {
      this.scratchView.setUint32(0, bytes.byteLength, true);
      this.scratchView.setUint32(4, crc32(bytes), true);
      this.copyIn(at, this.scratch);
    }
    this.copyIn((at + FRAME_HEADER_BYTES) % this.capacity, bytes);
    Atomics.store(this.header, TAIL, (tail + frameBytes) % (2 * this.capacity));
    Atomics.notify(this.header, TAIL);
    return true;
  }

  /**
   * Consumer: takes the oldest message (a copy), or undefined when the ring is
   * empty. A frame whose CRC32 does not match throws
   * AETHER_E_WASM_TRANSPORT_CORRUPT; it is dropped, so the next read sees the
   * following frame. A frame whose length is impossible drops everything unread.
   */
  read(): Uint8Array | undefined {
    const head = Atomics.load(this.header, HEAD);
    const tail = Atomics.load(this.header, TAIL);
    const used = this.distance(head, tail);
    if (used === 0) return undefined;
    const at = head % this.capacity;
    let length: number;
    let expected: number;
    if (at + FRAME_HEADER_BYTES <= this.capacity) {
      length = this.view.getUint32(at, true);
      expected = this.view.getUint32(at + 4, true);
    } else {
      this.copyOut(at, this.scratch);
      length = this.scratchView.getUint32(0, true);
      expected = this.scratchView.getUint32(4, true);
    }
    if (used < FRAME_HEADER_BYTES || length > used - FRAME_HEADER_BYTES) {
      Atomics.store(this.header, HEAD, tail);
      Atomics.notify(this.header, HEAD);
      throw aetherError(
        'AETHER_E_WASM_TRANSPORT_CORRUPT',
        `ring buffer frame length ${length} exceeds the ${used} B unread`,
        {
          length,
          unreadBytes: used,
        },
      );
    }
    const payload = new Uint8Array(length);
    this.copyOut((at + FRAME_HEADER_BYTES) % this.capacity, payload);
    Atomics.store(this.header, HEAD, (head + FRAME_HEADER_BYTES + length) % (2 * this.capacity));
    Atomics.notify(this.header, HEAD);
    const actual = crc32(payload);
    if (actual !== expected) {
      throw aetherError('AETHER_E_WASM_TRANSPORT_CORRUPT', 'ring buffer frame failed its CRC32 check', {
        length,
        expectedCrc32: expected,
        actualCrc32: actual,
      });
    }
    return payload;
  }

  /**
   * Consumer, worker side: blocks the thread until a frame may be readable or
   * `timeoutMs` passes. Returns false on timeout. Never call it on the main thread.
   */
  waitForData(timeoutMs = Infinity): boolean {
    const tail = Atomics.load(this.header, TAIL);
    if (this.distance(Atomics.load(this.header, HEAD), tail) > 0) return true;
    return Atomics.wait(this.header, TAIL, tail, timeoutMs) !== 'timed-out';
  }

  /**
   * Consumer, main thread: resolves when a frame may be readable, or false
   * after `timeoutMs`. Does not block and does not keep the event loop alive.
   * `wake()` resolves it early (used when the producer thread is gone).
   */
  async waitForDataAsync(timeoutMs = Infinity): Promise<boolean> {
    const tail = Atomics.load(this.header, TAIL);
    if (this.distance(Atomics.load(this.header, HEAD), tail) > 0) return true;
    const waited = waitAsync(this.header, TAIL, tail, timeoutMs);
    const outcome = waited.async ? await waited.value : waited.value;
    return outcome !== 'timed-out';
  }

  /** Wakes every waiter on this ring without writing (shutdown, dead peer). */
  wake(): void {
    Atomics.notify(this.header, TAIL);
    Atomics.notify(this.header, HEAD);
  }

  private distance(head: number, tail: number): number {
    return (tail - head + 2 * this.capacity) % (2 * this.capacity);
  }

  private copyIn(at: number, bytes: Uint8Array): void {
    const first = Math.min(bytes.byteLength, this.capacity - at);
    this.data.set(bytes.subarray(0, first), at);
    if (first < bytes.byteLength) this.data.set(bytes.subarray(first), 0);
  }

  private copyOut(at: number, into: Uint8Array): void {
    const first = Math.min(into.byteLength, this.capacity - at);
    into.set(this.data.subarray(at, at + first), 0);
    if (first < into.byteLength) into.set(this.data.subarray(0, into.byteLength - first), first);
  }
}

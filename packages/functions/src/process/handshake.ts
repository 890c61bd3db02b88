/**
 * Seed 000's READY handshake: Aether listens on a Unix socket named by
 * AETHER_SOCKET; the handler connects and sends exactly the 5 bytes `READY`.
 * Anything else (other bytes, more bytes in the first message, a connection
 * closed early) is a protocol violation reported with the bytes received.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

const READY = Buffer.from('READY');

/** What the handler did on its socket. */
export type HandshakeOutcome = { ok: true } | { ok: false; received: Buffer };

/** A socket waiting for one handler's READY. */
export interface Handshake {
  /** Settles once: READY, or the bytes that were not READY. */
  readonly outcome: Promise<HandshakeOutcome>;
  /** Stops listening and removes the socket file (the handler's open connection is kept). */
  close(): void;
}

/** Listens on `socketPath` (removing a stale file first) and resolves once listening. */
export async function listenForReady(socketPath: string): Promise<Handshake> {
  rmSync(socketPath, { force: true });
  let settle!: (o: HandshakeOutcome) => void;
  const outcome = new Promise<HandshakeOutcome>((resolve) => (settle = resolve));
  let done = false;
  const finish = (o: HandshakeOutcome): void => {
    if (done) return;
    done = true;
    settle(o);
  };
  const peers: Socket[] = [];
  const server: Server = createServer((socket) => {
    peers.push(socket);
    let got = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      got = Buffer.concat([got, chunk]);
      const n = Math.min(got.length, READY.length);
      if (!got.subarray(0, n).equals(READY.subarray(0, n)) || got.length > READY.length) {
        finish({ ok: false, received: got });
      } else if (got.length === READY.length) finish({ ok: true });
    });
    socket.on('end', () => finish({ ok: false, received: got }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    outcome,
    close() {
      server.close();
      // Handlers keep their socket open for their lifetime; do not hold the event loop on it.
      for (const p of peers) p.unref();
      rmSync(socketPath, { force: true });
    },
  };
}

/** The received bytes for an error message: printable text quoted, else hex. */
export function describeBytes(bytes: Buffer): string {
  if (bytes.length === 0) return 'nothing (the connection was closed)';
  const shown = bytes.subarray(0, 64);
  const text = shown.toString('latin1');
  const printable = /^[\x20-\x7e]*$/.test(text);
  const more = bytes.length > shown.length ? ` ... (${bytes.length} bytes)` : '';
  return printable ? `${JSON.stringify(text)}${more}` : `0x${shown.toString('hex')}${more}`;
}

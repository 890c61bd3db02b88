/**
 * The fast path of the gateway (`ANY /functions/{id}/*` on the node's HTTP
 * port): client connections are read as raw bytes, each request head is
 * parsed just enough to route it and to know where the message ends
 * (http1.ts), its request line is rewritten to the sub-path, and the bytes
 * are relayed to an upstream keep-alive connection of the instance the pool
 * picked for that request; the response comes back the same way with an
 * `x-aether-instance` header added. No HTTP objects, no body parsing, no
 * copies beyond the head: measured at ~3x the throughput of a node:http +
 * undici proxy here, which is what the gateway was.
 *
 * Routing is per request (a keep-alive client is not pinned to an instance:
 * each request takes a pool slot, so scaling, queueing and rollouts see
 * requests), while the upstream connection stays with the client connection
 * as long as the pool keeps picking the same instance.
 *
 * Whatever the relay does not take — another path, an unknown function, a
 * missing token, a malformed or ambiguous head — is handed, with the bytes
 * already read, to node:http (the API app), which answers it; from then on
 * that connection stays with node:http, where the gateway route still serves
 * `/functions/{id}` (slower). Handing over happens only between requests.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { aetherError, toAetherError, type ErrorCode } from '@aether/core';
import type { ProcessInstance } from '../process/instance.js';
import { writeHttpError } from '../process/trigger-proxy.js';
import {
  ChunkedScanner,
  headEnd,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from './http1.js';

/** A request's hold on an instance, with its upstream connections. */
export interface RelaySlot {
  readonly instance: ProcessInstance;
  /** An idle keep-alive connection to the instance, or a new one. */
  connect(): Socket;
  /** Gives back a connection that is between exchanges (it is closed if the instance is going away). */
  keep(socket: Socket): void;
  release(): void;
}

/** Where a request goes. */
export interface RelayRoute {
  functionId: string;
  /** The request target the instance sees (`/sub/path?query`). */
  path: string;
}

/** What the relay asks of the node. */
export interface HttpRelayOptions {
  /** The route of a request, or null to hand the connection to node:http. */
  route(head: RequestHead): RelayRoute | null;
  /**
   * A slot when one is free now, without waiting; on `prefer` (the instance
   * the connection already holds an upstream connection to) when it has room.
   */
  tryAcquire(functionId: string, prefer?: ProcessInstance): RelaySlot | null;
  /** A slot, after a cold start or a wait in the queue. @throws an AetherError (503 overloaded, no code, ...) */
  acquire(functionId: string): Promise<RelaySlot>;
  timeoutMs(functionId: string): number;
  /** Each request's status and time to the response head (errors of the gateway included). */
  onRequest?: ((functionId: string, status: number, seconds: number) => void) | undefined;
}

/** The relay of one HTTP port. */
export interface HttpRelay {
  /** Takes a new client connection; `handOver` gives it (bytes read so far unshifted) to node:http. */
  accept(socket: Socket, handOver: (socket: Socket) => void): void;
  /** Open client connections. */
  readonly connections: number;
  /** Requests relayed since the start (the others went to node:http). */
  readonly relayed: number;
  /** Ends idle connections now and the others after their current exchange. */
  shutdown(): void;
  /** Closes every connection. */
  destroy(): void;
}

/** node:http's default limit on a head; past it node:http answers 431. */
const MAX_HEAD = 16 * 1024;
/** Client bytes read ahead (pipelined requests) before reading pauses. */
const MAX_AHEAD = 64 * 1024;
/** Idle keep-alive client connections close after this (the runner's answers advertise 65 s). */
const IDLE_MS = 66_000;
/** A held upstream connection idle this long is let go before the runner closes it (65 s). */
const UPSTREAM_IDLE_MS = 55_000;
const SWEEP_MS = 250;

const enum Phase {
  /** Reading a request head. */
  Head,
  /** Waiting for a slot. */
  Wait,
  /** Relaying a request and its response. */
  Exchange,
  /** After 101 Switching Protocols: bytes both ways until either side closes. */
  Tunnel,
  Closed,
}

class Conn {
  phase = Phase.Head;
  /** Client bytes not yet relayed: a partial head, or requests pipelined behind the current one. */
  private ahead: Buffer | null = null;
  lastClient = 0;
  private paused = false;
  private closing = false;
  private clientEnded = false;

  // The current exchange.
  fn = '';
  private req: RequestHead | null = null;
  private headBytes: Buffer | null = null;
  private path = '';
  private slot: RelaySlot | null = null;
  started = 0;
  lastUp = 0;
  private reqLeft = 0;
  private reqScan: ChunkedScanner | null = null;
  private reqDone = true;
  private resHead: Buffer | null = null;
  resStarted = false;
  private resLeft = 0;
  private resScan: ChunkedScanner | null = null;
  private resUntilClose = false;
  private resDone = true;
  private keepClient = true;
  private keepUp = true;

  // The upstream connection this client connection holds.
  private up: Socket | null = null;
  private upSlot: RelaySlot | null = null;

  private readonly onClientData = (d: Buffer): void => this.fromClient(d);
  private readonly onClientEnd = (): void => this.clientEnd();
  private readonly onClientClose = (): void => this.close();
  private readonly onClientDrain = (): void => {
    this.up?.resume();
  };
  private readonly onUpData = (d: Buffer): void => this.fromUpstream(d);
  private readonly onUpEnd = (): void => this.upstreamGone(true);
  private readonly onUpClose = (): void => this.upstreamGone(false);
  private readonly onUpDrain = (): void => {
    if (!this.paused) this.client.resume();
  };

  constructor(
    readonly client: Socket,
    private readonly relay: Relay,
    private readonly handOverTo: (socket: Socket) => void,
  ) {
    client.setNoDelay(true);
    client.on('data', this.onClientData);
    client.on('end', this.onClientEnd);
    client.on('close', this.onClientClose);
    client.on('error', this.onClientClose);
    client.on('drain', this.onClientDrain);
    this.lastClient = relay.clock;
  }

  // ------------------------------------------------------------ client side

  private fromClient(d: Buffer): void {
    this.lastClient = this.relay.clock;
    switch (this.phase) {
      case Phase.Head:
        this.ahead = this.ahead === null ? d : Buffer.concat([this.ahead, d]);
        this.nextRequest();
        return;
      case Phase.Exchange:
        if (!this.reqDone) {
          const end = this.forwardBody(d, 0);
          if (end >= 0 && end < d.length) this.readAhead(d.subarray(end));
          return;
        }
        this.readAhead(d);
        return;
      case Phase.Wait:
        this.readAhead(d);
        return;
      case Phase.Tunnel:
        this.toUpstream(d);
        return;
      case Phase.Closed:
        return;
    }
  }

  /** Keeps bytes that arrived before their turn; stops reading when too many wait. */
  private readAhead(d: Buffer): void {
    this.ahead = this.ahead === null ? d : Buffer.concat([this.ahead, d]);
    if (this.ahead.length > MAX_AHEAD && !this.paused) {
      this.paused = true;
      this.client.pause();
    }
  }

  /** Starts the request at the front of `ahead`, when its head is complete. */
  private nextRequest(): void {
    const buf = this.ahead;
    if (buf === null) return;
    const end = headEnd(buf);
    if (end < 0) {
      if (buf.length > MAX_HEAD) this.handOver();
      return;
    }
    const head = parseRequestHead(buf, end);
    const route = head === null ? null : this.relay.options.route(head);
    if (head === null || route === null) {
      this.handOver();
      return;
    }
    this.ahead = end < buf.length ? buf.subarray(end) : null;
    this.fn = route.functionId;
    this.req = head;
    this.headBytes = buf;
    this.path = route.path;
    this.started = performance.now();
    this.lastUp = this.relay.clock;
    this.reqLeft = head.contentLength > 0 ? head.contentLength : 0;
    this.reqScan = head.chunked ? new ChunkedScanner() : null;
    this.reqDone = !head.chunked && this.reqLeft === 0;
    this.resHead = null;
    this.resStarted = false;
    this.resLeft = 0;
    this.resScan = null;
    this.resUntilClose = false;
    this.resDone = false;
    this.keepClient = !head.close;
    this.keepUp = true;
    this.phase = Phase.Wait;
    const slot = this.relay.options.tryAcquire(route.functionId, this.upSlot?.instance);
    if (slot !== null) {
      this.send(slot);
      return;
    }
    // Bytes arriving meanwhile wait in `ahead` (reading pauses past MAX_AHEAD).
    this.relay.options.acquire(route.functionId).then(
      (s) => {
        if (this.phase !== Phase.Wait) {
          s.release();
          return;
        }
        this.send(s);
      },
      (err: unknown) => {
        if (this.phase !== Phase.Wait) return;
        const e = toAetherError(err);
        const retry = e.details.retryAfterMs;
        this.fail(e.code, e.message, typeof retry === 'number' ? Math.max(1, Math.ceil(retry / 1000)) : undefined);
      },
    );
  }

  /** Sends the request head (rewritten to the sub-path) and the body bytes read so far. */
  private send(slot: RelaySlot): void {
    const head = this.req!;
    this.slot = slot;
    this.phase = Phase.Exchange;
    this.relay.relayed++;
    const up = this.upstreamFor(slot);
    // One buffer for the rewritten head: a single write (no writev) on the hot path.
    const line = `${head.method} ${this.path}`;
    const rest = this.headBytes!.subarray(head.targetEnd, head.end);
    const out = Buffer.allocUnsafe(line.length + rest.length);
    out.write(line, 0, 'latin1');
    rest.copy(out, line.length);
    this.headBytes = null;
    if (this.reqDone || this.ahead === null) {
      up.write(out);
    } else {
      up.cork();
      up.write(out);
      const body = this.ahead;
      this.ahead = null;
      const end = this.forwardBody(body, 0);
      if (end >= 0 && end < body.length) this.ahead = body.subarray(end);
      up.uncork();
      // Reading paused while the body piled up during the wait: the rest of it must flow now.
      if (this.paused && !this.reqDone) {
        this.paused = false;
        this.client.resume();
      }
    }
    if (head.upgrade) this.reqDone = true;
  }

  /** Relays request body bytes from `start`; returns the offset past the request's end, or -1. */
  private forwardBody(d: Buffer, start: number): number {
    if (this.reqScan !== null) {
      const end = this.reqScan.feed(d, start);
      if (this.reqScan.invalid) {
        this.fail('AETHER_E_INVALID_ARGUMENT', `${this.fn}: the request body breaks chunked encoding`);
        return -1;
      }
      this.toUpstream(start === 0 && end < 0 ? d : d.subarray(start, end < 0 ? d.length : end));
      if (end >= 0) this.requestSent();
      return end;
    }
    const take = Math.min(this.reqLeft, d.length - start);
    this.toUpstream(start === 0 && take === d.length ? d : d.subarray(start, start + take));
    this.reqLeft -= take;
    if (this.reqLeft === 0) this.requestSent();
    return start + take;
  }

  private toUpstream(d: Buffer): void {
    const up = this.up;
    if (up === null || up.destroyed) return;
    if (!up.write(d)) this.client.pause();
  }

  private requestSent(): void {
    this.reqDone = true;
    if (this.resDone) this.finish();
  }

  private clientEnd(): void {
    this.clientEnded = true;
    if (this.phase === Phase.Head && this.ahead === null) {
      this.client.end();
      this.close();
    } else if (this.phase === Phase.Tunnel) {
      this.up?.end();
    } else if (!this.reqDone) {
      // The request can never be complete: the instance must not wait for the rest.
      this.close();
    }
  }

  // ---------------------------------------------------------- upstream side

  /** The held upstream connection when it goes to the slot's instance, else a connection of the slot's. */
  private upstreamFor(slot: RelaySlot): Socket {
    if (this.up !== null && this.upSlot!.instance === slot.instance && !this.up.destroyed) {
      this.upSlot = slot;
      return this.up;
    }
    this.letGoUpstream(true);
    const up = slot.connect();
    this.up = up;
    this.upSlot = slot;
    up.on('data', this.onUpData);
    up.on('end', this.onUpEnd);
    up.on('close', this.onUpClose);
    up.on('drain', this.onUpDrain);
    if (up.isPaused()) up.resume();
    return up;
  }

  /** Gives the held upstream connection back to its instance (`reusable`) or closes it. */
  letGoUpstream(reusable: boolean): void {
    const up = this.up;
    if (up === null) return;
    this.up = null;
    up.off('data', this.onUpData);
    up.off('end', this.onUpEnd);
    up.off('close', this.onUpClose);
    up.off('drain', this.onUpDrain);
    if (reusable && !up.destroyed) this.upSlot!.keep(up);
    else up.destroy();
    this.upSlot = null;
  }

  private fromUpstream(d: Buffer): void {
    this.lastUp = this.relay.clock;
    if (this.phase === Phase.Tunnel) {
      if (!this.client.write(d)) this.up?.pause();
      return;
    }
    if (this.phase !== Phase.Exchange || this.resDone) {
      // Bytes nobody asked for: this connection cannot be trusted for another request.
      this.keepUp = false;
      if (this.phase !== Phase.Exchange) this.letGoUpstream(false);
      return;
    }
    if (this.resStarted) {
      this.forwardResponse(d, 0);
      return;
    }
    const buf = this.resHead === null ? d : Buffer.concat([this.resHead, d]);
    const end = headEnd(buf);
    if (end < 0) {
      this.resHead = buf;
      if (buf.length > MAX_HEAD) this.badUpstream('a response head larger than 16 KiB');
      return;
    }
    this.resHead = null;
    const head = parseResponseHead(buf, end);
    if (head === null) {
      this.badUpstream('a response that is not valid HTTP/1.1');
      return;
    }
    if (head.status < 200) {
      this.interim(buf, head);
      return;
    }
    this.relay.options.onRequest?.(this.fn, head.status, (performance.now() - this.started) / 1000);
    const req = this.req!;
    if (req.method === 'HEAD' || head.status === 204 || head.status === 304) this.resLeft = 0;
    else if (head.chunked) this.resScan = new ChunkedScanner();
    else if (head.contentLength >= 0) this.resLeft = head.contentLength;
    else {
      this.resUntilClose = true;
      this.keepClient = false;
    }
    if (head.close) this.keepUp = false;
    this.resStarted = true;
    const client = this.client;
    // The head with x-aether-instance added, and when the whole body is in this chunk (the common
    // case of small answers), the body too: one buffer, one write.
    const extra = `x-aether-instance: ${this.slot!.instance.id}\r\n\r\n`;
    const whole = this.resScan === null && !this.resUntilClose && end + this.resLeft <= buf.length;
    const bodyEnd = whole ? end + this.resLeft : end;
    const out = Buffer.allocUnsafe(bodyEnd + extra.length - 2);
    buf.copy(out, 0, 0, end - 2);
    out.write(extra, end - 2, 'latin1');
    if (bodyEnd > end) buf.copy(out, end - 2 + extra.length, end, bodyEnd);
    if (whole) {
      this.resLeft = 0;
      if (bodyEnd < buf.length) this.keepUp = false;
      if (!client.write(out)) this.up?.pause();
      this.responseDone();
      return;
    }
    client.cork();
    client.write(out);
    if (end < buf.length) this.forwardResponse(buf, end);
    client.uncork();
  }

  /** A 1xx head: forwarded as is; the final head follows (101 turns the connection into a tunnel). */
  private interim(buf: Buffer, head: ResponseHead): void {
    const rest = head.end < buf.length ? buf.subarray(head.end) : null;
    this.client.write(buf.subarray(0, head.end));
    if (head.status === 101 && this.req!.upgrade) {
      this.relay.options.onRequest?.(this.fn, 101, (performance.now() - this.started) / 1000);
      this.phase = Phase.Tunnel;
      this.resStarted = true;
      if (rest !== null) this.client.write(rest);
      if (this.ahead !== null) {
        const early = this.ahead;
        this.ahead = null;
        this.toUpstream(early);
      }
      return;
    }
    if (rest !== null) this.fromUpstream(rest);
  }

  private forwardResponse(d: Buffer, start: number): void {
    let end: number;
    if (this.resScan !== null) {
      end = this.resScan.feed(d, start);
      if (this.resScan.invalid) {
        this.cut();
        return;
      }
    } else if (this.resUntilClose) {
      end = -1;
    } else {
      const take = Math.min(this.resLeft, d.length - start);
      this.resLeft -= take;
      end = this.resLeft === 0 ? start + take : -1;
    }
    const stop = end < 0 ? d.length : end;
    const chunk = start === 0 && stop === d.length ? d : d.subarray(start, stop);
    if (!this.client.write(chunk)) this.up?.pause();
    if (end >= 0) {
      if (end < d.length) this.keepUp = false;
      this.responseDone();
    }
  }

  private responseDone(): void {
    this.resDone = true;
    if (this.reqDone) this.finish();
  }

  /** The upstream connection ended (`end`: a FIN) or closed. */
  private upstreamGone(end: boolean): void {
    const up = this.up;
    if (this.phase === Phase.Tunnel) {
      if (end) this.client.end();
      else {
        this.client.end();
        this.close();
      }
      return;
    }
    if (this.phase !== Phase.Exchange || this.resDone) {
      // An idle held connection went away: forget it.
      if (!end || this.phase !== Phase.Exchange) this.letGoUpstream(false);
      else this.keepUp = false;
      return;
    }
    if (this.resStarted && this.resUntilClose) {
      this.letGoUpstream(false);
      this.reqDone = true;
      this.responseDone();
      return;
    }
    if (this.resStarted) {
      this.cut();
      return;
    }
    // The instance went away under a request that got no answer: say so instead of a bare reset,
    // and say OOM when the kernel killed it (its exit is known a moment after its sockets close).
    const slot = this.slot!;
    if (up !== null) this.letGoUpstream(false);
    this.phase = Phase.Wait;
    const instance = slot.instance;
    void instance.whenExited(250).then(() => {
      if (this.phase !== Phase.Wait || this.slot !== slot) return;
      const code: ErrorCode = instance.exit?.reason === 'oom' ? 'AETHER_E_FN_OOM' : 'AETHER_E_FN_INSTANCE_CRASHED';
      this.fail(
        code,
        `${this.fn}: the instance closed the connection without answering (${instance.exit?.message ?? 'connection lost'})`,
      );
    });
  }

  private badUpstream(what: string): void {
    this.fail('AETHER_E_FN_INSTANCE_CRASHED', `${this.fn}: the instance sent ${what}`);
  }

  // -------------------------------------------------------------- endings

  /** Both messages are through: next request, or close. */
  private finish(): void {
    const slot = this.slot;
    this.slot = null;
    this.req = null;
    this.phase = Phase.Head;
    slot?.release();
    if (!this.keepUp) this.letGoUpstream(false);
    if (!this.keepClient || this.closing || this.clientEnded) {
      this.client.end();
      this.close();
      return;
    }
    if (this.paused) {
      this.paused = false;
      this.client.resume();
    } else if (this.client.isPaused()) this.client.resume();
    if (this.ahead !== null) this.nextRequest();
  }

  /** Answers the current request with an Aether error and closes the connection. */
  fail(code: ErrorCode, message: string, retryAfterS?: number): void {
    if (this.phase === Phase.Closed) return;
    const status = this.resStarted ? 0 : writeHttpError(this.client, code, message, retryAfterS);
    if (status !== 0) this.relay.options.onRequest?.(this.fn, status, (performance.now() - this.started) / 1000);
    this.close();
  }

  /** Cuts a response that started (the client sees a truncated message). */
  cut(): void {
    this.client.destroy();
    this.close();
  }

  /** Ends the connection when idle, else after the current exchange. */
  shutdown(): void {
    this.closing = true;
    if (this.phase === Phase.Head) {
      this.client.end();
      this.close();
    }
  }

  /** Gives the connection to node:http, with the bytes read and not relayed. */
  private handOver(): void {
    this.relay.conns.delete(this);
    this.phase = Phase.Closed;
    this.letGoUpstream(true);
    const { client } = this;
    client.off('data', this.onClientData);
    client.off('end', this.onClientEnd);
    client.off('close', this.onClientClose);
    client.off('error', this.onClientClose);
    client.off('drain', this.onClientDrain);
    client.pause();
    if (this.ahead !== null) client.unshift(this.ahead);
    this.ahead = null;
    this.handOverTo(client);
    client.resume();
  }

  close(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.relay.conns.delete(this);
    const slot = this.slot;
    this.slot = null;
    this.letGoUpstream(false);
    slot?.release();
    this.ahead = null;
    if (!this.client.writableEnded) this.client.destroy();
  }
}

class Relay implements HttpRelay {
  readonly conns = new Set<Conn>();
  relayed = 0;
  /** A coarse clock (ms), advanced by the sweep: idle checks need no clock read per request. */
  clock = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly options: HttpRelayOptions) {
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  get connections(): number {
    return this.conns.size;
  }

  accept(socket: Socket, handOver: (socket: Socket) => void): void {
    this.conns.add(new Conn(socket, this, handOver));
  }

  /** 504 for requests without an answer past timeout_ms, cuts stalled responses, closes idle connections. */
  sweep(): void {
    const now = (this.clock = Date.now());
    const t = performance.now();
    for (const c of this.conns) {
      if (c.phase === Phase.Exchange) {
        const timeout = this.options.timeoutMs(c.fn);
        if (!c.resStarted && t - c.started > timeout) {
          c.fail('AETHER_E_FN_TIMEOUT', `${c.fn}: no answer within timeout_ms ${timeout}`);
        } else if (c.resStarted && now - c.lastUp > timeout) {
          c.cut();
        }
      } else if (c.phase === Phase.Head && now - c.lastClient > IDLE_MS) {
        c.client.end();
        c.close();
      } else if (c.phase === Phase.Head && now - c.lastUp > UPSTREAM_IDLE_MS) {
        c.letGoUpstream(false);
      }
    }
  }

  shutdown(): void {
    for (const c of [...this.conns]) c.shutdown();
  }

  destroy(): void {
    clearInterval(this.timer);
    for (const c of [...this.conns]) c.close();
  }
}

/**
 * Creates the relay; feed it connections with `accept`.
 * @example
 * const relay = createHttpRelay({ route, tryAcquire, acquire, timeoutMs });
 * httpServer.on('connection', (s) => relay.accept(s, (s) => nodeHttpListener.call(httpServer, s)));
 */
export function createHttpRelay(options: HttpRelayOptions): HttpRelay {
  return new Relay(options);
}

/**
 * Puts `relay` in front of a node:http server: every new connection goes to
 * the relay first, which hands to node:http what it does not take. Call
 * before the server listens. Returns a function that undoes it.
 */
export function installHttpRelay(server: Server, relay: HttpRelay): () => void {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  if (listeners.length === 0) throw aetherError('AETHER_E_INTERNAL', 'the HTTP server has no connection listener');
  const handOver = (socket: Socket): void => {
    for (const l of listeners) l.call(server, socket);
  };
  const accept = (socket: Socket): void => relay.accept(socket, handOver);
  server.removeAllListeners('connection');
  server.on('connection', accept);
  return () => {
    server.off('connection', accept);
    for (const l of listeners) server.on('connection', l);
  };
}

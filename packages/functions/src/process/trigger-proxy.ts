/**
 * The public trigger_port of a process function. Aether owns the port and
 * relays each client connection, byte for byte, to one instance's private
 * port: a layer-4 relay measured at ~0.64x of direct throughput here, where
 * an HTTP-parsing proxy in Node reaches ~0.28x. It still knows enough HTTP to
 * time requests: a client chunk arriving while the connection waits for
 * nothing starts a request; the first response chunk ends its wait (its
 * status line gives the status). That gives per-request latency, in-flight
 * counts for scaling, and the 504 at timeout_ms. Connections, not requests,
 * are balanced across instances (least loaded at connect).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { aetherError, errorSpec, type ErrorCode } from '@aether/core';
import type { ProcessInstance } from './instance.js';
import type { RequestStatsWindow } from './request-stats.js';

/** What the relay asks of its function. */
export interface ProxyTarget {
  readonly id: string;
  readonly timeoutMs: number;
  readonly stats: RequestStatsWindow;
  /** The instance for a new connection, or null when none is routable now. */
  pick(): ProcessInstance | null;
  /** A request started on `instance` (scaling looks at this). */
  requestStarted(instance: ProcessInstance): void;
  requestAnswered(instance: ProcessInstance): void;
  /** Why no instance is available, for the 503 message. */
  unavailableReason(): string;
  /** The error to answer when `instance` died under a request (crash or OOM). */
  deathCode(instance: ProcessInstance): ErrorCode;
}

const QUEUE_LIMIT = 1024;
const QUIET_MS = 1000;

/** Answers a raw HTTP error on a client socket and closes it. */
export function writeHttpError(socket: Socket, code: ErrorCode, message: string, retryAfterS?: number): number {
  const status = errorSpec(code).http;
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }[status] ?? 'Error';
  const head =
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `${retryAfterS !== undefined ? `retry-after: ${retryAfterS}\r\n` : ''}x-aether-error: ${code}\r\nconnection: close\r\n\r\n`;
  if (!socket.destroyed && socket.writable) socket.end(head + body);
  else socket.destroy();
  return status;
}

/** One relayed client connection. */
class Relay {
  /** performance.now() when the current request started; 0 when not waiting for an answer. */
  waitingSince = 0;
  /** Date.now() of the last byte from the instance. */
  lastUpstream = 0;
  upstream: Socket | null = null;
  instance: ProcessInstance | null = null;
  private pending: Buffer[] | null = [];
  private closed = false;
  /** The instance died under a request; the answer is being decided. */
  private dying = false;

  constructor(
    readonly client: Socket,
    public target: ProxyTarget,
    private readonly relays: Set<Relay>,
    readonly arrived = performance.now(),
  ) {
    relays.add(this);
    client.on('data', (d: Buffer) => this.fromClient(d));
    client.on('end', () => this.upstream?.end());
    client.on('error', () => this.close());
    client.on('close', () => this.close());
  }

  private fromClient(d: Buffer): void {
    if (this.waitingSince === 0) {
      this.waitingSince = performance.now();
      if (this.instance !== null) {
        this.instance.inFlight++;
        this.instance.lastActivity = Date.now();
        this.target.requestStarted(this.instance);
      }
    }
    const up = this.upstream;
    if (up === null || this.pending !== null) {
      (this.pending ??= []).push(d);
      return;
    }
    if (!up.write(d)) {
      this.client.pause();
      up.once('drain', () => this.client.resume());
    }
  }

  /** Connects to `instance` and flushes what the client already sent. */
  attach(instance: ProcessInstance): void {
    this.instance = instance;
    instance.connections++;
    if (this.waitingSince !== 0) {
      instance.inFlight++;
      instance.lastActivity = Date.now();
      this.target.requestStarted(instance);
    }
    const up = connect({ port: instance.port, host: '127.0.0.1', noDelay: true });
    this.upstream = up;
    this.client.resume();
    up.on('connect', () => {
      const pending = this.pending ?? [];
      this.pending = null;
      for (const d of pending) up.write(d);
    });
    up.on('data', (d: Buffer) => this.fromUpstream(d));
    up.on('end', () => (this.waitingSince !== 0 ? this.upstreamGone() : this.client.end()));
    up.on('error', () => this.upstreamGone());
    up.on('close', () => this.upstreamGone());
  }

  private fromUpstream(d: Buffer): void {
    this.lastUpstream = Date.now();
    if (this.waitingSince !== 0) {
      // "HTTP/1.x NNN": the status line's code, read in place (no allocation on the hot path).
      const status = d.length >= 12 && d[0] === 0x48 ? (d[9]! - 48) * 100 + (d[10]! - 48) * 10 + (d[11]! - 48) : 0;
      // An interim "100 Continue" does not answer the request.
      if (status !== 100) {
        this.target.stats.record(performance.now() - this.waitingSince, status);
        this.answered();
      }
    }
    if (!this.client.write(d)) {
      this.upstream?.pause();
      this.client.once('drain', () => this.upstream?.resume());
    }
  }

  private answered(): void {
    this.waitingSince = 0;
    if (this.instance !== null) {
      this.instance.inFlight--;
      this.target.requestAnswered(this.instance);
    }
  }

  private upstreamGone(): void {
    if (this.closed || this.dying) return;
    const instance = this.instance;
    if (this.waitingSince !== 0 && instance !== null) {
      // The instance went away under a request that got no answer: say so instead of a bare
      // reset, and say OOM when the kernel killed it (its exit is known a moment after its sockets close).
      this.dying = true;
      void instance.whenExited(250).then(() => {
        const code = instance.exit !== null ? this.target.deathCode(instance) : 'AETHER_E_FN_INSTANCE_CRASHED';
        this.fail(
          code,
          `${this.target.id}: the instance closed the connection without answering (${instance.exit?.message ?? 'connection lost'})`,
        );
      });
      return;
    }
    this.client.end();
    this.close();
  }

  /** Answers the waiting request with an Aether error and closes the connection. */
  fail(code: ErrorCode, message: string, retryAfterS?: number): void {
    const latency = performance.now() - (this.waitingSince || this.arrived);
    const status = writeHttpError(this.client, code, message, retryAfterS);
    if (code === 'AETHER_E_FN_TIMEOUT') this.target.stats.recordFailure(latency, status);
    else this.target.stats.record(latency, status);
    if (this.waitingSince !== 0) this.answered();
    this.waitingSince = 0;
    this.close();
  }

  /** Closes the connection once the instance has been quiet (for draining instances). */
  closeIfQuiet(now: number): void {
    if (this.waitingSince === 0 && now - this.lastUpstream >= QUIET_MS) {
      this.client.end();
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.relays.delete(this);
    if (this.waitingSince !== 0) this.answered();
    if (this.instance !== null) this.instance.connections--;
    this.upstream?.destroy();
    if (!this.client.writableEnded) this.client.destroy();
  }
}

/** The listener of one trigger_port and its open connections. */
export interface TriggerProxy {
  readonly port: number;
  /** Routes queued connections (call when an instance became ready). */
  dispatch(): void;
  /** Answers requests past timeout_ms with 504 and queued connections past it with 503. */
  sweep(): void;
  /** Closes connections of `instance` as soon as each is between requests. */
  drainInstance(instance: ProcessInstance): void;
  /** Connections waiting for an instance. */
  readonly queued: number;
  /** Routes new connections to another function (the next generation after a deploy). */
  retarget(target: ProxyTarget): void;
  /** Stops accepting connections (open ones continue). */
  stopListening(): Promise<void>;
  /** Closes every connection. */
  destroyAll(): void;
}

/**
 * Binds `port` on `host` and relays connections to `target`'s instances.
 * @throws AETHER_E_FN_PORT_IN_USE when the port is taken
 */
export async function openTriggerProxy(port: number, host: string, first: ProxyTarget): Promise<TriggerProxy> {
  let target = first;
  const relays = new Set<Relay>();
  const queue: Relay[] = [];
  const draining = new Set<ProcessInstance>();

  const dispatch = (): void => {
    while (queue.length > 0) {
      const instance = target.pick();
      if (instance === null) return;
      const relay = queue.shift()!;
      if (relay.client.destroyed) continue;
      relay.target = target;
      relay.attach(instance);
    }
  };

  const server: Server = createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: false }, (client) => {
    const relay = new Relay(client, target, relays);
    const instance = queue.length === 0 ? target.pick() : null;
    if (instance !== null) {
      relay.attach(instance);
      return;
    }
    if (queue.length >= QUEUE_LIMIT) {
      relay.fail('AETHER_E_FN_OVERLOADED', `${target.id}: ${QUEUE_LIMIT} connections already wait for an instance`, 1);
      return;
    }
    client.pause();
    queue.push(relay);
    dispatch();
  });
  server.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      reject(
        err.code === 'EADDRINUSE'
          ? aetherError('AETHER_E_FN_PORT_IN_USE', `${target.id}: trigger_port ${port} is already in use on ${host}`, {
              function: target.id,
              port,
            })
          : aetherError('AETHER_E_FN_PORT_IN_USE', `${target.id}: cannot listen on ${host}:${port}: ${err.message}`, {
              function: target.id,
              port,
            }),
      );
    };
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });

  return {
    port,
    dispatch,
    get queued() {
      return queue.length;
    },
    retarget(next) {
      target = next;
      dispatch();
    },
    sweep() {
      const now = performance.now();
      const wall = Date.now();
      for (const relay of relays) {
        const t = relay.target;
        if (relay.waitingSince !== 0 && relay.instance !== null && now - relay.waitingSince > t.timeoutMs) {
          relay.fail('AETHER_E_FN_TIMEOUT', `${t.id}: no answer within timeout_ms ${t.timeoutMs}`);
        } else if (relay.instance !== null && draining.has(relay.instance)) {
          relay.closeIfQuiet(wall);
        }
      }
      for (let i = queue.length - 1; i >= 0; i--) {
        const relay = queue[i]!;
        if (relay.client.destroyed) queue.splice(i, 1);
        else if (now - relay.arrived > target.timeoutMs) {
          queue.splice(i, 1);
          relay.fail(
            'AETHER_E_FN_UNAVAILABLE',
            `${target.id}: no instance became ready within timeout_ms ${target.timeoutMs}: ${target.unavailableReason()}`,
            1,
          );
        }
      }
      for (const instance of draining)
        if (instance.connections === 0 || instance.exit !== null) draining.delete(instance);
    },
    drainInstance(instance) {
      draining.add(instance);
      const wall = Date.now();
      for (const relay of relays) if (relay.instance === instance) relay.closeIfQuiet(wall);
    },
    async stopListening() {
      // close() stops accepting at once; its callback would wait for open connections, which continue.
      server.close();
      await new Promise((resolve) => setImmediate(resolve));
      for (const relay of queue.splice(0))
        relay.fail('AETHER_E_FN_UNAVAILABLE', `${target.id}: the function was removed`);
    },
    destroyAll() {
      for (const relay of [...relays]) relay.close();
      queue.length = 0;
    },
  };
}

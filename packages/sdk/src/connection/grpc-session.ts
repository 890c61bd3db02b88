/**
 * A lean gRPC-over-HTTP/2 client on node:http2: unary calls and server
 * streams of the Aether services, one HTTP/2 connection, reconnecting on the
 * next call after the server went away. It exists for speed: measured here, a
 * grpc-js unary call costs ~190 us of client CPU and this one ~85 us, which is
 * most of a worker's budget at 1,000+ workflows/s (see the SDK README notes).
 * Wire format: length-prefixed messages, `grpc-status` / `grpc-message` and
 * custom metadata in trailers (or in a trailers-only response).
 */
import http2, { constants as h2 } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerTarget } from './grpc-target.js';

const NO_TRAILERS = (): undefined => undefined;

/** A failed call as the wire reported it, before it is mapped to an AetherError. */
export class GrpcFailure extends Error {
  constructor(
    /** gRPC status code. */
    readonly code: number,
    message: string,
    /** Reads trailing (or trailers-only) metadata by lower-case key. */
    readonly trailer: (key: string) => string | undefined = NO_TRAILERS,
  ) {
    super(message);
    this.name = 'GrpcFailure';
  }
}

/** A handle on an open server stream. */
export interface ServerStream {
  cancel(): void;
}

export interface GrpcSessionOptions {
  target: ServerTarget;
  /** `Bearer <token>`, sent on every call when set. */
  authorization?: string | undefined;
  /** Largest message sent or received. */
  maxMessageBytes: number;
  /** Ping an idle-looking connection this often while calls are open; 0 disables. */
  keepaliveMs?: number | undefined;
}

const USER_AGENT = 'aether-sdk-node/0.1';

/** The 5-byte gRPC frame header and the message in one buffer. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

function tooLarge(max: number): GrpcFailure {
  return new GrpcFailure(GrpcStatus.RESOURCE_EXHAUSTED, `received a message larger than ${max} bytes`);
}

function grpcTimeout(ms: number): string {
  const v = Math.max(1, Math.ceil(ms));
  return v <= 99_999_999 ? `${v}m` : `${Math.min(99_999_999, Math.ceil(v / 1000))}S`;
}

function decodeMessage(text: string | string[] | undefined): string {
  const value = Array.isArray(text) ? text.join(',') : (text ?? '');
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** gRPC's mapping of HTTP statuses of non-gRPC answers. */
function statusFromHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function trailerReader(headers: http2.IncomingHttpHeaders | undefined): (key: string) => string | undefined {
  if (!headers) return NO_TRAILERS;
  return (key) => {
    const v = headers[key];
    return Array.isArray(v) ? v[0] : v;
  };
}

/**
 * Reads a stream's response: headers, data, trailers; calls `done` once with
 * the status (or the failure) when the stream closes.
 */
function watchStream(
  stream: http2.ClientHttp2Stream,
  session: http2.ClientHttp2Session,
  onData: (chunk: Buffer) => GrpcFailure | undefined,
  done: (failure: GrpcFailure | undefined) => void,
  timedOut: () => boolean,
): void {
  let headers: http2.IncomingHttpHeaders | undefined;
  let trailers: http2.IncomingHttpHeaders | undefined;
  let broken: GrpcFailure | undefined;
  stream.on('response', (h: http2.IncomingHttpHeaders) => {
    headers = h;
  });
  stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
    trailers = t;
  });
  stream.on('data', (chunk: Buffer) => {
    if (broken !== undefined) return;
    broken = onData(chunk);
    if (broken !== undefined) stream.close(h2.NGHTTP2_CANCEL);
  });
  stream.on('error', () => {
    // reported through 'close' below
  });
  stream.on('close', () => {
    if (broken !== undefined) return done(broken);
    if (timedOut()) return done(new GrpcFailure(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'));
    // A trailers-only answer carries grpc-status in its headers.
    const end = trailers ?? (headers && headers['grpc-status'] !== undefined ? headers : undefined);
    if (end !== undefined) {
      const code = Number(end['grpc-status']);
      if (code === 0) return done(undefined);
      return done(
        new GrpcFailure(
          Number.isInteger(code) ? code : GrpcStatus.UNKNOWN,
          decodeMessage(end['grpc-message']),
          trailerReader(end),
        ),
      );
    }
    if (headers !== undefined && Number(headers[':status']) !== 200) {
      const httpStatus = Number(headers[':status']);
      return done(new GrpcFailure(statusFromHttp(httpStatus), `HTTP status ${httpStatus}`));
    }
    const lost =
      session.destroyed || session.closed || stream.rstCode === h2.NGHTTP2_REFUSED_STREAM || headers === undefined;
    done(
      new GrpcFailure(
        lost ? GrpcStatus.UNAVAILABLE : GrpcStatus.INTERNAL,
        lost ? 'connection to the Aether server lost' : `stream closed without a status (RST_STREAM ${stream.rstCode})`,
      ),
    );
  });
}

export class GrpcSession {
  private session: http2.ClientHttp2Session | undefined;
  private active = 0;
  private closed = false;
  private readonly authority: string;
  private readonly scheme: 'http' | 'https';
  private readonly keepalive: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: GrpcSessionOptions) {
    this.scheme = options.target.secure ? 'https' : 'http';
    this.authority = options.target.target;
    const every = options.keepaliveMs ?? 30_000;
    if (every > 0) {
      this.keepalive = setInterval(() => this.ping(), every);
      this.keepalive.unref();
    }
  }

  /** The current connection, opening one when there is none. */
  private connection(): http2.ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const { target } = this.options;
    const session = http2.connect(`${this.scheme}://${this.authority}`, {
      settings: { enablePush: false },
      createConnection: () => {
        const socket = target.secure
          ? tls.connect({ host: target.host, port: target.port, servername: target.host, ALPNProtocols: ['h2'] })
          : target.path !== undefined
            ? net.connect({ path: target.path })
            : net.connect({ host: target.host, port: target.port });
        socket.setNoDelay(true);
        return socket;
      },
    });
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('error', forget);
    session.on('close', forget);
    // The server is going away: new calls go to a new connection.
    session.on('goaway', forget);
    if (this.active === 0) session.unref();
    this.session = session;
    return session;
  }

  /** Keeps the process alive only while calls are open (like grpc-js channels). */
  private track(delta: number): void {
    this.active += delta;
    const session = this.session;
    if (session === undefined || session.destroyed) return;
    if (delta > 0 && this.active === 1) session.ref();
    else if (this.active === 0) session.unref();
  }

  private ping(): void {
    const session = this.session;
    if (session === undefined || session.destroyed || this.active === 0) return;
    let answered = false;
    const timer = setTimeout(() => {
      if (!answered) session.destroy();
    }, 10_000);
    timer.unref();
    try {
      session.ping(() => {
        answered = true;
        clearTimeout(timer);
      });
    } catch {
      clearTimeout(timer);
    }
  }

  private headers(path: string, timeoutMs: number | undefined): http2.OutgoingHttpHeaders {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':scheme': this.scheme,
      ':path': path,
      ':authority': this.authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': USER_AGENT,
    };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = grpcTimeout(timeoutMs);
    if (this.options.authorization !== undefined) headers.authorization = this.options.authorization;
    return headers;
  }

  private open(
    path: string,
    timeoutMs: number | undefined,
    message: Uint8Array,
  ): { stream: http2.ClientHttp2Stream; session: http2.ClientHttp2Session } | GrpcFailure {
    if (this.closed) return new GrpcFailure(GrpcStatus.UNAVAILABLE, 'the Aether client is closed');
    if (message.length > this.options.maxMessageBytes) {
      return new GrpcFailure(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `message of ${message.length} bytes exceeds the limit of ${this.options.maxMessageBytes}`,
      );
    }
    try {
      const session = this.connection();
      const stream = session.request(this.headers(path, timeoutMs));
      stream.end(frame(message));
      return { stream, session };
    } catch (error) {
      this.session?.destroy();
      this.session = undefined;
      return new GrpcFailure(GrpcStatus.UNAVAILABLE, `cannot reach the Aether server: ${(error as Error).message}`);
    }
  }

  /** One unary call: resolves with the response message bytes. */
  unary(path: string, message: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const opened = this.open(path, timeoutMs, message);
      if (opened instanceof GrpcFailure) return reject(opened);
      const { stream, session } = opened;
      this.track(+1);
      let first: Buffer | undefined;
      let rest: Buffer[] | undefined;
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        stream.close(h2.NGHTTP2_CANCEL);
      }, timeoutMs);
      let received = 0;
      watchStream(
        stream,
        session,
        (chunk) => {
          received += chunk.length;
          if (received > this.options.maxMessageBytes + 5) return tooLarge(this.options.maxMessageBytes);
          if (first === undefined) first = chunk;
          else (rest ??= [first]).push(chunk);
          return undefined;
        },
        (failure) => {
          clearTimeout(timer);
          this.track(-1);
          if (failure) return reject(failure);
          const body = rest !== undefined ? Buffer.concat(rest) : first;
          if (body === undefined || body.length < 5) {
            return reject(new GrpcFailure(GrpcStatus.INTERNAL, 'response without a message'));
          }
          if (body[0] !== 0) {
            return reject(new GrpcFailure(GrpcStatus.INTERNAL, 'compressed responses are not supported'));
          }
          resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
        },
        () => expired,
      );
    });
  }

  /** A server stream: `onMessage` per message; `onEnd` once, with the failure if any. */
  serverStream(
    path: string,
    message: Uint8Array,
    onMessage: (message: Uint8Array) => void,
    onEnd: (failure: GrpcFailure | undefined) => void,
    timeoutMs?: number,
  ): ServerStream {
    const opened = this.open(path, timeoutMs, message);
    if (opened instanceof GrpcFailure) {
      const failure = opened;
      queueMicrotask(() => onEnd(failure));
      return { cancel: () => {} };
    }
    const { stream, session } = opened;
    this.track(+1);
    let pending: Buffer | undefined;
    let expired = false;
    let cancelled = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            expired = true;
            stream.close(h2.NGHTTP2_CANCEL);
          }, timeoutMs);
    const max = this.options.maxMessageBytes;
    watchStream(
      stream,
      session,
      (chunk) => {
        let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
        pending = undefined;
        while (buf.length >= 5) {
          if (buf[0] !== 0) return new GrpcFailure(GrpcStatus.INTERNAL, 'compressed messages are not supported');
          const length = buf.readUInt32BE(1);
          if (length > max) return tooLarge(max);
          if (buf.length < 5 + length) break;
          if (!cancelled) onMessage(buf.subarray(5, 5 + length));
          buf = buf.subarray(5 + length);
        }
        if (buf.length > 0) pending = buf;
        return undefined;
      },
      (failure) => {
        if (timer !== undefined) clearTimeout(timer);
        this.track(-1);
        onEnd(cancelled ? new GrpcFailure(GrpcStatus.CANCELLED, 'cancelled') : failure);
      },
      () => expired,
    );
    return {
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        stream.close(h2.NGHTTP2_CANCEL);
      },
    };
  }

  /** Cancels every open call and closes the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.session?.destroy();
    this.session = undefined;
  }
}

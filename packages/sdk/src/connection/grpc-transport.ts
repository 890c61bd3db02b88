/**
 * The SDK's gRPC transport: one HTTP/2 connection to an Aether server
 * (GrpcSession), the bearer token on every call, deadlines, error mapping,
 * and retries of idempotent calls while the server is unavailable.
 */
import { aetherError, type AetherError } from '@aether/core';
import { isUnavailable } from '../errors.js';
import { fromGrpcFailure } from './grpc-errors.js';
import type { GrpcMethod } from './grpc-methods.js';
import { GrpcFailure, GrpcSession, type ServerStream } from './grpc-session.js';
import { parseServerUrl, type ServerTarget } from './grpc-target.js';

/** 16 MiB: the server enforces the real payload limit with a proper error code. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface GrpcTransportOptions {
  serverUrl: string;
  token?: string | undefined;
  /** Deadline of one unary call. */
  callTimeoutMs: number;
  /** How long idempotent calls keep retrying while the server is unavailable. */
  unavailableRetryMs: number;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class GrpcTransport {
  readonly target: ServerTarget;
  readonly callTimeoutMs: number;
  readonly unavailableRetryMs: number;
  private readonly session: GrpcSession;
  private closed = false;

  constructor(options: GrpcTransportOptions) {
    this.target = parseServerUrl(options.serverUrl);
    this.callTimeoutMs = options.callTimeoutMs;
    this.unavailableRetryMs = options.unavailableRetryMs;
    this.session = new GrpcSession({
      target: this.target,
      authorization: options.token ? `Bearer ${options.token}` : undefined,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private mapFailure(failure: unknown, method: string): AetherError {
    if (this.closed) return this.closedError(method);
    if (failure instanceof GrpcFailure) return fromGrpcFailure(failure, method);
    return aetherError(
      'AETHER_E_INTERNAL',
      `${method}: ${failure instanceof Error ? failure.message : String(failure)}`,
    );
  }

  /** One unary call with a deadline; failures become AetherErrors. */
  call<Req, Res>(method: GrpcMethod<Req, Res>, request: Req, timeoutMs: number = this.callTimeoutMs): Promise<Res> {
    if (this.closed) return Promise.reject(this.closedError(method.name));
    return this.session.unary(method.path, method.encode(request), timeoutMs).then(
      (bytes) => method.decode(bytes),
      (failure: unknown) => {
        throw this.mapFailure(failure, method.name);
      },
    );
  }

  /** A server stream; `onEnd` is called once (undefined when it ended normally). */
  stream<Req, Res>(
    method: GrpcMethod<Req, Res>,
    request: Req,
    onMessage: (message: Res) => void,
    onEnd: (error: AetherError | undefined) => void,
    timeoutMs?: number,
  ): ServerStream {
    return this.session.serverStream(
      method.path,
      method.encode(request),
      (bytes) => onMessage(method.decode(bytes)),
      (failure) => onEnd(failure === undefined ? undefined : this.mapFailure(failure, method.name)),
      timeoutMs,
    );
  }

  /**
   * Runs an idempotent call again, with capped exponential backoff (50 ms to
   * 2 s), while it fails because the server is unavailable, for at most
   * `budgetMs` (default `unavailableRetryMs`).
   */
  async retrying<T>(
    attempt: () => Promise<T>,
    budgetMs: number = this.unavailableRetryMs,
    retryIf = isUnavailable,
  ): Promise<T> {
    const giveUpAt = Date.now() + budgetMs;
    let wait = 50;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (this.closed || !retryIf(error) || Date.now() + wait > giveUpAt) throw error;
        await delay(wait);
        wait = Math.min(wait * 2, 2000);
      }
    }
  }

  closedError(method: string): AetherError {
    return aetherError('AETHER_E_SHUTTING_DOWN', `the Aether client is closed (${method})`, { method });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
  }
}

/**
 * One grpc-js channel to an Aether server shared by the Client, Worker and
 * Admin service stubs, with the bearer token on every call, deadlines, error
 * mapping and retries of idempotent calls while the server is unavailable.
 */
import { Channel, Metadata, credentials, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import { TerminalError, aetherError, proto, type AetherError } from '@aether/core';
import { isUnavailable } from '../errors.js';
import { fromServiceError } from './grpc-errors.js';

/** 16 MiB: the server enforces the real payload limit with a proper error code. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** A parsed `serverUrl`. */
export interface ServerTarget {
  /** grpc-js target, e.g. `localhost:7233`. */
  target: string;
  secure: boolean;
}

/**
 * `http://host:port` -> insecure `host:port`, `https://host:port` -> TLS,
 * a bare `host:port` -> insecure; other grpc-js targets (`unix:`, `dns:`) pass.
 */
export function parseServerUrl(serverUrl: string): ServerTarget {
  const url = serverUrl.trim();
  const match = /^(https?|grpcs?):\/\/([^/]+)\/?$/i.exec(url);
  if (match) {
    const scheme = match[1]!.toLowerCase();
    const secure = scheme === 'https' || scheme === 'grpcs';
    let target = match[2]!;
    if (!/:\d+$/.test(target) && !target.endsWith(']')) target += secure ? ':443' : ':80';
    return { target, secure };
  }
  if (/^[a-z]+:\/\//i.test(url) && !/^(unix|dns|ipv4|ipv6):/i.test(url)) {
    throw new TerminalError(
      'AETHER_E_INVALID_ARGUMENT',
      `unsupported serverUrl ${serverUrl}: use http://host:port or https://host:port`,
      {
        serverUrl,
      },
    );
  }
  if (url === '') throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'serverUrl is empty', {});
  return { target: url, secure: false };
}

export interface GrpcTransportOptions {
  serverUrl: string;
  token?: string | undefined;
  /** Deadline of one unary call. */
  callTimeoutMs: number;
  /** How long idempotent calls keep retrying while the server is unavailable. */
  unavailableRetryMs: number;
}

type UnaryInvoker<Res> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Channel, stubs and the call helpers. */
export class GrpcTransport {
  readonly target: ServerTarget;
  readonly client: proto.ClientServiceClient;
  readonly worker: proto.WorkerServiceClient;
  readonly admin: proto.AdminServiceClient;
  readonly callTimeoutMs: number;
  readonly unavailableRetryMs: number;
  private readonly channel: Channel;
  private readonly authorization: string | undefined;
  private closed = false;

  constructor(options: GrpcTransportOptions) {
    this.target = parseServerUrl(options.serverUrl);
    this.callTimeoutMs = options.callTimeoutMs;
    this.unavailableRetryMs = options.unavailableRetryMs;
    this.authorization = options.token ? `Bearer ${options.token}` : undefined;
    const creds = this.target.secure ? credentials.createSsl() : credentials.createInsecure();
    const channelOptions = {
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      // Reconnect quickly after a server restart (defaults: 1 s growing to 120 s).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    };
    this.channel = new Channel(this.target.target, creds, channelOptions);
    const clientOptions = { ...channelOptions, channelOverride: this.channel };
    this.client = new proto.ClientServiceClient(this.target.target, creds, clientOptions);
    this.worker = new proto.WorkerServiceClient(this.target.target, creds, clientOptions);
    this.admin = new proto.AdminServiceClient(this.target.target, creds, clientOptions);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Fresh call metadata (grpc-js may add entries to it), with the token if any. */
  metadata(): Metadata {
    const metadata = new Metadata();
    if (this.authorization !== undefined) metadata.set('authorization', this.authorization);
    return metadata;
  }

  /** One unary call with a deadline; failures become AetherErrors. */
  call<Res>(method: string, timeoutMs: number, invoke: UnaryInvoker<Res>): Promise<Res> {
    if (this.closed) return Promise.reject(this.closedError(method));
    return new Promise<Res>((resolve, reject) => {
      invoke(this.metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(fromServiceError(error, method));
        else resolve(response);
      });
    });
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
    this.client.close();
    this.worker.close();
    this.admin.close();
    this.channel.close();
  }
}

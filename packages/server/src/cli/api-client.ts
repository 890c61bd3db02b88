/**
 * The CLI's client of a running node's HTTP API (`--server URL`, env
 * AETHER_SERVER, default http://127.0.0.1:7234), with the bearer token and
 * error bodies decoded back into catalogue errors.
 */
import { aetherError, fromErrorBody, type AetherError, type ErrorBody } from '@aether/core';

/** The HTTP port of a node on this machine. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:7234';

/** Where and how to reach the node. */
export interface ApiClientOptions {
  serverUrl: string;
  token?: string | undefined;
  /** @default 30000 */
  timeoutMs?: number | undefined;
}

/** A minimal HTTP API client. */
export interface ApiClient {
  readonly serverUrl: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

function errnoOf(err: unknown): string | undefined {
  let current: unknown = err;
  for (let i = 0; i < 4 && current !== null && typeof current === 'object'; i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isErrorBody(value: unknown): value is { error: ErrorBody } {
  const error = (value as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}

/**
 * Creates a client of a node's HTTP API.
 * @throws TerminalError AETHER_E_USAGE when the URL is not an http(s) URL
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  let base: URL;
  try {
    base = new URL(options.serverUrl);
  } catch {
    base = new URL('invalid:');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw aetherError(
      'AETHER_E_USAGE',
      `--server ${JSON.stringify(options.serverUrl)} is not an http:// or https:// URL`,
      {
        flag: '--server',
      },
    );
  }
  const serverUrl = base.toString().replace(/\/$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${serverUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') {
        throw aetherError(
          'AETHER_E_TIMEOUT',
          `the Aether server at ${serverUrl} did not answer within ${timeoutMs} ms`,
          {
            serverUrl,
          },
        );
      }
      const errno = errnoOf(err);
      const cause = (err as { cause?: unknown }).cause;
      const why = errno ?? (cause instanceof Error ? cause.message : undefined);
      throw aetherError(
        'AETHER_E_UNAVAILABLE',
        `cannot reach the Aether server at ${serverUrl}${why ? ` (${why})` : ''}`,
        { serverUrl, errno },
        err,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error: AetherError = isErrorBody(json)
        ? fromErrorBody(json.error)
        : aetherError('AETHER_E_INTERNAL', `the server answered ${response.status} ${response.statusText}`, {
            status: response.status,
          });
      throw error;
    }
    if (json === undefined) {
      throw aetherError('AETHER_E_INTERNAL', `the server answered ${method} ${path} with a body that is not JSON`);
    }
    return json as T;
  }

  return {
    serverUrl,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
  };
}

/**
 * The CLI's client of a running node's HTTP API (`--server URL`, env
 * AETHER_SERVER, default http://127.0.0.1:7234), with the bearer token and
 * error bodies decoded back into catalogue errors. `request` is the way out
 * for answers that are not the API's JSON (function invocations).
 */
import { STATUS_CODES } from 'node:http';
import { aetherError, fromErrorBody, type AetherError, type ErrorBody } from '@aether/core';
import { errors as undiciErrors, request as undiciRequest } from 'undici';

/** The HTTP port of a node on this machine. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:7234';

/** Where and how to reach the node. */
export interface ApiClientOptions {
  serverUrl: string;
  token?: string | undefined;
  /** @default 30000 */
  timeoutMs?: number | undefined;
}

/** Per-call options of the JSON methods. */
export interface CallOptions {
  /** @default the client's timeoutMs */
  timeoutMs?: number | undefined;
}

/** A request whose answer is returned as it is, whatever its status. */
export interface RawRequest {
  method: string;
  /** Path and query string, starting with `/`. */
  path: string;
  /** Sent in this order; an `authorization` header here replaces the client's token. */
  headers?: readonly (readonly [string, string])[] | undefined;
  body?: Uint8Array | undefined;
  /**
   * Longest wait for the answer's headers, and between two chunks of its body; 0 waits forever.
   * @default the client's timeoutMs
   */
  timeoutMs?: number | undefined;
}

/** An answer of `ApiClient.request`: status, headers (duplicates kept) and body bytes as sent. */
export interface RawResponse {
  status: number;
  /** The standard reason phrase of the status ('' when there is none). */
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
}

/** A minimal HTTP API client. */
export interface ApiClient {
  readonly serverUrl: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown, options?: CallOptions): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
  /** POSTs a multipart/form-data body (file uploads). */
  postForm<T>(path: string, form: FormData, options?: CallOptions): Promise<T>;
  /** Sends any request and returns the answer as it is: no status check, no JSON decoding, no decompression. */
  request(request: RawRequest): Promise<RawResponse>;
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

  function transportError(err: unknown, waitedMs: number): AetherError {
    const name = (err as Error).name;
    if (
      name === 'TimeoutError' ||
      err instanceof undiciErrors.HeadersTimeoutError ||
      err instanceof undiciErrors.BodyTimeoutError
    ) {
      return aetherError('AETHER_E_TIMEOUT', `the Aether server at ${serverUrl} did not answer within ${waitedMs} ms`, {
        serverUrl,
      });
    }
    const errno = errnoOf(err);
    const cause = (err as { cause?: unknown }).cause;
    const why = errno ?? (cause instanceof Error ? cause.message : undefined);
    return aetherError(
      'AETHER_E_UNAVAILABLE',
      `cannot reach the Aether server at ${serverUrl}${why ? ` (${why})` : ''}`,
      { serverUrl, errno },
      err,
    );
  }

  async function call<T>(
    method: string,
    path: string,
    body: { json: unknown } | { form: FormData } | undefined,
    callOptions: CallOptions = {},
  ): Promise<T> {
    const waitMs = callOptions.timeoutMs ?? timeoutMs;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    // fetch sets the multipart content-type (with its boundary) itself.
    if (body !== undefined && 'json' in body) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${serverUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : 'json' in body ? JSON.stringify(body.json) : body.form,
        signal: AbortSignal.timeout(waitMs),
      });
    } catch (err) {
      throw transportError(err, waitMs);
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

  async function raw(req: RawRequest): Promise<RawResponse> {
    const waitMs = req.timeoutMs ?? timeoutMs;
    const headers: Record<string, string[]> = {};
    for (const [name, value] of req.headers ?? []) (headers[name.toLowerCase()] ??= []).push(value);
    if (options.token !== undefined && headers.authorization === undefined) {
      headers.authorization = [`Bearer ${options.token}`];
    }
    try {
      const res = await undiciRequest(`${serverUrl}${req.path}`, {
        method: req.method,
        headers,
        body: req.body,
        headersTimeout: waitMs,
        bodyTimeout: waitMs,
      });
      const body = new Uint8Array(await res.body.arrayBuffer());
      const out: [string, string][] = [];
      for (const [name, value] of Object.entries(res.headers)) {
        for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) out.push([name, v]);
      }
      return { status: res.statusCode, statusText: STATUS_CODES[res.statusCode] ?? '', headers: out, body };
    } catch (err) {
      throw transportError(err, waitMs);
    }
  }

  return {
    serverUrl,
    get: (path) => call('GET', path, undefined),
    post: (path, body, callOptions) => call('POST', path, body === undefined ? undefined : { json: body }, callOptions),
    patch: (path, body) => call('PATCH', path, { json: body }),
    delete: (path) => call('DELETE', path, undefined),
    postForm: (path, form, callOptions) => call('POST', path, { form }, callOptions),
    request: raw,
  };
}

/**
 * How an edge node talks to its control plane over HTTP: register/heartbeat,
 * callbacks, and fetching function metadata and module bytes. Every failure
 * becomes an AetherError: the control plane's own error body when it sent
 * one, AETHER_E_CONTROL_PLANE_UNREACHABLE when it could not be reached.
 */
import { AetherError, aetherError, fromErrorBody, isErrorCode } from '@aether/core';
import { Agent, request, type Dispatcher } from 'undici';

/** A function as the control plane describes it (`GET /api/functions/{id}`). */
export interface RemoteFunction {
  id: string;
  name: string;
  hash: string;
  version: number;
  sizeBytes: number;
  memoryLimitMb: number | null;
  timeoutMs: number | null;
  envVars: Record<string, string>;
}

/** The answer to a registration or heartbeat. */
export interface RegisterAnswer {
  heartbeatIntervalMs: number;
  functionsEtag: string;
}

/** What `createControlPlaneClient` needs. */
export interface ControlPlaneClientOptions {
  /** The control plane's HTTP base URL, e.g. `http://127.0.0.1:7234`. */
  baseUrl: string;
  /** Bearer token presented on every call. */
  token?: string | undefined;
  /** Per-call timeout. @default 10000 */
  timeoutMs?: number | undefined;
}

/** The edge node's HTTP client of the control plane. */
export interface ControlPlaneClient {
  register(nodeId: string, url: string): Promise<RegisterAnswer>;
  callback(event: string, data: Record<string, unknown>): Promise<void>;
  manifest(): Promise<string[]>;
  getFunction(id: string): Promise<RemoteFunction>;
  getCode(id: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

function field<T>(value: unknown, check: (v: unknown) => v is T, what: string): T {
  if (!check(value)) {
    throw aetherError('AETHER_E_CONTROL_PLANE_UNREACHABLE', `the control plane sent an unexpected ${what}`);
  }
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumberOrNull = (v: unknown): v is number | null => v === null || isNumber(v);
const isStringRecord = (v: unknown): v is Record<string, string> =>
  v !== null && typeof v === 'object' && Object.values(v).every((x) => typeof x === 'string');

/**
 * Creates the client. `baseUrl` must be an http(s) URL.
 * @throws AetherError AETHER_E_CONFIG_INVALID for a bad URL
 */
export function createControlPlaneClient(options: ControlPlaneClientOptions): ControlPlaneClient {
  let base: URL;
  try {
    base = new URL(options.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http');
  } catch (err) {
    throw aetherError(
      'AETHER_E_CONFIG_INVALID',
      `--control-plane ${JSON.stringify(options.baseUrl)} is not an http:// or https:// URL`,
      { key: 'edge.control_plane' },
      err,
    );
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const dispatcher = new Agent({ connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;

  const call = async (
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; bytes: Uint8Array }> => {
    const url = new URL(path, base);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method,
        dispatcher,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw aetherError(
        'AETHER_E_CONTROL_PLANE_UNREACHABLE',
        `cannot reach the control plane at ${base.origin}: ${(err as Error).message}`,
        { url: url.href },
        err,
      );
    }
    const bytes = new Uint8Array(await res.body.arrayBuffer());
    if (res.statusCode >= 400) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
      } catch {
        parsed = undefined;
      }
      const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (error !== undefined && isErrorCode(error.code) && typeof error.message === 'string') {
        throw fromErrorBody({ code: error.code, message: error.message });
      }
      throw aetherError(
        'AETHER_E_CONTROL_PLANE_UNREACHABLE',
        `the control plane answered ${method} ${url.pathname} with HTTP ${res.statusCode}`,
        { status: res.statusCode },
      );
    }
    return { status: res.statusCode, bytes };
  };
  const json = async (
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> => {
    const { bytes } = await call(method, path, body);
    try {
      return JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw aetherError(
        'AETHER_E_CONTROL_PLANE_UNREACHABLE',
        `the control plane sent invalid JSON for ${path}`,
        {},
        err,
      );
    }
  };

  return {
    async register(nodeId, url) {
      const body = await json('POST', '/register', { node_id: nodeId, url });
      return {
        heartbeatIntervalMs: field(body.heartbeat_interval_ms, isNumber, 'heartbeat interval'),
        functionsEtag: field(body.functions_etag, isString, 'functions etag'),
      };
    },
    async callback(event, data) {
      await call('POST', '/callback', { event, data });
    },
    async manifest() {
      const body = await json('GET', '/api/functions/manifest');
      const functions = field(body.functions, Array.isArray, 'manifest') as unknown[];
      return functions.map((f) => field((f as { name?: unknown }).name, isString, 'manifest entry'));
    },
    async getFunction(id) {
      const f = await json('GET', `/api/functions/${encodeURIComponent(id)}`);
      return {
        id: field(f.id, isString, 'function id'),
        name: field(f.name, isString, 'function name'),
        hash: field(f.hash, isString, 'function hash'),
        version: field(f.version, isNumber, 'function version'),
        sizeBytes: field(f.size_bytes, isNumber, 'function size'),
        memoryLimitMb: field(f.memory_limit_mb, isNumberOrNull, 'memory limit'),
        timeoutMs: field(f.timeout_ms, isNumberOrNull, 'timeout'),
        envVars: field(f.env_vars, isStringRecord, 'env_vars'),
      };
    },
    async getCode(id) {
      return (await call('GET', `/api/functions/${encodeURIComponent(id)}/wasm`)).bytes;
    },
    close: () => dispatcher.close(),
  };
}

/** Whether an error means the control plane could not be reached (as opposed to refusing). */
export function isUnreachable(err: unknown): boolean {
  return err instanceof AetherError && err.code === 'AETHER_E_CONTROL_PLANE_UNREACHABLE';
}

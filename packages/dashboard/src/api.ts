/**
 * The dashboard's client of the node's HTTP API (DESIGN.md 4.4), same origin.
 * Every call sends the bearer token when one is stored; errors come back as
 * ApiError with the API's stable code, so pages show a message, never a
 * blank screen. Live updates read GET /api/events with fetch (EventSource
 * cannot send the Authorization header) and reconnect by themselves.
 */

const TOKEN_KEY = 'aether.token';

/** An answer of the API that is not 2xx, or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null || token === '') localStorage.removeItem(TOKEN_KEY);
  else localStorage.setItem(TOKEN_KEY, token);
}

function headers(extra?: HeadersInit): Headers {
  const h = new Headers(extra);
  const token = getToken();
  if (token !== null) h.set('authorization', `Bearer ${token}`);
  return h;
}

/** Calls the API and returns its JSON. @throws ApiError */
export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: headers(init.headers) });
  } catch (err) {
    throw new ApiError(0, 'AETHER_E_UNAVAILABLE', `cannot reach the node: ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `${res.status} ${res.statusText}`);
  }
  return body as T;
}

/** Text endpoints (e.g. /metrics). @throws ApiError */
export async function apiText(path: string): Promise<string> {
  const res = await fetch(path, { headers: headers() }).catch((err: Error) => {
    throw new ApiError(0, 'AETHER_E_UNAVAILABLE', `cannot reach the node: ${err.message}`);
  });
  if (!res.ok) throw new ApiError(res.status, `HTTP_${res.status}`, `${res.status} ${res.statusText}`);
  return res.text();
}

/** One server-sent event of GET /api/events. */
export interface ServerEvent {
  event: string;
  data: unknown;
}

/**
 * Follows GET /api/events (optionally one workflow's), calling `onEvent` per
 * event and `onStatus` when the stream connects or drops; reconnects after 2 s.
 * Returns a function that stops it.
 */
export function followEvents(
  onEvent: (e: ServerEvent) => void,
  options: { workflow?: string; onStatus?: (connected: boolean) => void } = {},
): () => void {
  const controller = new AbortController();
  const url = `/api/events${options.workflow ? `?workflow=${encodeURIComponent(options.workflow)}` : ''}`;
  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(url, { headers: headers(), signal: controller.signal });
        if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
        options.onStatus?.(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (data !== '') onEvent({ event, data: JSON.parse(data) as unknown });
          }
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      options.onStatus?.(false);
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
  return () => controller.abort();
}

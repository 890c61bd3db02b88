/** Parses the SDK's `serverUrl` into where and how to connect. */
import { TerminalError } from '@aether/core';

/** A parsed `serverUrl`. */
export interface ServerTarget {
  /** `host:port` (the HTTP/2 :authority). */
  target: string;
  secure: boolean;
  host: string;
  port: number;
  /** A Unix socket path (`unix:/path`), when connecting to one. */
  path?: string | undefined;
}

function invalid(serverUrl: string, why: string): TerminalError {
  return new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid serverUrl ${JSON.stringify(serverUrl)}: ${why}`, {
    serverUrl,
  });
}

/**
 * `http://host:port` -> plain `host:port`, `https://host:port` -> TLS (port
 * 443 by default), a bare `host:port` -> plain, `unix:/path` -> a Unix socket.
 */
export function parseServerUrl(serverUrl: string): ServerTarget {
  const url = serverUrl.trim();
  if (url === '') throw invalid(serverUrl, 'it is empty');
  if (url.startsWith('unix:')) {
    const path = url.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw invalid(serverUrl, 'no socket path');
    return { target: 'localhost', secure: false, host: 'localhost', port: 0, path };
  }
  let secure = false;
  let rest = url;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    if (name === 'https' || name === 'grpcs') secure = true;
    else if (name !== 'http' && name !== 'grpc') throw invalid(serverUrl, 'use http://host:port or https://host:port');
    rest = url.slice(scheme[0].length);
  }
  rest = rest.replace(/\/+$/, '');
  if (rest.includes('/')) throw invalid(serverUrl, 'a gRPC address has no path');
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(rest);
  if (!m) throw invalid(serverUrl, 'expected host:port');
  const hostPart = m[1]!;
  const port = m[2] !== undefined ? Number(m[2]) : secure ? 443 : 80;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(serverUrl, 'bad port');
  const host = hostPart.startsWith('[') ? hostPart.slice(1, -1) : hostPart;
  return { target: `${hostPart}:${port}`, secure, host, port };
}

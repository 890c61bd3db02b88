/**
 * Puts the gateway relay (@aether/functions http-relay) in front of the
 * API app's node:http server: requests to `/functions/{id}/*` of a node
 * function with code, carrying a token the API would accept, are relayed
 * as bytes to an instance; everything else (and every later request on such
 * a connection) is answered by fastify as before — the gateway route there
 * stays the reference for what the relay must do.
 */
import {
  createHttpRelay,
  installHttpRelay,
  type HttpRelay,
  type NodeFunctions,
  type RequestHead,
} from '@aether/functions';
import type { FastifyInstance } from 'fastify';
import { bearerToken, tokensEqual } from '../auth/bearer.js';
import type { TokenPolicy } from './auth.js';

/** What the relay needs from the node. */
export interface GatewayRelayOptions {
  nodeFunctions: NodeFunctions;
  /** The API's token policy, when it has one. */
  policy?: TokenPolicy | undefined;
  onRequest?: ((functionId: string, status: number, seconds: number) => void) | undefined;
}

const PREFIX = '/functions/';

/**
 * The function id and sub-path of a `/functions/{id}[/...][?...]` target
 * (as fastify's `/functions/:id` and `/functions/:id/*` routes read it), or
 * null for other targets.
 */
export function gatewayTarget(target: string): { id: string; path: string } | null {
  if (!target.startsWith(PREFIX)) return null;
  let end = PREFIX.length;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */) break;
    end++;
  }
  if (end === PREFIX.length) return null;
  let id: string;
  try {
    id = decodeURIComponent(target.slice(PREFIX.length, end));
  } catch {
    return null;
  }
  const rest = target.slice(end);
  return { id, path: rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest };
}

/**
 * Installs the relay on `app.server` (before it listens); it shuts down
 * with the app.
 */
export function installGatewayRelay(app: FastifyInstance, options: GatewayRelayOptions): HttpRelay {
  const { nodeFunctions: fns, policy } = options;
  const allowed = (head: RequestHead): boolean => {
    if (policy === undefined) return true;
    const q = head.target.indexOf('?');
    const accepted = policy(head.method, q < 0 ? head.target : head.target.slice(0, q));
    if (accepted.length === 0) return true;
    const given = bearerToken(head.authorization);
    return given !== undefined && accepted.some((t) => tokensEqual(given, t));
  };
  const relay = createHttpRelay({
    route(head) {
      const t = gatewayTarget(head.target);
      if (t === null || !fns.servable(t.id) || !allowed(head)) return null;
      return { functionId: t.id, path: t.path };
    },
    tryAcquire: (id, prefer) => fns.tryAcquire(id, prefer),
    acquire: (id) => fns.acquire(id),
    timeoutMs: (id) => fns.timeoutMs(id),
    onRequest: options.onRequest,
  });
  const uninstall = installHttpRelay(app.server, relay);
  app.addHook('preClose', (done) => {
    relay.shutdown();
    done();
  });
  app.addHook('onClose', (_app, done) => {
    uninstall();
    relay.destroy();
    done();
  });
  return relay;
}

/**
 * Bearer-token authentication of the HTTP API: with `[auth] token` set every
 * route except `/health` and the dashboard's page and assets (`GET /`,
 * `/assets/*`: no data in them) needs `Authorization: Bearer <token>`,
 * compared in constant time. Edge nodes may present `[edge] token` instead on the routes
 * they use (register, callback, reading functions and their code); with an
 * edge token set, `/register` and `/callback` need a token even when the API
 * itself is open.
 */
import { aetherError } from '@aether/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, tokensEqual } from '../auth/bearer.js';
import { isDashboardPath } from './dashboard-routes.js';
import { sendError } from './errors.js';

/** Paths answered without a token (liveness probes must not need secrets). */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/health']);

/** Routes edge nodes call to join and report. */
const EDGE_WRITE_PATHS: ReadonlySet<string> = new Set(['/register', '/callback']);

/** Routes edge nodes read functions through. */
function isEdgeRead(method: string, path: string): boolean {
  return method === 'GET' && /^\/api\/functions\/[^/]+(\/wasm)?$/.test(path);
}

/** The tokens that open each route. */
export interface BearerTokens {
  /** `[auth] token`: every route but `/health`. */
  token?: string | undefined;
  /** `[edge] token`: the routes edge nodes use. */
  edgeToken?: string | undefined;
}

/** The tokens accepted on a route; an empty list means the route is open. */
export function acceptedTokens(method: string, path: string, tokens: BearerTokens): string[] {
  if (PUBLIC_PATHS.has(path) || (method === 'GET' && isDashboardPath(path))) return [];
  const admin = tokens.token === undefined ? [] : [tokens.token];
  const edge = tokens.edgeToken === undefined ? [] : [tokens.edgeToken];
  if (EDGE_WRITE_PATHS.has(path)) return [...admin, ...edge];
  if (isEdgeRead(method, path) && admin.length > 0) return [...admin, ...edge];
  return admin;
}

/** The tokens that open a route (empty: the route is open). */
export type TokenPolicy = (method: string, path: string) => readonly string[];

/** The API's policy: `[auth] token` everywhere but `/health`, `[edge] token` on the edge routes. */
export function apiTokenPolicy(tokens: BearerTokens): TokenPolicy {
  return (method, path) => acceptedTokens(method, path, tokens);
}

/** Adds an onRequest hook that rejects requests without a token the policy accepts with 401. */
export function installBearerAuth(app: FastifyInstance, policy: TokenPolicy): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const accepted = policy(request.method, path);
    if (accepted.length === 0) return;
    const given = bearerToken(request.headers.authorization);
    if (given !== undefined && accepted.some((t) => tokensEqual(given, t))) return;
    void reply.header('www-authenticate', 'Bearer realm="aether"');
    return sendError(
      reply,
      aetherError(
        'AETHER_E_UNAUTHENTICATED',
        given === undefined ? 'this server requires a bearer token' : 'the bearer token is not valid',
      ),
    );
  });
}

/**
 * Bearer-token authentication of the HTTP API: with `[auth] token` set every
 * route except `/health` needs `Authorization: Bearer <token>`, compared in
 * constant time.
 */
import { aetherError } from '@aether/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, tokensEqual } from '../auth/bearer.js';
import { sendError } from './errors.js';

/** Paths answered without a token (liveness probes must not need secrets). */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/health']);

/** Adds an onRequest hook that rejects requests without the bearer token with 401. */
export function installBearerAuth(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? request.url;
    if (PUBLIC_PATHS.has(path)) return;
    const given = bearerToken(request.headers.authorization);
    if (given !== undefined && tokensEqual(given, token)) return;
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

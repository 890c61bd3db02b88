/**
 * One error shape for every HTTP answer, `{"error":{"code","message"}}` with
 * the catalogue's status, including fastify's own errors (unknown route,
 * malformed JSON, body too large).
 */
import { AetherError, aetherError, type ErrorCode } from '@aether/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';

/** Fastify error codes mapped to catalogue codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'AETHER_E_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'AETHER_E_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'AETHER_E_INVALID_ARGUMENT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'AETHER_E_INVALID_ARGUMENT',
  FST_ERR_CTP_INVALID_JSON_BODY: 'AETHER_E_INVALID_ARGUMENT',
  FST_ERR_VALIDATION: 'AETHER_E_INVALID_ARGUMENT',
  FST_ERR_NOT_FOUND: 'AETHER_E_NOT_FOUND',
};

/** Codes for other 4xx statuses fastify or its plugins may set. */
const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'AETHER_E_INVALID_ARGUMENT',
  401: 'AETHER_E_UNAUTHENTICATED',
  404: 'AETHER_E_NOT_FOUND',
  413: 'AETHER_E_PAYLOAD_TOO_LARGE',
  415: 'AETHER_E_UNSUPPORTED_MEDIA_TYPE',
};

/** Turns anything thrown by a route or by fastify into an AetherError. */
export function toHttpError(err: unknown): AetherError {
  if (err instanceof AetherError) return err;
  const e = err as Partial<FastifyError> | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const byCode = typeof e?.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (byCode !== undefined) return aetherError(byCode, message, {}, err);
  if (err instanceof SyntaxError) return aetherError('AETHER_E_INVALID_ARGUMENT', `invalid JSON body: ${message}`);
  const byStatus = typeof e?.statusCode === 'number' ? STATUS_CODES[e.statusCode] : undefined;
  if (byStatus !== undefined) return aetherError(byStatus, message, {}, err);
  return aetherError('AETHER_E_INTERNAL', `internal error: ${message}`, {}, err);
}

/** Sends an AetherError in the API's error shape. */
export function sendError(reply: FastifyReply, error: AetherError): FastifyReply {
  // Backpressure answers say when to come back (503 AETHER_E_FN_OVERLOADED).
  const retryAfterMs = error.details.retryAfterMs;
  if (typeof retryAfterMs === 'number' && retryAfterMs >= 0) {
    void reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  }
  return reply.status(error.httpStatus).send({ error: error.toJSON() });
}

/** Installs the error and not-found handlers that give every error the API's shape. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendError(
      reply,
      aetherError('AETHER_E_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? request.url}`),
    ),
  );
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const error = toHttpError(err);
    if (error.httpStatus >= 500) {
      request.log.error({ err, code: error.code, url: request.url }, 'request failed');
    }
    return sendError(reply, error);
  });
}

/**
 * Parses a request body with a zod schema; the first problem becomes `code`
 * (400) naming its field, e.g. `deploy body: file: must be an absolute path`.
 */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string, code: ErrorCode, expected = ''): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.join('.') || 'body';
  throw aetherError(
    code,
    `${what}: ${where}: ${issue?.message ?? 'invalid'}${expected === '' ? '' : ` (expected ${expected})`}`,
  );
}

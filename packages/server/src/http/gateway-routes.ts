/**
 * Seed 001's gateway on the node's HTTP port: `POST /api/functions/{id}/code`
 * (multipart `file=@code.zip`, a new immutable version) and
 * `ANY /functions/{id}/*`, proxied to an instance of the function's live
 * version with method, sub-path, query, headers and bodies streamed both
 * ways. Instances start on demand (cold start), requests wait in a bounded
 * queue, and past it get 503 with Retry-After.
 */
import { aetherError, toAetherError } from '@aether/core';
import multipart from '@fastify/multipart';
import type { NodeFunctions } from '@aether/functions';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors as undiciErrors } from 'undici';

/** What the gateway routes need. */
export interface GatewayRoutesOptions {
  nodeFunctions: NodeFunctions;
  /** Largest zip accepted. */
  maxZipBytes: number;
  /** Each proxied request's outcome, for the metrics. */
  onRequest?: ((functionId: string, status: number, seconds: number) => void) | undefined;
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded; Host is, so handlers see the URL the client used.
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function forwardHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

async function invoke(
  request: FastifyRequest,
  reply: FastifyReply,
  options: GatewayRoutesOptions,
): Promise<FastifyReply> {
  const { id } = request.params as { id: string };
  const t0 = performance.now();
  const fns = options.nodeFunctions;
  // The sub-path after /functions/{id}, with the query string as sent.
  const raw = request.raw.url ?? '/';
  const prefix = `/functions/${encodeURIComponent(id)}`;
  let rest = raw.startsWith(prefix) ? raw.slice(prefix.length) : raw.slice(raw.indexOf('/', 11));
  if (!rest.startsWith('/')) rest = `/${rest}`;
  const slot = await fns.acquire(id);
  const timeoutMs = fns.timeoutMs(id);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  let released = false;
  const release = (): void => {
    if (!released) {
      released = true;
      slot.release();
    }
  };
  try {
    const res = await slot.dispatcher.request({
      method: request.method,
      path: rest,
      headers: forwardHeaders(request.headers),
      body: hasBody ? request.raw : null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    res.body.once('end', release);
    res.body.once('error', release);
    res.body.once('close', release);
    reply.raw.once('close', () => {
      if (!res.body.destroyed) res.body.destroy();
      release();
    });
    options.onRequest?.(id, res.statusCode, (performance.now() - t0) / 1000);
    return reply
      .code(res.statusCode)
      .headers(forwardHeaders(res.headers))
      .header('x-aether-instance', slot.instance.id)
      .send(res.body);
  } catch (err) {
    release();
    const timedOut = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError;
    const error = timedOut
      ? aetherError('AETHER_E_FN_TIMEOUT', `${id}: no answer within timeout_ms ${timeoutMs}`, { function: id })
      : aetherError(
          slot.instance.exit?.reason === 'oom' ? 'AETHER_E_FN_OOM' : 'AETHER_E_FN_INSTANCE_CRASHED',
          `${id}: the instance failed the request: ${slot.instance.exit?.message ?? (err as Error).message}`,
          { function: id },
        );
    options.onRequest?.(id, error.httpStatus, (performance.now() - t0) / 1000);
    throw error;
  }
}

/** Registers the gateway routes in their own scope (bodies are streamed, not parsed). */
export async function registerGatewayRoutes(app: FastifyInstance, options: GatewayRoutesOptions): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: options.maxZipBytes, files: 1, fields: 4, parts: 5 } });
    scope.post('/api/functions/:id/code', async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!request.isMultipart()) {
        throw aetherError('AETHER_E_FN_INVALID', 'upload the zip as multipart/form-data: curl -F "file=@code.zip"');
      }
      const file = await request.file();
      if (file === undefined || file.fieldname !== 'file') {
        throw aetherError(
          'AETHER_E_FN_INVALID',
          'the multipart body needs a "file" field with the zip: curl -F "file=@code.zip"',
        );
      }
      let zip: Buffer;
      try {
        zip = await file.toBuffer();
      } catch (err) {
        const e = toAetherError(err);
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          throw aetherError('AETHER_E_CODE_TOO_LARGE', `the zip is larger than ${options.maxZipBytes} bytes`);
        }
        throw e;
      }
      const record = await options.nodeFunctions.upload(id, new Uint8Array(zip.buffer, zip.byteOffset, zip.byteLength));
      return reply.status(201).send({
        status: 'success',
        id: record.id,
        function_id: record.id,
        version: record.version,
        hash: record.hash,
        size_bytes: record.sizeBytes,
        deployed_at: record.updatedAt.replace(/\.\d{3}Z$/, 'Z'),
      });
    });
  });

  await app.register((scope, _opts, done) => {
    // Bodies go to the instance as they arrive: no parsing, no size limit of the API's.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const handler = (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> =>
      invoke(request, reply, options);
    scope.all('/functions/:id', handler);
    scope.all('/functions/:id/*', handler);
    done();
  });
}

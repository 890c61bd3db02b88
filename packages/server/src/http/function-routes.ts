/**
 * The function routes of the HTTP API with seed 002's JSON shapes: deploy
 * (`POST /api/functions {name, wasm_b64}`), list, manifest, get, delete, the
 * module bytes for edge nodes, and `POST /execute` — run on a healthy edge
 * node when one is registered, else here.
 */
import {
  parseDeployRequest,
  parseExecuteRequest,
  type EdgeDispatch,
  type FunctionRecord,
  type FunctionScaling,
  type FunctionService,
  type NodeFunctions,
  type NodeRegistry,
  type PoolScaling,
  type WasmExecution,
} from '@aether/functions';
import { AetherError, aetherError } from '@aether/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { parseBody } from './errors.js';

/** Seed 002 writes times as `2025-10-27T10:30:00Z`: ISO 8601 without milliseconds. */
export function seedTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A function as `GET /api/functions/{id}` shows it; `scaling` is a node
 * function's effective scaling (null for a WASM function, which has none).
 */
export function functionToJson(record: FunctionRecord, scaling: PoolScaling | null = null): Record<string, unknown> {
  return {
    id: record.id,
    function_id: record.id,
    name: record.name,
    runtime: record.runtime,
    hash: record.hash,
    version: record.version,
    size_bytes: record.sizeBytes,
    size_kb: Math.ceil(record.sizeBytes / 1024),
    memory_limit_mb: record.memoryLimitMb,
    timeout_ms: record.timeoutMs,
    scaling:
      scaling === null
        ? null
        : {
            min: scaling.min,
            max: scaling.max,
            target_concurrency: scaling.targetConcurrency,
            idle_timeout_s: scaling.idleTimeoutS,
          },
    env_vars: record.envVars,
    created_at: seedTime(record.deployedAt),
    deployed_at: seedTime(record.updatedAt),
  };
}

/** Seed 002's `/execute` answer: `{output, execution_time_ms, memory_used_kb}`. */
export function executionToJson(result: WasmExecution): Record<string, unknown> {
  return {
    output: result.output,
    execution_time_ms: Math.round(result.executionTimeMs * 1000) / 1000,
    memory_used_kb: result.memoryUsedKb,
  };
}

/** What the function routes need. */
export interface FunctionRoutesOptions {
  functions: FunctionService;
  /** Largest module accepted (the deploy route's body limit follows from it). */
  maxModuleBytes: number;
  /** Edge nodes `/execute` is sent to, when any is healthy. */
  edges?: { nodes: NodeRegistry; dispatch: EdgeDispatch } | undefined;
  /** Node-wide timeout of functions without their own, for the forward's deadline. */
  defaultTimeoutMs: number;
  /** Node functions (seed 001), sharing the routes: `runtime: "node"` creates one. */
  nodeFunctions?: NodeFunctions | undefined;
  /** Each `/execute` call's outcome (the dashboard's per-function counters). */
  onExecute?: ((functionId: string, status: number, seconds: number) => void) | undefined;
}

// Bounds and min <= max are checked by the node functions (AETHER_E_FN_INVALID naming the field).
const scalingBody = z.strictObject(
  {
    min: z.number({ error: 'must be a number' }).optional(),
    max: z.number({ error: 'must be a number' }).optional(),
    target_concurrency: z.number({ error: 'must be a number' }).optional(),
    idle_timeout_s: z.number({ error: 'must be a number' }).optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (known: min, max, target_concurrency, idle_timeout_s)`
        : 'must be an object {min, max, target_concurrency, idle_timeout_s} or null',
  },
);

/** Wire scaling (snake_case) as a function's overrides: only the fields given. */
function scalingOf(body: z.infer<typeof scalingBody> | null | undefined): FunctionScaling | null | undefined {
  if (body === undefined || body === null) return body;
  const scaling: FunctionScaling = {};
  if (body.min !== undefined) scaling.min = body.min;
  if (body.max !== undefined) scaling.max = body.max;
  if (body.target_concurrency !== undefined) scaling.targetConcurrency = body.target_concurrency;
  if (body.idle_timeout_s !== undefined) scaling.idleTimeoutS = body.idle_timeout_s;
  return scaling;
}

const nodeCreateBody = z.strictObject({
  name: z.string({ error: 'must be a string' }),
  runtime: z.literal('node'),
  env_vars: z.record(z.string(), z.string({ error: 'values must be strings' })).optional(),
  memory_limit_mb: z.number().int().min(1).max(16_384).nullable().optional(),
  timeout_ms: z.number().int().min(1).max(3_600_000).nullable().optional(),
  scaling: scalingBody.nullable().optional(),
});

const nodePatchBody = nodeCreateBody.omit({ name: true, runtime: true }).partial();

function idParam(params: unknown): string {
  return (params as { id: string }).id;
}

/** Registers the function routes. */
export function registerFunctionRoutes(app: FastifyInstance, options: FunctionRoutesOptions): void {
  const { functions } = options;
  // base64 is 4/3 of the module, plus the JSON around it.
  const deployBodyLimit = Math.ceil((options.maxModuleBytes * 4) / 3) + 64 * 1024;

  const node = options.nodeFunctions;
  const toJson = (record: FunctionRecord): Record<string, unknown> =>
    functionToJson(record, record.runtime === 'node' && node !== undefined ? node.scaling(record.id) : null);
  app.post('/api/functions', { bodyLimit: deployBodyLimit }, async (request, reply) => {
    if ((request.body as { runtime?: unknown } | null)?.runtime === 'node' && node !== undefined) {
      const b = parseBody(nodeCreateBody, request.body, 'POST /api/functions', 'AETHER_E_FN_INVALID');
      const created = await node.create(b.name, {
        envVars: b.env_vars,
        memoryLimitMb: b.memory_limit_mb,
        timeoutMs: b.timeout_ms,
        scaling: scalingOf(b.scaling),
      });
      return reply.status(201).send({
        status: 'success',
        id: created.id,
        function_id: created.id,
        name: created.name,
        runtime: created.runtime,
        version: created.version,
        deployed_at: seedTime(created.updatedAt),
      });
    }
    const record = await functions.deploy(parseDeployRequest(request.body, options.maxModuleBytes));
    return reply.status(201).send({
      status: 'success',
      id: record.id,
      function_id: record.id,
      name: record.name,
      version: record.version,
      hash: record.hash,
      size_bytes: record.sizeBytes,
      deployed_at: seedTime(record.updatedAt),
    });
  });

  app.get('/api/functions', () => ({
    functions: [...functions.list(), ...(node?.list() ?? [])]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(toJson),
  }));

  app.get('/api/functions/manifest', () => ({
    functions: functions.list().map((r) => ({
      name: r.name,
      size_kb: Math.ceil(r.sizeBytes / 1024),
      uploaded_at: seedTime(r.updatedAt),
    })),
  }));

  app.get('/api/functions/:id', (request) => {
    const id = idParam(request.params);
    return toJson(node?.get(id) ?? functions.require(id));
  });

  app.patch('/api/functions/:id', async (request) => {
    const id = idParam(request.params);
    if (node?.get(id) === undefined) {
      functions.require(id);
      throw aetherError('AETHER_E_FN_INVALID', `${id} is a WASM function: redeploy it with POST /api/functions`);
    }
    const b = parseBody(nodePatchBody, request.body, `PATCH /api/functions/${id}`, 'AETHER_E_FN_INVALID');
    return toJson(
      await node.update(id, {
        envVars: b.env_vars,
        memoryLimitMb: b.memory_limit_mb,
        timeoutMs: b.timeout_ms,
        scaling: scalingOf(b.scaling),
      }),
    );
  });

  app.get('/api/functions/:id/wasm', async (request, reply) => {
    const { record, bytes } = await functions.code(idParam(request.params));
    return reply
      .type('application/wasm')
      .header('x-aether-hash', record.hash)
      .header('x-aether-version', String(record.version))
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  app.delete('/api/functions/:id', async (request) => {
    const id = idParam(request.params);
    const record = node?.get(id) !== undefined ? await node.delete(id) : await functions.delete(id);
    return { status: 'deleted', id: record.id, function_id: record.id };
  });

  app.post('/execute', async (request, reply: FastifyReply) => {
    const { function: name, input } = parseExecuteRequest(request.body);
    const record = functions.require(name);
    const started = performance.now();
    const done = (status: number): void => options.onExecute?.(record.id, status, (performance.now() - started) / 1000);
    try {
      const edges = options.edges;
      if (edges !== undefined) {
        const timeoutMs = record.timeoutMs ?? options.defaultTimeoutMs;
        const answer = await edges.dispatch.execute(Buffer.from(JSON.stringify({ function: name, input })), timeoutMs);
        if (answer !== undefined) {
          done(answer.status);
          return reply
            .status(answer.status)
            .type(answer.contentType)
            .header('x-aether-node', answer.nodeId)
            .send(answer.body);
        }
      }
      const result = await functions.execute(name, input);
      done(200);
      return reply.header('x-aether-node', 'local').send(executionToJson(result));
    } catch (err) {
      done(err instanceof AetherError ? err.httpStatus : 500);
      throw err;
    }
  });
}

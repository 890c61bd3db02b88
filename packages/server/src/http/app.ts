/**
 * The node's HTTP API on fastify (DESIGN.md 4.4): `/health`, `/metrics` and
 * the workflow routes, with bearer auth and one error shape everywhere.
 * Built against the `Engine` interface only, so tests can pass a fake engine.
 */
import type { Engine } from '@aether/engine';
import type { EdgeDispatch, FunctionService, HttpRelay, NodeFunctions, NodeRegistry } from '@aether/functions';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { apiTokenPolicy, installBearerAuth } from './auth.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { registerEdgeRoutes } from './edge-routes.js';
import { registerEventRoutes } from './event-routes.js';
import { installErrorHandlers } from './errors.js';
import { registerFunctionRoutes } from './function-routes.js';
import { createFunctionRequestStats, registerFunctionStatsRoute } from './function-stats.js';
import { installGatewayRelay } from './gateway-relay.js';
import { registerGatewayRoutes } from './gateway-routes.js';
import { registerOrchestratorRoutes } from './orchestrator-routes.js';
import type { ProcessHost } from '../process-host.js';
import type { NodeMetrics } from './metrics.js';
import { registerWorkflowRoutes } from './workflow-routes.js';

/** Options of `createHttpApp`. */
export interface HttpAppOptions {
  /** Seed 000's process functions (`/api/orchestrator`). */
  processes?: ProcessHost | undefined;
  /** Enables `POST /api/shutdown` (`aether down`): called once the answer is sent. */
  onShutdown?: (() => void) | undefined;
  engine: Engine;
  /** Largest request body in bytes; larger bodies get 413 AETHER_E_PAYLOAD_TOO_LARGE. */
  maxPayloadBytes: number;
  /** Bearer token every route except `/health` requires. @default undefined (no auth) */
  token?: string | undefined;
  /** `[edge] token`, accepted from edge nodes on the routes they use. @default undefined */
  edgeToken?: string | undefined;
  /** The function registry, WASM runtime and edge nodes; without it no function routes. */
  functions?:
    | {
        service: FunctionService;
        nodes: NodeRegistry;
        dispatch: EdgeDispatch;
        /** Node functions (seed 001) and their gateway. */
        nodeFunctions?: NodeFunctions | undefined;
        /** Each gateway request's outcome (metrics). */
        onGatewayRequest?: ((functionId: string, status: number, seconds: number) => void) | undefined;
        maxModuleBytes: number;
        /** Largest node-function zip. @default 64 MiB */
        maxZipBytes?: number | undefined;
        defaultTimeoutMs: number;
      }
    | undefined;
  /** Metrics served on `/metrics`. @default undefined (no `/metrics` route) */
  metrics?: NodeMetrics | undefined;
  /** Store shown by `/health`, e.g. `sqlite ./data/aether.db`. @default the engine's metrics().store */
  store?: string | undefined;
  /** A pino logger. @default logging disabled */
  logger?: FastifyBaseLogger | undefined;
  /** Log every request (debug aid). @default false */
  logRequests?: boolean | undefined;
  /** Epoch milliseconds the node started at, for `uptime_s`. @default now */
  startedAt?: number | undefined;
}

/** Fastify settings shared by the API app, the separate metrics app and the edge node's app. */
export function fastifyOptions(options: Pick<HttpAppOptions, 'logger' | 'logRequests' | 'maxPayloadBytes'>) {
  return {
    bodyLimit: options.maxPayloadBytes,
    logController: new LogController({ disableRequestLogging: options.logRequests !== true }),
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
  };
}

/**
 * JSON bodies as fastify parses them (prototype-poisoning checks included), except
 * that an empty body is no body: `fetch(url, {method: 'POST', headers: json})`
 * to `/cancel` must not fail.
 */
function acceptEmptyJson(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, text, done);
  });
}

function registerMetricsRoute(app: FastifyInstance, metrics: NodeMetrics): void {
  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
}

/**
 * Creates the HTTP API app (not listening yet: call `app.listen`).
 * @example
 * const app = await createHttpApp({ engine, maxPayloadBytes: 2 * 1024 * 1024, token: 's3cret' });
 * await app.listen({ host: '127.0.0.1', port: 7234 });
 */
export async function createHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions(options)) as unknown as FastifyInstance;
  const startedAt = options.startedAt ?? Date.now();
  const { engine } = options;
  installErrorHandlers(app);
  acceptEmptyJson(app);
  const policy =
    options.token !== undefined || options.edgeToken !== undefined
      ? apiTokenPolicy({ token: options.token, edgeToken: options.edgeToken })
      : undefined;
  if (policy !== undefined) installBearerAuth(app, policy);

  const fns = options.functions;
  app.get('/health', async () => ({
    status: 'ok',
    persistence: engine.persistence,
    store: options.store ?? (await engine.metrics()).store,
    uptime_s: Math.floor((Date.now() - startedAt) / 1000),
    ...(fns !== undefined
      ? {
          functions: fns.service.list().length,
          edge_nodes: fns.nodes.list().filter((n) => n.status === 'up').length,
          wasm: fns.service.runtimeStats(),
        }
      : {}),
  }));
  if (options.metrics !== undefined) registerMetricsRoute(app, options.metrics);
  registerWorkflowRoutes(app, engine);
  registerEventRoutes(app, engine);
  registerDashboardRoutes(app);
  if (fns !== undefined) {
    const requestStats = createFunctionRequestStats();
    const onRequest = (functionId: string, status: number, seconds: number): void =>
      requestStats.record(functionId, status, seconds);
    const onGatewayRequest = (functionId: string, status: number, seconds: number): void => {
      onRequest(functionId, status, seconds);
      fns.onGatewayRequest?.(functionId, status, seconds);
    };
    registerFunctionStatsRoute(app, {
      stats: requestStats,
      functions: fns.service,
      nodeFunctions: fns.nodeFunctions,
      processes: options.processes,
    });
    registerFunctionRoutes(app, {
      functions: fns.service,
      maxModuleBytes: fns.maxModuleBytes,
      defaultTimeoutMs: fns.defaultTimeoutMs,
      edges: { nodes: fns.nodes, dispatch: fns.dispatch },
      nodeFunctions: fns.nodeFunctions,
      onExecute: onRequest,
    });
    if (fns.nodeFunctions !== undefined) {
      await registerGatewayRoutes(app, {
        nodeFunctions: fns.nodeFunctions,
        maxZipBytes: fns.maxZipBytes ?? 64 * 1024 * 1024,
        onRequest: onGatewayRequest,
      });
      const relay = installGatewayRelay(app, {
        nodeFunctions: fns.nodeFunctions,
        policy,
        onRequest: onGatewayRequest,
      });
      app.decorate('gatewayRelay', relay);
    }
    registerEdgeRoutes(app, { nodes: fns.nodes, functions: fns.service });
  }
  if (options.processes !== undefined) {
    registerOrchestratorRoutes(app, { processes: options.processes, onShutdown: options.onShutdown });
  }
  await app.ready();
  return app;
}

/** The gateway relay of an app made by createHttpApp (undefined without node functions). */
export function gatewayRelayOf(app: FastifyInstance): HttpRelay | undefined {
  return (app as unknown as { gatewayRelay?: HttpRelay }).gatewayRelay;
}

/** Options of `createMetricsApp`. */
export interface MetricsAppOptions {
  metrics: NodeMetrics;
  token?: string | undefined;
  logger?: FastifyBaseLogger | undefined;
}

/**
 * Creates an app that serves only `/metrics`, for `[metrics] port`.
 * @example
 * const app = await createMetricsApp({ metrics });
 * await app.listen({ host: '127.0.0.1', port: 9090 });
 */
export async function createMetricsApp(options: MetricsAppOptions): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions({ logger: options.logger, maxPayloadBytes: 1024 })) as unknown as FastifyInstance;
  installErrorHandlers(app);
  if (options.token !== undefined) installBearerAuth(app, apiTokenPolicy({ token: options.token }));
  registerMetricsRoute(app, options.metrics);
  await app.ready();
  return app;
}

/**
 * An edge node (`aether edge`, seed 002's aether-engine): a WASM runtime and
 * the edge agent behind a small HTTP server with `POST /execute` (seed 002's
 * shape), `GET /health` and `POST /notify` (deploy notifications from the
 * control plane). Used by the CLI and, in-process, by tests.
 */
import { hostname } from 'node:os';
import { AetherError, aetherError, type ResolvedEdgeConfig } from '@aether/core';
import {
  createControlPlaneClient,
  createEdgeAgent,
  createWasmRuntime,
  parseExecuteRequest,
  wasmRuntimeOptionsFrom,
  type EdgeAgent,
} from '@aether/functions';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { fastifyOptions } from '../http/app.js';
import { installBearerAuth } from '../http/auth.js';
import { installErrorHandlers } from '../http/errors.js';
import { executionToJson } from '../http/function-routes.js';

/** Largest `/execute` body an edge node accepts. */
const EDGE_BODY_LIMIT = 2 * 1024 * 1024;

/** A running edge node. */
export interface RunningEdge {
  readonly port: number;
  readonly nodeId: string;
  /** The URL the control plane reaches this node at. */
  readonly url: string;
  readonly agent: EdgeAgent;
  readonly banner: string[];
  /** Tells the control plane it stops, then closes the listener and the runtime. Safe to call twice. */
  close(): Promise<void>;
}

/** Options of `startEdgeNode` beyond the configuration. */
export interface StartEdgeOptions {
  /** @default a silent logger */
  logger?: Logger | undefined;
  /** Log every HTTP request (debug aid). @default false */
  logRequests?: boolean | undefined;
}

function isAnyAddress(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The node id used when none is configured: host name and port, unique per machine. */
export function defaultNodeId(port: number): string {
  const name =
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'edge';
  return `${name}-${port}`;
}

async function buildApp(
  agent: () => EdgeAgent,
  health: () => Record<string, unknown>,
  token: string | undefined,
  logger: Logger,
  logRequests: boolean,
): Promise<FastifyInstance> {
  const app = Fastify(
    fastifyOptions({ logger, logRequests, maxPayloadBytes: EDGE_BODY_LIMIT }),
  ) as unknown as FastifyInstance;
  installErrorHandlers(app);
  // Only the control plane's notifications need the token; /execute is public as in seed 002.
  if (token !== undefined) {
    installBearerAuth(app, (method, path) => (method === 'POST' && path === '/notify' ? [token] : []));
  }
  app.get('/health', () => health());
  app.post('/execute', async (request) => {
    const { function: name, input } = parseExecuteRequest(request.body);
    return executionToJson(await agent().execute(name, input));
  });
  app.post('/notify', async (request) => {
    const body = request.body as { event?: unknown; data?: unknown } | undefined;
    if (body === undefined || typeof body.event !== 'string' || body.data === null || typeof body.data !== 'object') {
      throw aetherError('AETHER_E_INVALID_ARGUMENT', 'the body must be {"event": "...", "data": {...}}');
    }
    await agent().notify(body.event, body.data as Record<string, unknown>);
    return { status: 'ok' };
  });
  await app.ready();
  return app;
}

/**
 * Starts an edge node: binds its port, registers with the control plane
 * (failing fast when the token is refused or the control plane is
 * unreachable), pulls and compiles every function, then heartbeats.
 * @throws AetherError AETHER_E_USAGE (no control plane), AETHER_E_UNAUTHENTICATED,
 *   AETHER_E_CONTROL_PLANE_UNREACHABLE, AETHER_E_PORT_IN_USE
 * @example
 * const edge = await startEdgeNode({ ...defaultEdgeConfig(), edge: { controlPlane: 'http://127.0.0.1:7234' } });
 */
export async function startEdgeNode(config: ResolvedEdgeConfig, options: StartEdgeOptions = {}): Promise<RunningEdge> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const controlPlane = config.edge.controlPlane;
  if (controlPlane === undefined) {
    throw aetherError('AETHER_E_USAGE', 'aether edge needs the control plane: --control-plane http://HOST:7234', {
      flag: '--control-plane',
    });
  }
  const client = createControlPlaneClient({ baseUrl: controlPlane, token: config.edge.token });
  const fn = config.functions;
  const runtime = createWasmRuntime(
    wasmRuntimeOptionsFrom(fn, { maxInputBytes: EDGE_BODY_LIMIT, logger: logger.child({ component: 'wasm' }) }),
  );
  // Set once registration succeeded; routes answer 503 until then.
  let agent: EdgeAgent | undefined = undefined;
  const health = (): Record<string, unknown> => ({
    status: 'ok',
    role: 'edge',
    ...(agent === undefined
      ? {}
      : (() => {
          const s = agent.status();
          return {
            node_id: s.nodeId,
            control_plane: controlPlane,
            registered: s.registered,
            control_plane_reachable: s.controlPlaneReachable,
            last_heartbeat_at: s.lastHeartbeatAt ?? null,
            functions: s.functions,
            cache: runtime.stats().cache,
          };
        })()),
  });
  const app = await buildApp(
    () => {
      if (agent === undefined) throw aetherError('AETHER_E_UNAVAILABLE', 'the edge node is still starting');
      return agent;
    },
    health,
    config.edge.token,
    logger.child({ component: 'http' }),
    options.logRequests === true,
  );

  const closeQuietly = async (): Promise<void> => {
    await app.close().catch(() => undefined);
    await runtime.close().catch(() => undefined);
    await client.close().catch(() => undefined);
  };
  let port: number;
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
    const address = app.server.address();
    port = typeof address === 'object' && address !== null ? address.port : config.server.port;
  } catch (err) {
    await closeQuietly();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw aetherError(
        'AETHER_E_PORT_IN_USE',
        `edge port ${config.server.port} on ${config.server.host} is already in use`,
        {
          port: config.server.port,
        },
      );
    }
    throw err;
  }
  const nodeId = config.edge.nodeId ?? defaultNodeId(port);
  const advertisedHost = isAnyAddress(config.server.host) ? hostname() : urlHost(config.server.host);
  const url = config.edge.url ?? `http://${advertisedHost}:${port}`;
  const created = createEdgeAgent({
    client,
    runtime,
    nodeId,
    url,
    defaults: { timeoutMs: fn.execTimeoutMs, memoryLimitBytes: fn.memoryLimitBytes },
    heartbeatIntervalMs: config.edge.heartbeatIntervalMs,
    logger: logger.child({ component: 'edge' }),
  });
  try {
    await created.start();
  } catch (err) {
    await closeQuietly();
    throw err instanceof AetherError
      ? err
      : aetherError('AETHER_E_INTERNAL', `cannot start the edge node: ${(err as Error).message}`, {}, err);
  }
  agent = created;

  let closing: Promise<void> | undefined;
  return {
    port,
    nodeId,
    url,
    agent: created,
    banner: [
      `aether edge: node ${nodeId} at ${url} (listening on ${urlHost(config.server.host)}:${port}), control plane ${controlPlane}`,
    ],
    close: () =>
      (closing ??= (async () => {
        await created.stop();
        await app.close();
        await runtime.close();
      })()),
  };
}

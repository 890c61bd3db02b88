/**
 * The wiring of one node (`aether serve`): store -> engine -> gRPC and HTTP
 * listeners (and an optional separate metrics port), with orderly start-up
 * (everything opened so far is closed again when a later step fails) and
 * graceful shutdown. Used by the CLI and, in-process, by tests.
 */
import { aetherError, AetherError, TerminalError, type ResolvedServerConfig } from '@aether/core';
import { createEngine, openStore, type Engine, type WorkflowStore } from '@aether/engine';
import type { FunctionService, HttpRelay, NodeFunctionDefaults, NodeFunctions, NodeRegistry } from '@aether/functions';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { openFunctionsNode, type Closer } from './functions-node.js';
import { createProcessHost, type ProcessHost } from './process-host.js';
import { createGrpcServer, type AetherGrpcServer } from './grpc/server.js';
import { createHttpApp, createMetricsApp, gatewayRelayOf } from './http/app.js';
import { registerFunctionMetrics, type FunctionMetrics } from './http/function-metrics.js';
import { createNodeMetrics, type NodeMetrics } from './http/metrics.js';

/** Options of `startServer` beyond the configuration. */
export interface StartServerOptions {
  /** Allow binding a non-loopback host without a token. @default false */
  insecure?: boolean | undefined;
  /** A pino logger. @default a silent logger */
  logger?: Logger | undefined;
  /** Log every HTTP request. @default false */
  logRequests?: boolean | undefined;
  /** Each line a process function's handler writes. @default logged at info */
  processOutput?: ((functionId: string, line: string, stream: 'stdout' | 'stderr') => void) | undefined;
  /** Enables `POST /api/shutdown` (`aether down`); called after the answer is sent. */
  onShutdownRequest?: (() => void) | undefined;
  /** Overrides of the node-function defaults (scaling, timeouts), e.g. for tests. */
  nodeFunctionDefaults?: Partial<NodeFunctionDefaults> | undefined;
}

/** A running node. */
export interface RunningServer {
  /** The bound gRPC port (useful when the configuration asked for port 0). */
  readonly grpcPort: number;
  /** The bound HTTP port. */
  readonly httpPort: number;
  /** The bound separate metrics port, when `[metrics] port` is set. */
  readonly metricsPort?: number | undefined;
  /** The store, e.g. `sqlite ./data/aether.db` or `memory`. */
  readonly store: string;
  readonly engine: Engine;
  /** The function registry and local WASM executor. */
  readonly functions: FunctionService;
  /** The edge nodes registered with this control plane. */
  readonly nodes: NodeRegistry;
  /** Seed 000's process functions (started by `up` or a deploy). */
  readonly processes: ProcessHost;
  /** Seed 001's node functions (the gateway's). */
  readonly nodeFunctions: NodeFunctions;
  /** The gateway's fast path on the HTTP port (connections and requests it relayed). */
  readonly gatewayRelay: HttpRelay | undefined;
  /** The start-up lines to show the user, one per listener group. */
  readonly banner: string[];
  /** Stops the listeners, the engine and the store. Safe to call more than once. */
  close(): Promise<void>;
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/**
 * Refuses a non-loopback bind without a token unless `insecure`.
 * @throws TerminalError AETHER_E_INSECURE_BIND
 */
export function assertSafeBind(host: string, token: string | undefined, insecure: boolean): void {
  if (isLoopbackHost(host) || token !== undefined || insecure) return;
  throw new TerminalError(
    'AETHER_E_INSECURE_BIND',
    `refusing to listen on ${host} without a token: anyone who can reach this address could run and cancel workflows`,
    { host },
  );
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** How the store is shown: a SQLite path as the user gave it, a URL without its password. */
function storeLabel(store: WorkflowStore, dbPath: string): string {
  if (store.kind === 'memory') return 'memory';
  return `${store.kind} ${store.kind === 'sqlite' ? dbPath : store.location}`;
}

async function listenHttp(app: FastifyInstance, host: string, port: number, what: string): Promise<number> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw aetherError(
        'AETHER_E_PORT_IN_USE',
        `${what} port ${port} on ${host} is already in use`,
        { host, port },
        err,
      );
    }
    if (
      (err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL' ||
      (err as NodeJS.ErrnoException).code === 'ENOTFOUND'
    ) {
      throw aetherError(
        'AETHER_E_CONFIG_INVALID',
        `cannot listen on ${host}: no such local address`,
        { host, key: 'server.host' },
        err,
      );
    }
    throw err;
  }
  const address = app.server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}

/**
 * Starts a node from a resolved configuration: opens the store, starts the
 * engine, then binds gRPC, HTTP and (when configured) the metrics port.
 * @throws AetherError AETHER_E_INSECURE_BIND, AETHER_E_PORT_IN_USE, store errors
 *   (AETHER_E_STORE_*); anything opened before the failure is closed again.
 * @example
 * const config = defaultServerConfig();
 * config.server.grpcPort = 0; config.server.httpPort = 0; config.persistence.mode = 'memory';
 * const node = await startServer(config);
 * console.log(node.httpPort);
 * await node.close();
 */
export async function startServer(
  config: ResolvedServerConfig,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const { server, persistence, metrics: metricsConfig, auth } = config;
  assertSafeBind(server.host, auth.token, options.insecure === true);
  const logger = options.logger ?? pino({ level: 'silent' });

  // Resources opened so far, closed in reverse order on failure or shutdown.
  const closers: Closer[] = [];
  const closeAll = async (): Promise<void> => {
    for (const { what, close } of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        logger.warn({ err, what }, 'error while closing');
      }
    }
  };

  try {
    const store = await openStore({ db: server.dbPath, persistence: persistence.mode });
    closers.push({ what: 'store', close: () => store.close() });
    const engine = createEngine({
      store,
      persistence: persistence.mode,
      snapshotIntervalMs: persistence.snapshotIntervalMs,
      maxPayloadBytes: server.maxPayloadBytes,
      logger: logger.child({ component: 'engine' }),
    });
    await engine.start();
    closers.push({ what: 'engine', close: () => engine.stop() });

    let functionMetrics: FunctionMetrics | undefined;
    const processes = createProcessHost({ host: server.host, logger, onOutput: options.processOutput });
    const { functions, nodes, dispatch, nodeFunctions } = await openFunctionsNode({
      config,
      store,
      logger,
      closers,
      processContext: processes.context,
      nodeFunctionDefaults: options.nodeFunctionDefaults,
      onColdStart: (id, ms) => functionMetrics?.coldStart(id, ms),
    });

    let metrics: NodeMetrics | undefined;
    if (metricsConfig.enabled) {
      const m = createNodeMetrics(engine);
      metrics = m;
      functionMetrics = registerFunctionMetrics(m.registry, { nodeFunctions, processes });
      closers.push({ what: 'metrics', close: () => m.close() });
    }

    const grpc: AetherGrpcServer = createGrpcServer({
      engine,
      token: auth.token,
      maxPayloadBytes: server.maxPayloadBytes,
      logger: logger.child({ component: 'grpc' }),
    });
    const grpcPort = await grpc.listen(server.host, server.grpcPort);
    closers.push({ what: 'gRPC server', close: () => grpc.close() });

    const label = storeLabel(store, server.dbPath);
    const startedAt = Date.now();
    const http = await createHttpApp({
      engine,
      token: auth.token,
      edgeToken: config.edge.token,
      maxPayloadBytes: server.maxPayloadBytes,
      metrics,
      functions: {
        service: functions,
        nodes,
        dispatch,
        nodeFunctions,
        onGatewayRequest: (id: string, status: number, seconds: number) =>
          functionMetrics?.request(id, status, seconds),
        maxModuleBytes: config.functions.maxModuleBytes,
        maxZipBytes: config.functions.node.maxZipBytes,
        defaultTimeoutMs: config.functions.execTimeoutMs,
      },
      store: label,
      logger: logger.child({ component: 'http' }),
      logRequests: options.logRequests,
      startedAt,
      processes,
      onShutdown: options.onShutdownRequest,
    });
    closers.push({ what: 'HTTP server', close: () => http.close() });
    // Closed first: instances drain while the API still answers.
    closers.push({ what: 'process functions', close: () => processes.close() });
    const httpPort = await listenHttp(http, server.host, server.httpPort, 'HTTP');

    let metricsPort: number | undefined;
    if (metrics !== undefined && metricsConfig.port !== undefined) {
      const app = await createMetricsApp({
        metrics,
        token: auth.token,
        logger: logger.child({ component: 'metrics' }),
      });
      closers.push({ what: 'metrics server', close: () => app.close() });
      metricsPort = await listenHttp(app, server.host, metricsConfig.port, 'metrics');
    }

    const banner = [
      `aether serve: gRPC ${hostPort(server.host, grpcPort)}, HTTP http://${hostPort(server.host, httpPort)}, ` +
        `persistence ${persistence.mode} (${label})`,
    ];
    if (metricsPort !== undefined)
      banner.push(`aether serve: metrics http://${hostPort(server.host, metricsPort)}/metrics`);

    let closing: Promise<void> | undefined;
    return {
      grpcPort,
      httpPort,
      metricsPort,
      store: label,
      engine,
      functions,
      nodes,
      processes,
      nodeFunctions,
      gatewayRelay: gatewayRelayOf(http),
      banner,
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err instanceof AetherError
      ? err
      : aetherError('AETHER_E_INTERNAL', `cannot start the server: ${(err as Error).message}`, {}, err);
  }
}

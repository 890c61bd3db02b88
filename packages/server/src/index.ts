/**
 * @aether/server: the `aether` CLI and a node's servers (HTTP API, gRPC API,
 * metrics), plus `startServer` to run a node in-process.
 */

/**
 * Starts a node (store, engine, gRPC, HTTP, metrics) from a resolved configuration.
 * @example
 * const config = defaultServerConfig();
 * const node = await startServer({ ...config, server: { ...config.server, grpcPort: 0, httpPort: 0 } });
 * await node.close();
 */
export { assertSafeBind, isLoopbackHost, startServer } from './serve.js';
export type { RunningServer, StartServerOptions } from './serve.js';

/** Resolves `aether.toml`, AETHER_TOKEN and `serve` flags into a configuration. */
export { applyServeFlags, isTomlFile, loadServerConfig, parsePortFlag } from './config/load-config.js';
export type { ConfigSources, LoadedServerConfig, ServeFlags } from './config/load-config.js';

/** The HTTP API (fastify) and the Prometheus metrics of a node. */
export { createHttpApp, createMetricsApp } from './http/app.js';
export type { HttpAppOptions, MetricsAppOptions } from './http/app.js';
export { createNodeMetrics } from './http/metrics.js';
export type { NodeMetrics } from './http/metrics.js';
/** Wire forms of workflows, steps and actions in HTTP bodies (snake_case). */
export type { ActionJson, ErrorJson, StepJson, WorkflowDetailJson, WorkflowJson } from './http/serialize.js';
export type { FunctionStatsJson } from './http/function-stats.js';

/** The gRPC API of a node. */
export { createGrpcServer } from './grpc/server.js';
export type { AetherGrpcServer, GrpcServerOptions } from './grpc/server.js';

/**
 * Runs the `aether` CLI in-process and returns its exit code.
 * @example
 * const code = await runCli(['node', 'aether', 'workflow', 'list', '--json']);
 */
export { runCli } from './cli/main.js';
export type { CliIo } from './cli/io.js';

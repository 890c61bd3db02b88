/**
 * The function half of a node (`aether serve`): the registry in the node's
 * store, the WASM runtime, the function service, and the control plane's view
 * of its edge nodes (registry, dispatch, deploy notifications). Kept apart
 * from serve.ts, which wires it next to the workflow engine and the listeners.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ResolvedServerConfig } from '@aether/core';
import type { WorkflowStore } from '@aether/engine';
import {
  createCodeCache,
  createEdgeDispatch,
  createLocalCodeStore,
  createNodeFunctions,
  createFunctionService,
  createNodeRegistry,
  createWasmRuntime,
  openFunctionStore,
  wasmRuntimeOptionsFrom,
  type EdgeDispatch,
  type FunctionContext,
  type FunctionService,
  type NodeFunctionDefaults,
  type NodeFunctions,
  type NodeRegistry,
} from '@aether/functions';
import type { Logger } from 'pino';

/** Something to close on shutdown (or when a later start-up step fails), in reverse order. */
export interface Closer {
  what: string;
  close: () => Promise<void> | void;
}

/** The function parts of a running node. */
export interface FunctionsNode {
  functions: FunctionService;
  nodes: NodeRegistry;
  dispatch: EdgeDispatch;
  /** Node functions (seed 001), served by the gateway. */
  nodeFunctions: NodeFunctions;
}

/** Node-function defaults from `[functions.node]` of aether.toml. */
export function nodeFunctionDefaultsOf(config: ResolvedServerConfig): NodeFunctionDefaults {
  const n = config.functions.node;
  return {
    memoryLimitMb: Math.max(1, Math.round(n.memoryLimitBytes / (1024 * 1024))),
    timeoutMs: n.timeoutMs,
    scaling: {
      min: n.minInstances,
      max: n.maxInstances,
      targetConcurrency: n.targetConcurrency,
      idleTimeoutS: n.idleTimeoutMs / 1000,
    },
    maxQueue: n.maxWaiting,
    isolation: n.isolation,
  };
}

/** Where node functions' zips and unpacked code live: beside the SQLite file, else ./data (a temp dir for the memory tier). */
function codeDirOf(config: ResolvedServerConfig, closers: Closer[]): string {
  if (config.persistence.mode === 'memory') {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-code-'));
    closers.push({ what: 'code directory', close: () => rmSync(dir, { recursive: true, force: true }) });
    return dir;
  }
  const db = config.server.dbPath;
  return /^postgres(ql)?:/.test(db) ? path.resolve('data') : path.dirname(path.resolve(db));
}

/**
 * Opens the function store next to the workflow store, starts the WASM runtime,
 * loads the registry and the edge nodes, and makes every deploy and delete
 * reach the healthy edge nodes. Each part is pushed onto `closers` as soon as
 * it is open.
 */
export async function openFunctionsNode(ctx: {
  config: ResolvedServerConfig;
  store: WorkflowStore;
  logger: Logger;
  closers: Closer[];
  /** How process instances start on this node (the orchestrator's context). */
  processContext: FunctionContext;
  nodeFunctionDefaults?: Partial<NodeFunctionDefaults> | undefined;
  /** Each cold start of a node-function instance (metrics). */
  onColdStart?: ((functionId: string, ms: number) => void) | undefined;
}): Promise<FunctionsNode> {
  const { config, store, logger, closers } = ctx;
  const functionStore = await openFunctionStore(store, {
    db: config.server.dbPath,
    persistence: config.persistence.mode,
  });
  closers.push({ what: 'function store', close: () => functionStore.close() });
  const runtime = createWasmRuntime(
    wasmRuntimeOptionsFrom(config.functions, {
      maxInputBytes: config.server.maxPayloadBytes,
      logger: logger.child({ component: 'wasm' }),
    }),
  );
  closers.push({ what: 'WASM runtime', close: () => runtime.close() });
  const functions = createFunctionService({
    store: functionStore,
    runtime,
    defaults: { timeoutMs: config.functions.execTimeoutMs, memoryLimitBytes: config.functions.memoryLimitBytes },
  });
  await functions.start();

  const edgeLog = logger.child({ component: 'edge' });
  const nodes = createNodeRegistry({
    store: functionStore,
    nodeTimeoutMs: config.edge.nodeTimeoutMs,
    onStatusChange: (node) =>
      node.status === 'up'
        ? edgeLog.info({ node: node.nodeId, url: node.url }, 'edge node is up')
        : edgeLog.warn({ node: node.nodeId, reason: node.downReason }, 'edge node is down'),
  });
  await nodes.start();
  closers.push({ what: 'node registry', close: () => nodes.stop() });
  const dispatch = createEdgeDispatch({
    nodes,
    token: config.edge.token ?? config.auth.token,
    onProblem: ({ nodeId, what, err }) => edgeLog.warn({ node: nodeId, err }, `edge node ${what} failed`),
  });
  closers.push({ what: 'edge dispatch', close: () => dispatch.close() });
  functions.onChange(({ type, record }) => {
    void dispatch.notifyAll(type, { function_id: record.id, hash: record.hash, version: record.version });
  });

  const codeDir = codeDirOf(config, closers);
  const codeStore = createLocalCodeStore(path.join(codeDir, 'code'));
  const cacheDir = path.join(codeDir, 'code-cache');
  // Node reads a module's type from the nearest package.json above it: this one stops the lookup,
  // so code unpacked under a project with "type": "module" (./data of one) is not taken for ESM.
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(path.join(cacheDir, 'package.json'), '{}\n');
  const nodeFunctions = createNodeFunctions({
    store: functionStore,
    code: codeStore,
    cache: createCodeCache(codeStore, cacheDir),
    ctx: ctx.processContext,
    defaults: { ...nodeFunctionDefaultsOf(config), ...ctx.nodeFunctionDefaults },
    onColdStart: ctx.onColdStart,
  });
  await nodeFunctions.start();
  closers.push({ what: 'node functions', close: () => nodeFunctions.close() });
  return { functions, nodes, dispatch, nodeFunctions };
}

/**
 * @aether/functions: the function registry and the runtimes that execute
 * functions (WebAssembly/WASI in worker threads).
 */
export {};

/**
 * The registry contract: FunctionRecord (a deployed function; id = name, version 1 on
 * the first deploy, +1 on each redeploy), FunctionInput (what a deploy gives
 * putFunction), NodeRecord (an edge node), FunctionStore (functions, code by sha256,
 * edge nodes; implemented in memory, SQLite and PostgreSQL), FunctionStoreKind and
 * FunctionScaling (a node function's scaling overrides; missing fields take the node's defaults).
 */
export type {
  FunctionInput,
  FunctionRecord,
  FunctionScaling,
  FunctionStore,
  FunctionStoreKind,
  NodeRecord,
} from './registry/types.js';
/**
 * Opens the function store that goes with a node's workflow store: memory for the
 * 'memory' tier, PostgreSQL (its own small pool) for a postgres URL, else SQLite over
 * the workflow store's connection (its file is locked exclusively).
 * @example
 * const spec = { persistence: 'state-action-log', db: './data/aether.db' } as const;
 * const workflows = await openStore(spec);
 * const functions = await openFunctionStore(workflows, spec);
 */
export { openFunctionStore } from './registry/open-function-store.js';
/** The argument of openFunctionStore. */
export type { FunctionStoreSpec } from './registry/open-function-store.js';
/**
 * Creates an empty in-memory FunctionStore (nothing survives the process).
 * @example
 * const store = createMemoryFunctionStore();
 * await store.putFunction({ id: 'hello', name: 'hello', runtime: 'wasm', hash: sha256Hex(code),
 *   sizeBytes: code.byteLength, memoryLimitMb: null, timeoutMs: null, scaling: null, envVars: {} }, code, new Date());
 */
export { createMemoryFunctionStore } from './registry/memory-function-store.js';
/**
 * Creates the registry's tables (when absent) in an open better-sqlite3 database and
 * returns a FunctionStore over it; close() leaves the connection open.
 * @example
 * const functions = createSqliteFunctionStore(sqliteConnectionOf(workflowStore)!);
 */
export { createSqliteFunctionStore } from './registry/sqlite-function-store.js';
/**
 * Connects to PostgreSQL with a pool of its own, creates the registry's tables when
 * absent (under an advisory lock) and returns a FunctionStore; close() ends the pool.
 * Throws AETHER_E_STORE_UNAVAILABLE when the server cannot be reached.
 * @example
 * const functions = await openPostgresFunctionStore('postgres://aether@127.0.0.1:5432/aether');
 */
export { openPostgresFunctionStore, resolvePostgresFunctionStoreOptions } from './registry/postgres-function-store.js';
/** Options of openPostgresFunctionStore (pool size, connection timeout), with and without defaults filled. */
export type {
  PostgresFunctionStoreOptions,
  ResolvedPostgresFunctionStoreOptions,
} from './registry/postgres-function-store.js';
/** The sha256 of code in lowercase hex: the `hash` a FunctionRecord must carry. */
export { sha256Hex } from './registry/records.js';

/**
 * Checks `POST /api/functions` and `POST /execute` bodies (seed 002's shapes), decoding
 * the module strictly: AETHER_E_FN_INVALID, AETHER_E_WASM_INVALID_BASE64, AETHER_E_WASM_TOO_LARGE.
 * @example
 * const request = parseDeployRequest({ name: 'hello_world', wasm_b64 }, 10 << 20);
 */
export {
  FUNCTION_NAME_PATTERN,
  decodeBase64Strict,
  parseDeployRequest,
  parseExecuteRequest,
} from './service/deploy-request.js';
/** A checked deploy request and a checked execute request. */
export type { DeployRequest, ExecuteRequest } from './service/deploy-request.js';
/**
 * The function registry of a node over its store and WASM runtime: deploy, list,
 * delete, execute. See createFunctionService's JSDoc for an example.
 */
export { createFunctionService, effectiveLimits } from './service/function-service.js';
/** The function service, its options and the registry changes it announces. */
export type { FunctionService, FunctionServiceOptions, RegistryChange } from './service/function-service.js';
/**
 * The control plane's registry of edge nodes: register/heartbeat, health by
 * heartbeat age, round robin over healthy nodes, `/callback` events.
 */
export { NODE_ID_PATTERN, checkNodeUrl, createNodeRegistry } from './edge/node-registry.js';
/** Node registry types: a node with its status, a reported event, the options. */
export type { EdgeNodeView, NodeEvent, NodeRegistry, NodeRegistryOptions } from './edge/node-registry.js';
/** The control plane's client of its edge nodes: `/execute` to a healthy node, notifications. */
export { createEdgeDispatch } from './edge/edge-dispatch.js';
/** The edge dispatch, its options and a node's passed-through answer. */
export type { EdgeAnswer, EdgeDispatch, EdgeDispatchOptions } from './edge/edge-dispatch.js';
/** An edge node's HTTP client of its control plane. */
export { createControlPlaneClient, isUnreachable } from './edge/control-plane-client.js';
/** The control-plane client, its options and the shapes it reads. */
export type {
  ControlPlaneClient,
  ControlPlaneClientOptions,
  RegisterAnswer,
  RemoteFunction,
} from './edge/control-plane-client.js';
/**
 * The edge node's agent: registers, heartbeats, pulls and warms functions, runs
 * `/execute`, reports through `/callback`.
 */
export { createEdgeAgent } from './edge/edge-agent.js';
/** The edge agent, its options, status and logger. */
export type { EdgeAgent, EdgeAgentOptions, EdgeLogger, EdgeStatus } from './edge/edge-agent.js';
/**
 * Starts the WebAssembly/WASI runtime: a pool of worker threads (one request at
 * a time each, bounded FIFO queue), an LRU of compiled modules keyed by content
 * hash and memory cap, per-request timeout (the worker is terminated and
 * replaced) and memory cap. `close()` it when done.
 * @example
 * const runtime = createWasmRuntime({ workers: 4, cacheSize: 100 });
 * const { hash } = await runtime.prepare(code); // checks, caps memory, compiles
 * const { output } = await runtime.execute({
 *   name: 'hello', hash, loadCode: async () => code, input: { msg: 'hi' }, timeoutMs: 1000,
 * });
 * await runtime.close();
 */
export { createWasmRuntime, resolveWasmRuntimeOptions } from './wasm/wasm-runtime.js';
/**
 * WASM runtime types: its options (with JSDoc defaults) and their resolved form,
 * an execute request and its result, a prepared module, the stats, the
 * transport ('shared-memory' ring buffers with CRC32 frames, or 'message'
 * postMessage with transferred buffers) and the logger it writes to.
 */
export type {
  PreparedModule,
  ResolvedWasmRuntimeOptions,
  WasmExecuteRequest,
  WasmExecution,
  WasmLogger,
  WasmRuntime,
  WasmRuntimeOptions,
  WasmRuntimeStats,
  WasmTransport,
} from './wasm/wasm-runtime.js';
/** Counters of the compiled-module cache, as `WasmRuntime.stats().cache` reports them. */
export type { ModuleCacheStats } from './wasm/module-cache.js';
/** Counters of the worker pool (size, busy, queued, replaced, timeouts, crashes), as `WasmRuntime.stats().workers`. */
export type { WorkerPoolStats } from './wasm/worker-pool.js';

/**
 * Checks a WASI command module before it is compiled, in this order: size
 * (AETHER_E_WASM_TOO_LARGE), validity (AETHER_E_WASM_INVALID_MODULE), a `_start`
 * export (AETHER_E_WASM_NO_START), imports limited to `wasi_snapshot_preview1`
 * functions and one memory (AETHER_E_WASM_UNSUPPORTED_IMPORT), initial memory
 * within the limit (AETHER_E_WASM_MEMORY_LIMIT). Returns its sha256, size,
 * memory and WASI imports.
 * @example
 * const info = inspectModule(bytes, { maxModuleBytes: 10 << 20, memoryLimitBytes: 16 << 20 });
 */
export { inspectModule } from './wasm/module-inspect.js';
/** Bytes in one WebAssembly memory page (65536). */
export { WASM_PAGE_BYTES } from './wasm/module-inspect.js';
/** What inspectModule reports (hash, size, memory, WASI imports), its memory part and its limits. */
export type { InspectOptions, ModuleInfo, ModuleMemory } from './wasm/module-inspect.js';
/**
 * Runs one invocation of a compiled WASI command synchronously (in a worker
 * thread): fresh instance, stdin = input, captured stdout/stderr. Never throws
 * for what the module does: returns the outcome ('ok', 'exit', 'trap',
 * 'memory-limit', 'output-too-large'), exit code, output, memory size and
 * duration. Pass `memory: info.memory` for a module that imports its memory.
 * @example
 * const result = runInstance(module, new TextEncoder().encode('{"msg":"hi"}'), {
 *   memoryLimitBytes: 16 << 20, maxOutputBytes: 1 << 20, memory: info.memory,
 * });
 * if (result.outcome === 'ok') console.log(new TextDecoder().decode(result.stdout));
 */
export { runInstance } from './wasm/run-instance.js';
/** Options of runInstance, its result and the outcomes. */
export type { RunOptions, RunOutcome, RunResult } from './wasm/run-instance.js';
/**
 * Creates the in-memory WASI preview 1 host of one run: stdin bytes, captured
 * stdout/stderr, args and env, clocks, randomness, no filesystem; every other
 * imported preview 1 function answers ENOSYS. runInstance uses it; use it
 * directly only to instantiate a module some other way.
 * @example
 * const wasi = createWasiContext({ stdin, args: ['main'], env: {}, maxOutputBytes: 1 << 20,
 *   importNames: info.wasiImports });
 * const instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi.imports });
 * wasi.bind(instance.exports.memory as WebAssembly.Memory);
 */
export { createWasiContext } from './wasm/wasi.js';
/** A WASI context and its options. */
export type { WasiContext, WasiContextOptions } from './wasm/wasi.js';
/** The WASM runtime options of a `[functions]` configuration section. */
export { wasmRuntimeOptionsFrom } from './service/runtime-options.js';

/**
 * What the process runtime (seed 000's orchestrator) reports: `GET /api/orchestrator`
 * answers an OrchestratorStatus; `aether list`, `aether stats` and the TUI print it.
 */
export type {
  ExitReason,
  InstanceExit,
  InstanceState,
  InstanceStatus,
  OrchestratorStatus,
  ProcessFunctionStatus,
  RequestStats,
} from './process/types.js';

/**
 * Seed 000's orchestrator: runs the process functions of a functions file behind
 * their trigger ports (READY handshake, instances with states, crash replacement
 * with backoff, cgroup memory limits, bubblewrap sandbox, request timeouts) and
 * hot-loads a changed file with `deploy`.
 * @example
 * const orch = createOrchestrator({ onOutput: (id, line) => console.log(line) });
 * await orch.deploy(parseFunctionsFile(text, 'hello.yaml'), 'hello.yaml');
 * console.log(orch.status().functions[0]?.instances);
 * await orch.close();
 */
export { createOrchestrator, orchestratorNotes } from './process/orchestrator.js';
/** Options, result and logger of the orchestrator. */
export type { DeployResult, Orchestrator, OrchestratorLogger, OrchestratorOptions } from './process/orchestrator.js';
/**
 * Finds the cgroup version that can limit memory here (v2 with its memory controller,
 * else v1, else none with the reason); roots are options so tests can use fake ones.
 */
export { detectCgroups } from './process/cgroup.js';
/** What detectCgroups found, and one instance's cgroup. */
export type { CgroupSupport, InstanceCgroup } from './process/cgroup.js';
/** The bubblewrap binary used for `isolation: sandbox`, or null when it is not installed. */
export { findBubblewrap } from './process/sandbox.js';

/**
 * Node functions (seed 001): create, upload a zip (a new immutable version, rolled out
 * with the new instances ready before the old drain), invoke through a request-level
 * pool with scale from zero, a bounded queue and scale-down after idle.
 * @example
 * const fns = createNodeFunctions({ store, code, cache, ctx: orchestrator.context, defaults });
 * await fns.start();
 * const slot = await fns.acquire('hello'); // then proxy through slot.dispatcher and slot.release()
 */
export { createNodeFunctions, NODE_RUNNER } from './gateway/node-functions.js';
/** Options, defaults, changes and stats of node functions; a request's slot on an instance. */
export type {
  NodeFunctionChange,
  NodeFunctionDefaults,
  NodeFunctionStats,
  NodeFunctions,
  NodeFunctionsOptions,
} from './gateway/node-functions.js';
export type { PoolScaling, Slot } from './gateway/request-pool.js';
export { createHttpRelay, installHttpRelay } from './gateway/http-relay.js';
export type { HttpRelay, HttpRelayOptions, RelayRoute, RelaySlot } from './gateway/http-relay.js';
export type { RequestHead } from './gateway/http1.js';
/** How process instances start on a node (launcher, cgroups, sandbox, runtime dir). */
export type { FunctionContext } from './process/process-function.js';

/**
 * The code store of node functions (seed 001): uploaded zips kept on the local
 * filesystem under their sha256 (`<dir>/<hash[0..2]>/<hash>.zip`, written
 * atomically). `put` accepts a zip only after unpacking it safely into a temp
 * folder with handler.js at its root (AETHER_E_CODE_INVALID_ZIP,
 * AETHER_E_CODE_UNSAFE_PATH, AETHER_E_CODE_TOO_LARGE, AETHER_E_CODE_NO_HANDLER);
 * `get` checks the sha256 of what it reads (AETHER_E_STORE_CORRUPT).
 * @example
 * const store = createLocalCodeStore('/var/lib/aether/code');
 * const { hash, sizeBytes } = await store.put(zipBytes);
 * const same = await store.get(hash); // Uint8Array | undefined
 */
export { createLocalCodeStore } from './code/code-store.js';
/**
 * A worker's unpacked code per version: `dirFor(hash)` unpacks the store's zip
 * once (concurrent calls share one unpack) into a temp folder renamed to
 * `<cacheDir>/<hash>`, and returns that folder; `evict(hash)` removes it.
 * @example
 * const cache = createCodeCache(store, '/var/cache/aether/code');
 * const dir = await cache.dirFor(hash); // dir/handler.js exists
 */
export { createCodeCache } from './code/code-store.js';
/**
 * Unpacks an untrusted zip into a new folder: refuses paths that leave it,
 * symlinks and special files, encryption and duplicate names, and enforces the
 * ZipLimits on the inflated bytes while streaming; on failure the folder is
 * removed and nothing is written outside it. Files get 0644 (0755 when marked
 * executable), folders 0755.
 * @example
 * const { files, bytes } = await extractZip(zipBytes, '/tmp/unpacked', { maxTotalBytes: 50 * 1024 * 1024 });
 */
export { extractZip } from './code/zip-extract.js';
/**
 * The code store and code cache interfaces (S3 will implement CodeStore in
 * cluster mode), the limits of an unpack (defaults: 10,000 entries, 200 MiB in
 * all, 100 MiB per file, 200:1 compression above 1 MiB) and what it wrote.
 */
export type { CodeCache, CodeStore } from './code/code-store.js';
export type { ExtractResult, ZipLimits } from './code/zip-extract.js';

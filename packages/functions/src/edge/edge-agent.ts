/**
 * The edge node's side of seed 002: it registers with the control plane,
 * heartbeats, pulls the manifest and the code of every function into its
 * compiled-module cache (on start, on a deploy notification, and whenever the
 * control plane's functions etag differs from its own), runs `/execute`
 * locally, and reports events (deployed, execution errors, cache stats)
 * through `/callback`. Functions it has not seen yet are fetched on first use.
 */
import { AetherError, aetherError } from '@aether/core';
import type { WasmExecution, WasmRuntime } from '../wasm/wasm-runtime.js';
import { sha256Hex } from '../registry/records.js';
import { effectiveLimits } from '../service/function-service.js';
import type { ControlPlaneClient, RemoteFunction } from './control-plane-client.js';

/** The logging the agent does (a pino logger fits). */
export interface EdgeLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** What `createEdgeAgent` needs. */
export interface EdgeAgentOptions {
  client: ControlPlaneClient;
  runtime: WasmRuntime;
  nodeId: string;
  /** The URL the control plane reaches this node at. */
  url: string;
  /** Limits for functions that set none. */
  defaults: { timeoutMs: number; memoryLimitBytes: number };
  /** Heartbeat period. @default what the control plane asks for */
  heartbeatIntervalMs?: number | undefined;
  logger?: EdgeLogger | undefined;
}

/** What `GET /health` of an edge node reports. */
export interface EdgeStatus {
  nodeId: string;
  registered: boolean;
  controlPlaneReachable: boolean;
  lastHeartbeatAt: string | undefined;
  functions: number;
}

/** A running edge agent. */
export interface EdgeAgent {
  /**
   * Registers (failing fast on a refused token or an unreachable control
   * plane), pulls every function, then heartbeats until `stop()`.
   * @throws AetherError AETHER_E_UNAUTHENTICATED, AETHER_E_CONTROL_PLANE_UNREACHABLE
   */
  start(): Promise<void>;
  /**
   * Runs a function on this node.
   * @throws AetherError AETHER_E_FN_NOT_FOUND and the runtime's errors
   */
  execute(name: string, input: unknown): Promise<WasmExecution>;
  /** Handles a control-plane notification (`deployed`, `deleted`). */
  notify(event: string, data: Record<string, unknown>): Promise<void>;
  /** Re-reads the manifest and brings the local functions in line with it. */
  sync(): Promise<void>;
  status(): EdgeStatus;
  /** Stops heartbeating and tells the control plane (best effort) that this node is going away. */
  stop(): Promise<void>;
}

const silent: EdgeLogger = { info: () => undefined, warn: () => undefined };

/**
 * Creates an edge agent.
 * @example
 * const agent = createEdgeAgent({ client, runtime, nodeId: 'edge-01', url: 'http://10.0.0.5:9091', defaults });
 * await agent.start();
 */
export function createEdgeAgent(options: EdgeAgentOptions): EdgeAgent {
  const { client, runtime, nodeId, url, defaults } = options;
  const logger = options.logger ?? silent;
  const functions = new Map<string, RemoteFunction>();
  let registered = false;
  let reachable = false;
  let lastHeartbeatAt: Date | undefined;
  let heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let localEtag = '';
  let syncing: Promise<void> | undefined;

  const report = (event: string, data: Record<string, unknown>): void => {
    client.callback(event, { node_id: nodeId, ...data }).catch((err: unknown) => {
      logger.warn({ err, event }, 'could not report an event to the control plane');
    });
  };

  /** Fetches a function's metadata and code, checks the code, compiles it into the cache. */
  const doPull = async (id: string): Promise<RemoteFunction> => {
    const started = performance.now();
    const meta = await client.getFunction(id);
    const bytes = await client.getCode(id);
    if (sha256Hex(bytes) !== meta.hash) {
      throw aetherError(
        'AETHER_E_CONTROL_PLANE_UNREACHABLE',
        `the code of "${id}" sent by the control plane does not match its hash`,
        { function: id },
      );
    }
    await runtime.prepare(bytes, { memoryLimitBytes: effectiveLimits(meta, defaults).memoryLimitBytes });
    functions.set(meta.id, meta);
    report('deployed', {
      function_id: meta.id,
      hash: meta.hash,
      version: meta.version,
      warm_ms: Math.round((performance.now() - started) * 1000) / 1000,
    });
    return meta;
  };

  // Concurrent first calls of a function this node has not seen share one pull.
  const pulling = new Map<string, Promise<RemoteFunction>>();
  const pull = (id: string): Promise<RemoteFunction> => {
    let pending = pulling.get(id);
    if (pending === undefined) {
      pending = doPull(id).finally(() => pulling.delete(id));
      pulling.set(id, pending);
    }
    return pending;
  };

  const doSync = async (): Promise<void> => {
    const names = new Set(await client.manifest());
    for (const id of [...functions.keys()]) {
      if (!names.has(id)) functions.delete(id);
    }
    for (const name of names) {
      try {
        const meta = await client.getFunction(name);
        const known = functions.get(name);
        if (known === undefined || known.hash !== meta.hash || known.version !== meta.version) await pull(name);
      } catch (err) {
        // One bad function must not keep the others from being warmed.
        if (err instanceof AetherError && err.code === 'AETHER_E_FN_NOT_FOUND') functions.delete(name);
        else logger.warn({ err, function: name }, 'could not pull a function');
      }
    }
  };
  const sync = (): Promise<void> => (syncing ??= doSync().finally(() => (syncing = undefined)));

  const heartbeat = async (): Promise<void> => {
    try {
      const answer = await client.register(nodeId, url);
      if (!reachable) logger.info({ nodeId }, 'registered with the control plane');
      reachable = true;
      registered = true;
      lastHeartbeatAt = new Date();
      if (options.heartbeatIntervalMs === undefined) heartbeatMs = answer.heartbeatIntervalMs;
      if (answer.functionsEtag !== localEtag) {
        await sync();
        localEtag = answer.functionsEtag;
      }
      report('cache_stats', runtime.stats() as unknown as Record<string, unknown>);
    } catch (err) {
      if (reachable) logger.warn({ err }, 'heartbeat to the control plane failed; retrying');
      reachable = false;
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void heartbeat().finally(schedule);
    }, heartbeatMs);
    timer.unref();
  };

  return {
    async start() {
      const answer = await client.register(nodeId, url);
      registered = true;
      reachable = true;
      lastHeartbeatAt = new Date();
      if (options.heartbeatIntervalMs === undefined) heartbeatMs = answer.heartbeatIntervalMs;
      await sync();
      localEtag = answer.functionsEtag;
      schedule();
    },

    async execute(name, input) {
      const meta = functions.get(name) ?? (await pull(name));
      const limits = effectiveLimits(meta, defaults);
      try {
        return await runtime.execute({
          name: meta.name,
          hash: meta.hash,
          loadCode: async () => {
            const bytes = await client.getCode(meta.id);
            if (sha256Hex(bytes) !== meta.hash) {
              // Redeployed meanwhile: the next sync brings the new version.
              throw aetherError('AETHER_E_FN_NOT_FOUND', `function "${name}" changed while it was being fetched`);
            }
            return bytes;
          },
          input,
          timeoutMs: limits.timeoutMs,
          memoryLimitBytes: limits.memoryLimitBytes,
          env: meta.envVars,
        });
      } catch (err) {
        if (err instanceof AetherError) {
          report('execution_error', { function_id: name, code: err.code, message: err.message });
        }
        throw err;
      }
    },

    async notify(event, data) {
      const id = typeof data.function_id === 'string' ? data.function_id : undefined;
      if (event === 'deployed' && id !== undefined) {
        await pull(id);
      } else if (event === 'deleted' && id !== undefined) {
        const meta = functions.get(id);
        functions.delete(id);
        if (meta !== undefined && ![...functions.values()].some((f) => f.hash === meta.hash)) runtime.evict(meta.hash);
      } else {
        throw aetherError('AETHER_E_INVALID_ARGUMENT', `unknown notification "${event}"`, { event });
      }
    },

    sync,

    status: () => ({
      nodeId,
      registered,
      controlPlaneReachable: reachable,
      lastHeartbeatAt: lastHeartbeatAt?.toISOString(),
      functions: functions.size,
    }),

    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      if (registered) {
        try {
          await client.callback('node_stopping', { node_id: nodeId });
        } catch (err) {
          logger.warn({ err }, 'could not tell the control plane that this node stops');
        }
      }
      await client.close();
    },
  };
}

/**
 * The control plane's registry of edge nodes (seed 002): registration and
 * heartbeats (`POST /register`), health by heartbeat age (`node_timeout`),
 * round-robin choice of a healthy node for `/execute`, and the events nodes
 * report through `/callback`. Nodes are persisted in the node's store, so a
 * control-plane restart keeps them; health is derived from `lastSeenAt`, so a
 * node is down exactly when its last heartbeat is older than `node_timeout`.
 */
import { aetherError } from '@aether/core';
import type { NodeRecord, FunctionStore } from '../registry/types.js';

/** Node ids: what `aether edge --node-id` accepts. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** An edge node as `GET /api/nodes` shows it. */
export interface EdgeNodeView extends NodeRecord {
  status: 'up' | 'down';
  /** Why a node that still heartbeats recently is down (e.g. a failed forward), if so. */
  downReason?: string | undefined;
}

/** One event a node reported through `/callback`. */
export interface NodeEvent {
  at: string;
  event: string;
  nodeId: string | undefined;
  data: Record<string, unknown>;
}

/** What `createNodeRegistry` needs. */
export interface NodeRegistryOptions {
  store: FunctionStore;
  /** A node whose last heartbeat is older than this is down. */
  nodeTimeoutMs: number;
  /** @default Date.now */
  clock?: (() => number) | undefined;
  /** Events kept for `GET /api/nodes/events`. @default 200 */
  maxEvents?: number | undefined;
  /** Told when a node changes between up and down (seen on reads and on a periodic sweep). */
  onStatusChange?: ((node: EdgeNodeView) => void) | undefined;
}

/** The control plane's view of its edge nodes. */
export interface NodeRegistry {
  /** Loads persisted nodes and starts the periodic sweep that reports nodes going down. */
  start(): Promise<void>;
  stop(): void;
  /**
   * Registers a node or records its heartbeat (the same call: seed 002's `/register`).
   * @throws AetherError AETHER_E_INVALID_ARGUMENT for a bad id or URL
   */
  register(nodeId: string, url: string): Promise<EdgeNodeView>;
  /** Every node with its status. */
  list(): EdgeNodeView[];
  /** Healthy nodes, in a rotating order (round robin): try them in turn. */
  pickOrder(): EdgeNodeView[];
  /** Marks a node down until its next heartbeat (a forward to it failed, or it said it is stopping). */
  markDown(nodeId: string, reason: string): void;
  /**
   * Records an event from `/callback`; `cache_stats` updates the node's stats,
   * `node_stopping` marks it down.
   */
  recordEvent(event: string, data: Record<string, unknown>): Promise<NodeEvent>;
  /** The most recent events, newest last. */
  events(): NodeEvent[];
  /** The heartbeat period nodes are asked to keep: a third of node_timeout. */
  readonly heartbeatIntervalMs: number;
}

/** Checks a node's advertised URL: an absolute http(s) URL without credentials. */
export function checkNodeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', `url ${JSON.stringify(url)} is not an absolute URL`, {
      field: 'url',
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', `url must be http:// or https://, got ${parsed.protocol}`, {
      field: 'url',
    });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', 'url must not carry credentials', { field: 'url' });
  }
  return parsed.origin + parsed.pathname.replace(/\/+$/, '');
}

/**
 * Creates the node registry of a control plane.
 * @example
 * const nodes = createNodeRegistry({ store, nodeTimeoutMs: 30_000 });
 * await nodes.start();
 * await nodes.register('edge-01', 'http://10.0.0.5:9091');
 */
export function createNodeRegistry(options: NodeRegistryOptions): NodeRegistry {
  const { store, nodeTimeoutMs } = options;
  const clock = options.clock ?? Date.now;
  const maxEvents = options.maxEvents ?? 200;
  const nodes = new Map<string, NodeRecord>();
  // Marked down by a failed forward or a goodbye, until a heartbeat after that moment.
  const downSince = new Map<string, { at: number; reason: string }>();
  const lastStatus = new Map<string, 'up' | 'down'>();
  const recent: NodeEvent[] = [];
  let cursor = 0;
  let sweep: NodeJS.Timeout | undefined;

  const view = (node: NodeRecord): EdgeNodeView => {
    const seen = Date.parse(node.lastSeenAt);
    const marked = downSince.get(node.nodeId);
    let status: 'up' | 'down' = clock() - seen <= nodeTimeoutMs ? 'up' : 'down';
    let downReason: string | undefined = status === 'down' ? `no heartbeat for over ${nodeTimeoutMs} ms` : undefined;
    if (status === 'up' && marked !== undefined && seen <= marked.at) {
      status = 'down';
      downReason = marked.reason;
    }
    const v: EdgeNodeView = { ...node, status, downReason };
    if (lastStatus.get(node.nodeId) !== status) {
      const first = !lastStatus.has(node.nodeId);
      lastStatus.set(node.nodeId, status);
      if (!first || status === 'down') options.onStatusChange?.(v);
    }
    return v;
  };
  const list = (): EdgeNodeView[] =>
    [...nodes.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)).map(view);

  return {
    heartbeatIntervalMs: Math.max(100, Math.floor(nodeTimeoutMs / 3)),

    async start() {
      nodes.clear();
      for (const node of await store.listNodes()) nodes.set(node.nodeId, node);
      list();
      sweep = setInterval(() => list(), Math.max(50, Math.floor(nodeTimeoutMs / 4)));
      sweep.unref();
    },

    stop() {
      if (sweep !== undefined) clearInterval(sweep);
      sweep = undefined;
    },

    async register(nodeId, url) {
      if (!NODE_ID_PATTERN.test(nodeId)) {
        throw aetherError(
          'AETHER_E_INVALID_ARGUMENT',
          'node_id must be 1-128 letters, digits, "_", "-", "." or ":" and start with a letter or digit',
          { field: 'node_id' },
        );
      }
      const checked = checkNodeUrl(url);
      const at = new Date(clock());
      const known = nodes.get(nodeId);
      const node =
        known !== undefined && known.url === checked
          ? ((await store.touchNode(nodeId, at)) ?? (await store.upsertNode(nodeId, checked, at)))
          : await store.upsertNode(nodeId, checked, at);
      nodes.set(nodeId, node);
      return view(node);
    },

    list,

    pickOrder() {
      const healthy = list().filter((n) => n.status === 'up');
      if (healthy.length === 0) return healthy;
      const start = cursor++ % healthy.length;
      return [...healthy.slice(start), ...healthy.slice(0, start)];
    },

    markDown(nodeId, reason) {
      if (!nodes.has(nodeId)) return;
      downSince.set(nodeId, { at: clock(), reason });
      const node = nodes.get(nodeId);
      if (node !== undefined) view(node);
    },

    async recordEvent(event, data) {
      const nodeId = typeof data.node_id === 'string' ? data.node_id : undefined;
      if (nodeId !== undefined && !nodes.has(nodeId)) {
        throw aetherError('AETHER_E_NODE_NOT_FOUND', `no edge node "${nodeId}" is registered: register it first`, {
          node_id: nodeId,
        });
      }
      if (nodeId !== undefined && event === 'cache_stats') {
        await store.setNodeStats(nodeId, data);
        const node = nodes.get(nodeId);
        if (node !== undefined) nodes.set(nodeId, { ...node, stats: data });
      }
      if (nodeId !== undefined && event === 'node_stopping') {
        downSince.set(nodeId, { at: clock(), reason: 'the node said it is stopping' });
      }
      const entry: NodeEvent = { at: new Date(clock()).toISOString(), event, nodeId, data };
      recent.push(entry);
      if (recent.length > maxEvents) recent.splice(0, recent.length - maxEvents);
      return entry;
    },

    events: () => [...recent],
  };
}

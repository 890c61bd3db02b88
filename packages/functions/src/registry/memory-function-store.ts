/**
 * The memory function store: the registry of the memory persistence tier and
 * of tests. Plain Maps; arguments are checked completely before anything is
 * written, and records and code are copied in and out, so a caller can never
 * change stored state behind the store's back. Node stats are kept as JSON
 * text, so they read back exactly as from the SQL stores.
 */
import { checkDeploy, checkKey, checkNode, compareUtf8, millisOf, statsJson, storeClosed } from './records.js';
import type { FunctionRecord, FunctionStore, NodeRecord } from './types.js';

const LOCATION = 'memory';

interface StoredNode {
  nodeId: string;
  url: string;
  registeredAt: string;
  lastSeenAt: string;
  stats: string | null;
}

function copyFunction(f: FunctionRecord): FunctionRecord {
  return { ...f, scaling: f.scaling === null ? null : { ...f.scaling }, envVars: { ...f.envVars } };
}

function toNodeRecord(n: StoredNode): NodeRecord {
  return {
    nodeId: n.nodeId,
    url: n.url,
    registeredAt: n.registeredAt,
    lastSeenAt: n.lastSeenAt,
    stats: n.stats === null ? null : (JSON.parse(n.stats) as Record<string, unknown>),
  };
}

/** Creates an empty in-memory FunctionStore. Nothing survives the process. */
export function createMemoryFunctionStore(): FunctionStore {
  const functions = new Map<string, FunctionRecord>();
  const code = new Map<string, Uint8Array>();
  const nodes = new Map<string, StoredNode>();
  let closed = false;

  /** Runs a synchronous operation; anything it throws becomes the rejection. */
  function run<T>(fn: () => T): Promise<T> {
    if (closed) return Promise.reject(storeClosed(LOCATION));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  function dropCodeIfUnused(hash: string): void {
    for (const f of functions.values()) if (f.hash === hash) return;
    code.delete(hash);
  }

  return {
    kind: 'memory',

    putFunction: (input, bytes, now) =>
      run(() => {
        const deploy = checkDeploy(input, bytes);
        const at = new Date(millisOf(now)).toISOString();
        const previous = functions.get(deploy.input.id);
        const record: FunctionRecord = {
          ...deploy.input,
          version: previous === undefined ? 1 : previous.version + 1,
          deployedAt: previous?.deployedAt ?? at,
          updatedAt: at,
        };
        if (record.runtime === 'wasm' && !code.has(record.hash)) code.set(record.hash, deploy.code);
        functions.set(record.id, record);
        if (previous !== undefined && previous.hash !== record.hash) dropCodeIfUnused(previous.hash);
        return copyFunction(record);
      }),

    getFunction: (id) =>
      run(() => {
        const f = functions.get(checkKey('id', id));
        return f === undefined ? undefined : copyFunction(f);
      }),

    listFunctions: () =>
      run(() => [...functions.values()].sort((a, b) => compareUtf8(a.name, b.name)).map(copyFunction)),

    deleteFunction: (id) =>
      run(() => {
        const f = functions.get(checkKey('id', id));
        if (f === undefined) return false;
        functions.delete(f.id);
        dropCodeIfUnused(f.hash);
        return true;
      }),

    getCode: (hash) =>
      run(() => {
        const bytes = code.get(checkKey('hash', hash));
        return bytes === undefined ? undefined : bytes.slice();
      }),

    upsertNode: (nodeId, url, now) =>
      run(() => {
        checkNode(nodeId, url);
        const at = new Date(millisOf(now)).toISOString();
        const previous = nodes.get(nodeId);
        const node: StoredNode = {
          nodeId,
          url,
          registeredAt: previous?.registeredAt ?? at,
          lastSeenAt: at,
          stats: previous?.stats ?? null,
        };
        nodes.set(nodeId, node);
        return toNodeRecord(node);
      }),

    touchNode: (nodeId, now) =>
      run(() => {
        const node = nodes.get(checkKey('nodeId', nodeId));
        const at = new Date(millisOf(now)).toISOString();
        if (node === undefined) return undefined;
        node.lastSeenAt = at;
        return toNodeRecord(node);
      }),

    setNodeStats: (nodeId, stats) =>
      run(() => {
        const node = nodes.get(checkKey('nodeId', nodeId));
        const json = statsJson(stats);
        if (node === undefined) return false;
        node.stats = json;
        return true;
      }),

    listNodes: () => run(() => [...nodes.values()].sort((a, b) => compareUtf8(a.nodeId, b.nodeId)).map(toNodeRecord)),

    deleteNode: (nodeId) => run(() => nodes.delete(checkKey('nodeId', nodeId))),

    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}

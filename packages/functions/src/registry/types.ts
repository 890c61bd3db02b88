/**
 * The function registry contract: deployed functions with their code, and the
 * edge nodes that registered with this control plane. One interface for the
 * memory, SQLite and PostgreSQL stores, checked by one conformance suite.
 */

/** A deployed function, as the registry keeps it. */
export interface FunctionRecord {
  /** The function's id: its name (seed 002 answers a deploy with `function_id` = name). */
  id: string;
  name: string;
  /** 'wasm': the module is kept in this store; 'node': the zip is kept in the code store (CodeStore). */
  runtime: FunctionRuntime;
  /**
   * sha256 of the code, lowercase hex: the key of a WASM module in this store, or of a node
   * function's zip in the code store; '' for a node function without code yet.
   */
  hash: string;
  sizeBytes: number;
  /** Memory cap of one instance in MiB; null for the runtime's default. */
  memoryLimitMb: number | null;
  /** Request timeout in milliseconds; null for the runtime's default. */
  timeoutMs: number | null;
  /** A node function's own scaling settings; a missing field (or null for all) takes the node's default. */
  scaling: FunctionScaling | null;
  envVars: Record<string, string>;
  /** 1 on the first deploy, +1 on each redeploy. */
  version: number;
  /** ISO time of the first deploy (kept across redeploys). */
  deployedAt: string;
  /** ISO time of the last deploy. */
  updatedAt: string;
}

/**
 * Per-function scaling overrides of a node function (DESIGN 5, Functions). A
 * store keeps only the fields that are set and reads an override without any
 * as null.
 */
export interface FunctionScaling {
  /** Instances kept running, ready before any request. */
  min?: number;
  /** Most instances at once. */
  max?: number;
  /** Requests one instance takes before more start. */
  targetConcurrency?: number;
  /** Seconds an instance beyond `min` may stay idle before it stops. */
  idleTimeoutS?: number;
}

/** The runtimes whose functions the registry keeps. */
export type FunctionRuntime = 'wasm' | 'node';

/** What a deploy gives putFunction: the record without the fields the store keeps. */
export type FunctionInput = Omit<FunctionRecord, 'version' | 'deployedAt' | 'updatedAt'>;

/** An edge node known to this control plane. */
export interface NodeRecord {
  nodeId: string;
  /** Base URL of the node's HTTP API (`/execute`, `/health`). */
  url: string;
  /** ISO time of the first registration (kept when the node registers again). */
  registeredAt: string;
  /** ISO time of the last registration or heartbeat. */
  lastSeenAt: string;
  /** The last statistics the node reported, as JSON; null before the first report. */
  stats: Record<string, unknown> | null;
}

/** Which backend a function store is. */
export type FunctionStoreKind = 'memory' | 'sqlite' | 'postgres';

/**
 * Persistent storage of deployed functions, their code and the edge-node
 * registry. Every write is atomic; a record read back is checked, and a row
 * that does not make a valid record fails with AETHER_E_STORE_CORRUPT. Bad
 * arguments fail with AETHER_E_INVALID_ARGUMENT, calls after close() with
 * AETHER_E_SHUTTING_DOWN, driver errors with AETHER_E_STORE_FAILED or
 * AETHER_E_STORE_UNAVAILABLE.
 */
export interface FunctionStore {
  readonly kind: FunctionStoreKind;

  /**
   * Inserts or replaces a function and its code in one transaction. Code is
   * kept by hash, shared between functions with identical bytes; code the
   * replaced version used is dropped when no other function uses it. `hash`
   * must be the sha256 of `code` and `sizeBytes` its length. Returns the stored
   * record: version 1 and deployedAt = now on the first deploy, else version + 1
   * with deployedAt kept; updatedAt = now. A node function's code lives in the
   * code store: pass empty `code`, and `hash`/`sizeBytes` of its zip ('' and 0
   * before the first upload).
   */
  putFunction(input: FunctionInput, code: Uint8Array, now: Date): Promise<FunctionRecord>;
  getFunction(id: string): Promise<FunctionRecord | undefined>;
  /** Every function, ordered by name (byte order of the UTF-8 name, as SQL "C" collation). */
  listFunctions(): Promise<FunctionRecord[]>;
  /** Removes a function, and its code when no other function uses it; false when unknown. */
  deleteFunction(id: string): Promise<boolean>;
  /**
   * The code stored under a hash (a fresh copy), checked against the hash. A
   * redeploy may drop the code between getFunction and getCode: read the
   * function again when this returns undefined.
   */
  getCode(hash: string): Promise<Uint8Array | undefined>;

  /** Registers a node, or updates its URL and lastSeenAt; registeredAt and stats are kept on re-register. */
  upsertNode(nodeId: string, url: string, now: Date): Promise<NodeRecord>;
  /** A heartbeat: sets lastSeenAt; undefined when the node is unknown. */
  touchNode(nodeId: string, now: Date): Promise<NodeRecord | undefined>;
  /** Replaces the node's stats (a JSON object); false when the node is unknown. */
  setNodeStats(nodeId: string, stats: Record<string, unknown>): Promise<boolean>;
  /** Every node, ordered by nodeId. */
  listNodes(): Promise<NodeRecord[]>;
  deleteNode(nodeId: string): Promise<boolean>;

  /** Stops using the store. A store sharing the workflow store's connection leaves it open. */
  close(): Promise<void>;
}

/**
 * Per-function request statistics for the dashboard's Functions page
 * (`GET /api/functions/stats`): totals, errors and latency percentiles of WASM
 * `/execute` calls and node-function gateway requests, counted here (the
 * Prometheus histograms cannot be read back per function cheaply), joined
 * with what the node already tracks: instances and cold starts of node
 * functions, and the orchestrator's own counters for process functions.
 * The hot path only increments two counters and one histogram bucket.
 */
import type { FunctionService, NodeFunctions } from '@aether/functions';
import type { FastifyInstance } from 'fastify';
import type { ProcessHost } from '../process-host.js';

/** Log-spaced latency buckets: 20 per decade from 10 µs to 100 s; a percentile is its bucket's upper bound (at most 12 % high). */
const PER_DECADE = 20;
const MIN_MS = 0.01;
const BUCKETS = 7 * PER_DECADE + 1;

function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log10(ms / MIN_MS) * PER_DECADE));
}

/** The upper bound of a bucket, in ms. */
function bucketMs(i: number): number {
  return MIN_MS * 10 ** (i / PER_DECADE);
}

interface Counts {
  requests: number;
  errors: number;
  latency: Uint32Array;
}

/** Request counters of WASM and node functions since the node started. */
export interface FunctionRequestStats {
  /** Records one request of `functionId` answered with `status` after `seconds`. */
  record(functionId: string, status: number, seconds: number): void;
  /** Totals, errors (status >= 500) and p50/p99 latency in ms (null without requests). */
  get(functionId: string): { requests: number; errors: number; p50Ms: number | null; p99Ms: number | null };
}

function percentile(latency: Uint32Array, total: number, p: number): number | null {
  if (total === 0) return null;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i]!;
    if (seen >= rank) return Math.round(bucketMs(i) * 1000) / 1000;
  }
  return Math.round(bucketMs(latency.length - 1) * 1000) / 1000;
}

/**
 * Creates the counters.
 * @example
 * const stats = createFunctionRequestStats();
 * stats.record('hello', 200, 0.0012);
 * stats.get('hello'); // {requests: 1, errors: 0, p50Ms: 1.259, p99Ms: 1.259}
 */
export function createFunctionRequestStats(): FunctionRequestStats {
  const byId = new Map<string, Counts>();
  return {
    record(functionId, status, seconds) {
      let c = byId.get(functionId);
      if (c === undefined) {
        c = { requests: 0, errors: 0, latency: new Uint32Array(BUCKETS) };
        byId.set(functionId, c);
      }
      c.requests++;
      if (status >= 500 || status === 0) c.errors++;
      c.latency[bucketOf(seconds * 1000)]!++;
    },
    get(functionId) {
      const c = byId.get(functionId);
      if (c === undefined) return { requests: 0, errors: 0, p50Ms: null, p99Ms: null };
      return {
        requests: c.requests,
        errors: c.errors,
        p50Ms: percentile(c.latency, c.requests, 50),
        p99Ms: percentile(c.latency, c.requests, 99),
      };
    },
  };
}

/** One row of `GET /api/functions/stats`. */
export interface FunctionStatsJson {
  id: string;
  runtime: 'wasm' | 'node' | 'process';
  version: number | null;
  /** Instances by state (node and process functions); empty for WASM. */
  instances: Record<string, number>;
  requests_total: number;
  errors_total: number;
  /** Latency percentiles in ms: since the node started (WASM, node), over the last 10 s (process). */
  p50_ms: number | null;
  p99_ms: number | null;
  /** Instances started cold (node functions); null where the runtime does not count them. */
  cold_starts: number | null;
}

function countStates(states: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of states) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/** Registers `GET /api/functions/stats`. */
export function registerFunctionStatsRoute(
  app: FastifyInstance,
  options: {
    stats: FunctionRequestStats;
    functions: FunctionService;
    nodeFunctions?: NodeFunctions | undefined;
    processes?: ProcessHost | undefined;
  },
): void {
  const { stats, functions, nodeFunctions, processes } = options;
  app.get('/api/functions/stats', () => {
    const rows: FunctionStatsJson[] = [];
    const counted = (id: string) => {
      const s = stats.get(id);
      return { requests_total: s.requests, errors_total: s.errors, p50_ms: s.p50Ms, p99_ms: s.p99Ms };
    };
    for (const r of functions.list()) {
      rows.push({ id: r.id, runtime: 'wasm', version: r.version, instances: {}, ...counted(r.id), cold_starts: null });
    }
    for (const s of nodeFunctions?.stats() ?? []) {
      rows.push({
        id: s.id,
        runtime: 'node',
        version: s.version,
        instances: countStates([...s.instances.map((i) => i.state), ...Array<string>(s.starting).fill('STARTING')]),
        ...counted(s.id),
        cold_starts: s.coldStarts,
      });
    }
    for (const f of processes?.status().functions ?? []) {
      rows.push({
        id: f.id,
        runtime: 'process',
        version: f.generation,
        instances: countStates(f.instances.map((i) => i.state)),
        requests_total: f.requests.total,
        errors_total: f.requests.errors,
        p50_ms: f.requests.p50Ms,
        p99_ms: f.requests.p99Ms,
        cold_starts: null,
      });
    }
    rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { at: new Date().toISOString(), functions: rows };
  });
}

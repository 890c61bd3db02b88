/**
 * How `aether stats` and its dashboard show an OrchestratorStatus: instance
 * counts by state, rates, latencies, memory and exits as short table cells,
 * so the one-shot table and the live dashboard read the same.
 */
import type {
  InstanceExit,
  InstanceState,
  InstanceStatus,
  ProcessFunctionStatus,
  RequestStats,
} from '@aether/functions';
import { formatDuration, truncate } from './table.js';

/** The order instance states are counted in: the life of an instance (DESIGN.md section 5). */
const STATE_ORDER: readonly InstanceState[] = ['STARTING', 'READY', 'BUSY', 'DRAINING', 'STOPPED', 'FAILED'];

const MB = 1024 * 1024;

/** Instances counted by state, e.g. `2 ready, 1 busy`; `none` without instances. */
export function formatInstanceCounts(instances: readonly InstanceStatus[]): string {
  const parts = STATE_ORDER.map((state) => [state, instances.filter((i) => i.state === state).length] as const)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state.toLowerCase()}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** Requests per second with one decimal. */
export function formatRps(rps: number): string {
  return rps.toFixed(1);
}

/** A latency: `0.4ms` below 10 ms, then `35ms`, `1.2s`; `-` without requests. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10 ? `${ms.toFixed(1)}ms` : formatDuration(ms);
}

/** Bytes as binary megabytes (the unit of `memory_limit_mb`): `3.4 MB`, `256 MB`; `-` when unknown. */
export function formatMemory(bytes: number | null): string {
  if (bytes === null) return '-';
  const mb = bytes / MB;
  return mb < 10 ? `${mb.toFixed(1)} MB` : `${Math.round(mb)} MB`;
}

/** Errors (status >= 500), with Aether's own timeouts among them when there were any. */
export function formatErrors(requests: RequestStats): string {
  if (requests.timeouts === 0) return String(requests.errors);
  return `${requests.errors} (${requests.timeouts} timeout${requests.timeouts === 1 ? '' : 's'})`;
}

/** Milliseconds from `fromIso` to `now` (an epoch time), never negative (clocks may disagree). */
function elapsed(fromIso: string, now: number): number {
  const from = Date.parse(fromIso);
  return Number.isNaN(from) ? 0 : Math.max(0, now - from);
}

/** An exit as `exited with code 1, 2m03s ago`; `-` when there was none. `now` is the report's time. */
export function formatExit(exit: InstanceExit | null, now: number): string {
  if (exit === null) return '-';
  return `${truncate(exit.message, 48)}, ${formatDuration(elapsed(exit.at, now))} ago`;
}

/** How long a live instance has run; `-` once it has exited. */
export function formatUptime(instance: InstanceStatus, now: number): string {
  return instance.exit === null ? formatDuration(elapsed(instance.startedAt, now)) : '-';
}

/** Columns of the functions table (the one-shot table adds LAST EXIT). */
export const FUNCTION_HEADERS = [
  'FUNCTION',
  'PORT',
  'INSTANCES',
  'REQ/S',
  'P50',
  'P99',
  'ERRORS',
  'MEMORY',
  'RESTARTS',
] as const;

/** One function's cells under FUNCTION_HEADERS. */
export function functionCells(f: ProcessFunctionStatus): string[] {
  return [
    f.id,
    String(f.triggerPort),
    formatInstanceCounts(f.instances),
    formatRps(f.requests.rps),
    formatLatency(f.requests.p50Ms),
    formatLatency(f.requests.p99Ms),
    formatErrors(f.requests),
    formatMemory(f.memoryBytes),
    String(f.restarts),
  ];
}

/** Columns of the instances table. */
export const INSTANCE_HEADERS = [
  'INSTANCE',
  'PID',
  'PORT',
  'STATE',
  'IN-FLIGHT',
  'MEMORY',
  'UPTIME',
  'LAST EXIT',
] as const;

/** One instance's cells under INSTANCE_HEADERS; `now` is the report's time. */
export function instanceCells(i: InstanceStatus, now: number): string[] {
  return [
    i.id,
    i.pid === null ? '-' : String(i.pid),
    String(i.port),
    i.state,
    String(i.inFlight),
    formatMemory(i.memoryBytes),
    formatUptime(i, now),
    formatExit(i.exit, now),
  ];
}

/** The report's own time as epoch milliseconds (relative times are computed on the node's clock). */
export function reportTime(at: string): number {
  const t = Date.parse(at);
  return Number.isNaN(t) ? Date.now() : t;
}

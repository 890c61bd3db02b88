/**
 * The shapes the process runtime (seed 000's orchestrator) reports: instance
 * states, exits, and the per-function status and statistics that
 * `GET /api/orchestrator`, `aether list`, `aether stats` and the TUI show.
 */
import type { ResolvedFunctionsFile } from '@aether/core';

/** DESIGN.md section 5: the life of one instance. */
export type InstanceState = 'STARTING' | 'READY' | 'BUSY' | 'DRAINING' | 'STOPPED' | 'FAILED';

/** Why an instance ended (or failed to start). */
export type ExitReason =
  | 'stopped' // Aether stopped it (down, deploy, scale-down)
  | 'crashed' // exited on its own after READY
  | 'oom' // killed by the kernel at its cgroup memory limit
  | 'start-timeout' // no READY within the start timeout
  | 'handshake-invalid' // sent something other than READY
  | 'exited-early' // exited before READY
  | 'spawn-failed'; // could not be executed at all

/** How an instance ended. */
export interface InstanceExit {
  reason: ExitReason;
  /** Exit code, when it exited. */
  code: number | null;
  /** Signal, when it was killed. */
  signal: string | null;
  /** ISO time. */
  at: string;
  /** One line for humans, e.g. `exited with code 1` or `killed by the kernel at 64 MB (OOM)`. */
  message: string;
  /** The last lines the instance wrote to stderr (at most a few KB). */
  stderrTail: string;
}

/** One instance as reported. */
export interface InstanceStatus {
  id: string;
  /** The process id Aether started (the handler, or bubblewrap when sandboxed); null before spawn. */
  pid: number | null;
  /** The private loopback port the instance serves on (its AETHER_TRIGGER_PORT). */
  port: number;
  state: InstanceState;
  /** Requests being served now. */
  inFlight: number;
  /** Client connections routed to it now. */
  connections: number;
  /** Resident memory: the cgroup's usage when limited, else the process RSS; null when unknown. */
  memoryBytes: number | null;
  /** ISO time of the spawn. */
  startedAt: string;
  /** Milliseconds from spawn to READY (and its port accepting), once ready. */
  startMs: number | null;
  exit: InstanceExit | null;
}

/** Request counters of one function since it was deployed. */
export interface RequestStats {
  total: number;
  /** Answers with status >= 500, including Aether's own 502/503/504. */
  errors: number;
  /** Requests answered 504 by Aether at timeout_ms. */
  timeouts: number;
  /** Requests per second over the last 10 seconds. */
  rps: number;
  /** Latency to the first response byte over the last 10 seconds, in ms; null without requests. */
  p50Ms: number | null;
  p99Ms: number | null;
}

/** One function of the orchestrator as reported. */
export interface ProcessFunctionStatus {
  id: string;
  runtime: 'process';
  /** The public port Aether listens on. */
  triggerPort: number;
  handlerPath: string;
  memoryLimitMb: number;
  timeoutMs: number;
  isolation: 'none' | 'sandbox';
  scaling: { min: number; max: number; targetConcurrency: number; idleTimeoutS: number };
  /** Ready instances kept beyond the load, from the orchestrator's warm_pool_size. */
  warm: number;
  /** Incremented on each change by `deploy`. */
  generation: number;
  instances: InstanceStatus[];
  /** Instances started to replace ones that crashed or failed to start. */
  restarts: number;
  /** The most recent exit of any of its instances. */
  lastExit: InstanceExit | null;
  requests: RequestStats;
  /** Sum over instances; null when unknown. */
  memoryBytes: number | null;
}

/** What `GET /api/orchestrator` answers. */
export interface OrchestratorStatus {
  /** ISO time of this report. */
  at: string;
  /** The functions file the orchestrator was started or last deployed with. */
  file: string | null;
  /** The file's `orchestrator:` settings (zeros and '' before the first deploy). */
  orchestrator: ResolvedFunctionsFile['orchestrator'];
  /** How memory limits are enforced: cgroup v2, v1, or not at all (with why). */
  limits: { cgroup: 'v2' | 'v1' | 'none'; detail: string };
  /** Settings that have no effect on this host, one sentence each (also printed at start-up). */
  notes: string[];
  functions: ProcessFunctionStatus[];
}

/**
 * Rolling request statistics of one function: totals since deploy, and
 * requests per second and latency percentiles over the last 10 seconds, kept
 * in one-second buckets with a bounded reservoir of latencies each, so the
 * proxy's hot path only increments counters and stores a number.
 */
import type { RequestStats } from './types.js';

const WINDOW_S = 10;
const SAMPLES_PER_BUCKET = 2048;

interface Bucket {
  second: number;
  count: number;
  samples: Float64Array;
  stored: number;
}

/** Counters and a latency window; `now` is injectable for tests. */
export class RequestStatsWindow {
  total = 0;
  errors = 0;
  timeouts = 0;
  private readonly buckets: Bucket[];

  constructor(private readonly now: () => number = Date.now) {
    this.buckets = Array.from({ length: WINDOW_S }, () => ({
      second: -1,
      count: 0,
      samples: new Float64Array(SAMPLES_PER_BUCKET),
      stored: 0,
    }));
  }

  private bucket(): Bucket {
    const second = Math.floor(this.now() / 1000);
    const b = this.buckets[second % WINDOW_S]!;
    if (b.second !== second) {
      b.second = second;
      b.count = 0;
      b.stored = 0;
    }
    return b;
  }

  /** Records a request answered after `latencyMs` (to the first response byte) with `status` (0 when unknown). */
  record(latencyMs: number, status: number): void {
    this.total++;
    if (status >= 500) this.errors++;
    const b = this.bucket();
    b.count++;
    if (b.stored < SAMPLES_PER_BUCKET) b.samples[b.stored++] = latencyMs;
    else {
      // Reservoir sampling keeps the percentiles unbiased under heavy load.
      const j = Math.floor(Math.random() * b.count);
      if (j < SAMPLES_PER_BUCKET) b.samples[j] = latencyMs;
    }
  }

  /** Records a request Aether answered itself after `latencyMs` (504 at the timeout, 502, 503). */
  recordFailure(latencyMs: number, status: number): void {
    if (status === 504) this.timeouts++;
    this.record(latencyMs, status);
  }

  /** The snapshot reported by the API. */
  snapshot(): RequestStats {
    const second = Math.floor(this.now() / 1000);
    let count = 0;
    const latencies: number[] = [];
    let oldest = second;
    for (const b of this.buckets) {
      // The current second is partial: the window is the 10 s before it plus the part elapsed.
      if (b.second < 0 || second - b.second >= WINDOW_S) continue;
      count += b.count;
      oldest = Math.min(oldest, b.second);
      for (let i = 0; i < b.stored; i++) latencies.push(b.samples[i]!);
    }
    latencies.sort((a, b) => a - b);
    const seconds = Math.max(1, Math.min(WINDOW_S, (this.now() - oldest * 1000) / 1000));
    return {
      total: this.total,
      errors: this.errors,
      timeouts: this.timeouts,
      rps: Math.round((count / seconds) * 10) / 10,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
  }
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)]! * 1000) / 1000;
}

/**
 * The public shape of the workflow context (seed 003's WorkflowContext plus
 * activities) and of the objects step and activity bodies receive.
 */

/** What a `ctx.step` body receives. */
export interface StepContext {
  /** Aborted when the workflow is cancelled or this worker loses it. */
  readonly signal: AbortSignal;
  /** 1 for steps (steps are not retried). */
  readonly attempt: number;
}

/** What a `ctx.activity` body receives. */
export interface ActivityContext extends StepContext {
  /** Proves liveness; required within `heartbeatTimeoutMs` when that is set. */
  heartbeat(details?: unknown): void;
}

/** Retry policy of an activity. Delay before attempt n+1: min(initial * coefficient^(n-1), max). */
export interface RetryPolicy {
  /** Attempts in total, the first included. @default 3 */
  maxAttempts?: number | undefined;
  /** @default 100 */
  initialIntervalMs?: number | undefined;
  /** @default 2 */
  backoffCoefficient?: number | undefined;
  /** @default 10000 */
  maxIntervalMs?: number | undefined;
  /** Error names (or Aether codes) that are never retried. TerminalErrors never are. */
  nonRetryableErrors?: readonly string[] | undefined;
}

/** Options of `ctx.activity`. */
export interface ActivityOptions {
  retry?: RetryPolicy | undefined;
  /** Limit of one attempt; exceeding it aborts the attempt with AETHER_E_ACTIVITY_TIMEOUT. */
  timeoutMs?: number | undefined;
  /** Longest silence between heartbeats; exceeding it aborts with AETHER_E_ACTIVITY_HEARTBEAT_TIMEOUT. */
  heartbeatTimeoutMs?: number | undefined;
}

/** A duration: milliseconds, or a sum of units. */
export type SleepDuration =
  | number
  | {
      milliseconds?: number | undefined;
      seconds?: number | undefined;
      minutes?: number | undefined;
      hours?: number | undefined;
      days?: number | undefined;
    };

/**
 * Anything that names a workflow type, typed with its arguments and result
 * (a WorkflowDefinition).
 */
export interface WorkflowRef<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  /** Type-level only: never set. */
  readonly __signature?: ((...args: A) => R) | undefined;
}

/** Results of the thunks given to `ctx.parallel`, in order. */
export type ParallelResults<T extends readonly unknown[]> = {
  -readonly [K in keyof T]: T[K] extends () => infer R ? Awaited<R> : Awaited<T[K]>;
};

/** The context a workflow function receives as its first argument. */
export interface WorkflowContext {
  /** The id of this workflow. */
  readonly workflowId: string;
  /** Aborted when the workflow is cancelled or this worker loses it. */
  readonly signal: AbortSignal;
  /** How many times the workflow was handed to a worker (1 on the first run). */
  readonly attempt: number;

  /** Runs `fn` once and records its result; a replay returns the recorded result. */
  step<T>(name: string, fn: (step: StepContext) => Promise<T> | T): Promise<T>;

  /** A step with retries, exponential backoff, a timeout and heartbeats. */
  activity<T>(name: string, fn: (activity: ActivityContext) => Promise<T> | T, options?: ActivityOptions): Promise<T>;

  /** Runs the thunks concurrently; each gets its own deterministic step numbering. */
  parallel<T extends readonly (() => unknown)[]>(steps: T): Promise<ParallelResults<T>>;

  /** A durable timer: the workflow holds no worker while it sleeps. */
  sleep(duration: SleepDuration): Promise<void>;

  /** Runs another workflow as a child and waits for its result. */
  child<A extends unknown[], R>(workflow: WorkflowRef<A, R> | string, args: A): Promise<R>;
}

/**
 * The activity runner: attempts with exponential backoff, a per-attempt
 * timeout and a heartbeat timeout, all inside the worker. Only the final
 * outcome is recorded in the journal.
 */
import { AetherError, RetryableError, TerminalError } from '@aether/core';
import type { ActivityContext, ActivityOptions, RetryPolicy } from './types.js';

/** RetryPolicy with defaults filled in. */
export interface ResolvedRetryPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maxIntervalMs: number;
  nonRetryableErrors: ReadonlySet<string>;
}

function positive(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `activity option ${name} must be a number >= ${min}`, {
      option: name,
    });
  }
  return value;
}

/** Fills the defaults of a retry policy (3 attempts, 100 ms doubling up to 10 s). */
export function resolveRetryPolicy(policy: RetryPolicy | undefined): ResolvedRetryPolicy {
  return {
    maxAttempts: Math.floor(positive('retry.maxAttempts', policy?.maxAttempts, 3, 1)),
    initialIntervalMs: positive('retry.initialIntervalMs', policy?.initialIntervalMs, 100, 0),
    backoffCoefficient: positive('retry.backoffCoefficient', policy?.backoffCoefficient, 2, 1),
    maxIntervalMs: positive('retry.maxIntervalMs', policy?.maxIntervalMs, 10_000, 0),
    nonRetryableErrors: new Set(policy?.nonRetryableErrors ?? []),
  };
}

/** Checks the timeouts of activity options. */
export function checkActivityOptions(options: ActivityOptions): void {
  if (options.timeoutMs !== undefined) positive('timeoutMs', options.timeoutMs, 0, 1);
  if (options.heartbeatTimeoutMs !== undefined) positive('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 0, 1);
}

/** The delay before attempt `attempt + 1`. */
export function backoffDelay(policy: ResolvedRetryPolicy, attempt: number): number {
  return Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1), policy.maxIntervalMs);
}

function isNonRetryable(error: unknown, policy: ResolvedRetryPolicy): boolean {
  if (error instanceof TerminalError) return true;
  if (error instanceof Error && (error.name === 'TerminalError' || policy.nonRetryableErrors.has(error.name)))
    return true;
  return error instanceof AetherError && policy.nonRetryableErrors.has(error.code);
}

/** The outcome of all attempts. `aborted` means the run was cancelled or lost meanwhile. */
export type ActivityOutcome =
  { ok: true; value: unknown; attempts: number } | { ok: false; error: unknown; attempts: number; aborted: boolean };

/** How a body is invoked (the caller wraps it in its AsyncLocalStorage frame). */
export type BodyInvoker = (fn: (activity: ActivityContext) => unknown, activity: ActivityContext) => unknown;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One attempt: resolves with the body's value or rejects with its error or the abort reason. */
async function attemptOnce(
  name: string,
  attempt: number,
  fn: (activity: ActivityContext) => unknown,
  options: ActivityOptions,
  runSignal: AbortSignal,
  invoke: BodyInvoker,
): Promise<unknown> {
  const controller = new AbortController();
  const onRunAbort = (): void => controller.abort(runSignal.reason);
  runSignal.addEventListener('abort', onRunAbort, { once: true });
  let timeout: ReturnType<typeof setTimeout> | undefined;
  let heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  const { timeoutMs, heartbeatTimeoutMs } = options;
  const aborted = new Promise<never>((_, reject) => {
    // The abort reason is always an Error here (timeouts, cancellation, lease loss).
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true });
  });
  const armHeartbeat = (): void => {
    if (heartbeatTimeoutMs === undefined || controller.signal.aborted) return;
    if (heartbeatTimer !== undefined) clearTimeout(heartbeatTimer);
    heartbeatTimer = setTimeout(() => {
      controller.abort(
        new RetryableError(
          'AETHER_E_ACTIVITY_HEARTBEAT_TIMEOUT',
          `activity '${name}' attempt ${attempt} sent no heartbeat for ${heartbeatTimeoutMs} ms`,
          { activity: name, attempt, heartbeatTimeoutMs },
        ),
      );
    }, heartbeatTimeoutMs);
  };
  if (timeoutMs !== undefined) {
    timeout = setTimeout(() => {
      controller.abort(
        new RetryableError(
          'AETHER_E_ACTIVITY_TIMEOUT',
          `activity '${name}' attempt ${attempt} timed out after ${timeoutMs} ms`,
          {
            activity: name,
            attempt,
            timeoutMs,
          },
        ),
      );
    }, timeoutMs);
  }
  armHeartbeat();
  const activity: ActivityContext = { signal: controller.signal, attempt, heartbeat: armHeartbeat };
  try {
    if (runSignal.aborted) throw runSignal.reason;
    const body = Promise.resolve().then(() => invoke(fn, activity));
    return await Promise.race([body, aborted]);
  } finally {
    if (timeout !== undefined) clearTimeout(timeout);
    if (heartbeatTimer !== undefined) clearTimeout(heartbeatTimer);
    runSignal.removeEventListener('abort', onRunAbort);
  }
}

/** Runs an activity's attempts until one succeeds, a non-retryable error, the last attempt, or an abort. */
export async function runActivity(
  name: string,
  fn: (activity: ActivityContext) => unknown,
  options: ActivityOptions,
  policy: ResolvedRetryPolicy,
  runSignal: AbortSignal,
  invoke: BodyInvoker,
): Promise<ActivityOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await attemptOnce(name, attempt, fn, options, runSignal, invoke);
      return { ok: true, value, attempts: attempt };
    } catch (error) {
      if (runSignal.aborted) return { ok: false, error, attempts: attempt, aborted: true };
      if (attempt >= policy.maxAttempts || isNonRetryable(error, policy)) {
        return { ok: false, error, attempts: attempt, aborted: false };
      }
    }
    await sleep(backoffDelay(policy, attempt), runSignal);
    if (runSignal.aborted) return { ok: false, error: runSignal.reason, attempts: attempt, aborted: true };
  }
}

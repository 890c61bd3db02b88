/** Activities: retries with backoff, non-retryable errors, timeouts and heartbeat timeouts (fake timers). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RetryableError, TerminalError, type AetherError } from '@aether/core';
import type { ActivityContext, ActivityOptions, WorkflowContext } from './types.js';
import { Harness, completed } from '../test-support/fake-link.js';
import { backoffDelay, resolveRetryPolicy } from './activity.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Runs a workflow with one activity; returns the harness and what workflow code caught. */
function runActivity(fn: (a: ActivityContext) => unknown, options?: ActivityOptions) {
  const h = new Harness();
  const outcome: { value?: unknown; error?: unknown } = {};
  h.start(async (ctx: WorkflowContext) => {
    try {
      outcome.value = await ctx.activity('charge', fn, options);
    } catch (e) {
      outcome.error = e;
    }
  });
  return { h, outcome };
}

class FlakyError extends Error {
  override name = 'FlakyError';
}

describe('activity retries', () => {
  it('retries failures with exponential backoff and records only the final outcome', async () => {
    const starts: [number, number][] = [];
    const t0 = Date.now();
    const { h, outcome } = runActivity(({ attempt }) => {
      starts.push([attempt, Date.now() - t0]);
      if (attempt < 3) throw new FlakyError(`try ${attempt}`);
      return 'charged';
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(starts).toEqual([[1, 0]]);
    await vi.advanceTimersByTimeAsync(99);
    expect(starts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([
      [1, 0],
      [2, 100],
    ]);
    await vi.advanceTimersByTimeAsync(200);
    expect(starts).toEqual([
      [1, 0],
      [2, 100],
      [3, 300],
    ]);
    await h.finishedRun;
    expect(outcome.value).toBe('charged');
    expect(h.recorded).toEqual([
      expect.objectContaining({
        kind: 'activity',
        stepId: '0',
        name: 'charge',
        status: 'completed',
        result: '"charged"',
        attempts: 3,
      }),
    ]);
  });

  it('gives up after maxAttempts and records the last error', async () => {
    let n = 0;
    const { h, outcome } = runActivity(
      () => {
        throw new FlakyError(`failure ${++n}`);
      },
      { retry: { maxAttempts: 2, initialIntervalMs: 10 } },
    );
    await vi.runAllTimersAsync();
    await h.finishedRun;
    expect(n).toBe(2);
    expect((outcome.error as Error).message).toBe('failure 2');
    expect(h.recorded[0]).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: 'AETHER_E_STEP_FAILED', message: 'failure 2', name: 'FlakyError' },
    });
  });

  it('does not retry a TerminalError', async () => {
    let n = 0;
    const { h, outcome } = runActivity(() => {
      n++;
      throw new TerminalError('AETHER_E_STEP_FAILED', 'card declined');
    });
    await vi.runAllTimersAsync();
    await h.finishedRun;
    expect(n).toBe(1);
    expect((outcome.error as AetherError).code).toBe('AETHER_E_STEP_FAILED');
    expect(h.recorded[0]).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'TerminalError' } });
  });

  it('does not retry errors named in nonRetryableErrors', async () => {
    let n = 0;
    const { h } = runActivity(
      () => {
        n++;
        throw new FlakyError('validation');
      },
      { retry: { nonRetryableErrors: ['FlakyError'] } },
    );
    await vi.runAllTimersAsync();
    await h.finishedRun;
    expect(n).toBe(1);
  });

  it('caps the delay at maxIntervalMs', () => {
    const policy = resolveRetryPolicy({ initialIntervalMs: 100, backoffCoefficient: 3, maxIntervalMs: 500 });
    expect([1, 2, 3, 4].map((a) => backoffDelay(policy, a))).toEqual([100, 300, 500, 500]);
    expect(resolveRetryPolicy(undefined)).toMatchObject({
      maxAttempts: 3,
      initialIntervalMs: 100,
      backoffCoefficient: 2,
      maxIntervalMs: 10_000,
    });
  });

  it('rejects invalid options before running anything', async () => {
    const { h, outcome } = runActivity(() => 1, { retry: { maxAttempts: 0 } });
    await vi.runAllTimersAsync();
    await h.finishedRun;
    expect((outcome.error as AetherError).code).toBe('AETHER_E_INVALID_ARGUMENT');
    expect(h.recorded).toEqual([]);
  });
});

describe('activity timeouts', () => {
  it('aborts an attempt after timeoutMs with AETHER_E_ACTIVITY_TIMEOUT, then retries', async () => {
    const signals: AbortSignal[] = [];
    const { h, outcome } = runActivity(
      ({ signal }) => {
        signals.push(signal);
        return new Promise(() => {});
      },
      { timeoutMs: 1000, retry: { maxAttempts: 2, initialIntervalMs: 50 } },
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(signals[0]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(RetryableError);
    expect((signals[0]!.reason as AetherError).code).toBe('AETHER_E_ACTIVITY_TIMEOUT');
    await vi.advanceTimersByTimeAsync(50);
    expect(signals).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    await h.finishedRun;
    expect((outcome.error as AetherError).code).toBe('AETHER_E_ACTIVITY_TIMEOUT');
    expect(h.recorded[0]).toMatchObject({
      status: 'failed',
      attempts: 2,
      error: { code: 'AETHER_E_ACTIVITY_TIMEOUT' },
    });
  });

  it('aborts with AETHER_E_ACTIVITY_HEARTBEAT_TIMEOUT when heartbeats stop, not while they come', async () => {
    let signal: AbortSignal | undefined;
    const { h, outcome } = runActivity(
      async (a) => {
        signal = a.signal;
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setTimeout(r, 400));
          a.heartbeat({ progress: i });
        }
        return new Promise(() => {});
      },
      { heartbeatTimeoutMs: 500, retry: { maxAttempts: 1 } },
    );
    await vi.advanceTimersByTimeAsync(2000);
    expect(signal!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(signal!.aborted).toBe(true);
    await h.finishedRun;
    expect((outcome.error as AetherError).code).toBe('AETHER_E_ACTIVITY_HEARTBEAT_TIMEOUT');
    expect(h.recorded[0]).toMatchObject({ status: 'failed', error: { code: 'AETHER_E_ACTIVITY_HEARTBEAT_TIMEOUT' } });
  });
});

describe('activity replay and cancellation', () => {
  it('returns a recorded activity result without running it', async () => {
    const h = new Harness();
    const fn = vi.fn(() => 'live');
    let value: unknown;
    h.start(
      async (ctx: WorkflowContext) => {
        value = await ctx.activity('charge', fn);
      },
      { journal: [completed('0', 'charge', 'recorded', 'activity')] },
    );
    await vi.runAllTimersAsync();
    await h.finishedRun;
    expect(value).toBe('recorded');
    expect(fn).not.toHaveBeenCalled();
  });

  it('stops retrying and records nothing when the run is cancelled during a backoff', async () => {
    let n = 0;
    const { h } = runActivity(() => {
      n++;
      throw new FlakyError('x');
    });
    await vi.advanceTimersByTimeAsync(50);
    h.run.abort(new TerminalError('AETHER_E_WF_CANCELLED', 'cancelled'));
    await vi.runAllTimersAsync();
    expect(n).toBe(1);
    expect(h.link.commands).toEqual([]);
  });
});

/**
 * RunContext: the WorkflowContext a workflow function receives. Each method
 * takes the next deterministic step id, replays the journal entry recorded at
 * that id if there is one, and otherwise does the work live and records it
 * through the run (worker/execution.ts).
 */
import { TerminalError } from '@aether/core';
import { argsToJson } from '../serialize.js';
import type { Execution } from '../worker/execution.js';
import { MISMATCH, never, rejected } from '../worker/pending.js';
import { checkActivityOptions, resolveRetryPolicy, runActivity, type BodyInvoker } from './activity.js';
import { durationToMs } from './duration.js';
import { StepScope, workflowStorage } from './step-ids.js';
import type {
  ActivityContext,
  ActivityOptions,
  ParallelResults,
  SleepDuration,
  StepContext,
  WorkflowContext,
  WorkflowRef,
} from './types.js';

function checkName(what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '') {
    throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `${what} needs a non-empty name`, { name: String(name) });
  }
}

function callThunk(thunk: () => unknown): Promise<unknown> {
  try {
    return Promise.resolve(thunk());
  } catch (error) {
    return rejected(error);
  }
}

export class RunContext implements WorkflowContext {
  private readonly invoke: BodyInvoker;

  constructor(private readonly run: Execution) {
    this.invoke = (fn, activity) => run.invokeBody(fn, activity);
  }

  get workflowId(): string {
    return this.run.workflowId;
  }

  get signal(): AbortSignal {
    return this.run.signal;
  }

  get attempt(): number {
    return this.run.attempt;
  }

  step<T>(name: string, fn: (step: StepContext) => Promise<T> | T): Promise<T> {
    const run = this.run;
    if (!run.active) return never();
    let stepId: string;
    try {
      checkName('ctx.step', name);
      stepId = run.nextStepId();
    } catch (error) {
      return rejected(error);
    }
    return this.stepAt(stepId, name, fn) as Promise<T>;
  }

  private stepAt(stepId: string, name: string, fn: (step: StepContext) => unknown): Promise<unknown> {
    const run = this.run;
    const recorded = run.lookup(stepId, 'step', name);
    if (recorded === MISMATCH) return never();
    if (recorded !== undefined) return run.replay(recorded);
    return this.liveStep(stepId, name, fn);
  }

  private async liveStep(stepId: string, name: string, fn: (step: StepContext) => unknown): Promise<unknown> {
    const run = this.run;
    run.begin();
    try {
      const startedAt = Date.now();
      let outcome: { ok: true; json: string } | { ok: false; error: unknown };
      try {
        const value = await run.invokeBody(fn, run.stepArg);
        outcome = { ok: true, json: run.resultJson(value, `the result of step '${name}'`) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      return await run.record('step', stepId, name, outcome, 1, startedAt);
    } finally {
      run.end();
    }
  }

  activity<T>(
    name: string,
    fn: (activity: ActivityContext) => Promise<T> | T,
    options: ActivityOptions = {},
  ): Promise<T> {
    const run = this.run;
    if (!run.active) return never();
    let stepId: string;
    let policy: ReturnType<typeof resolveRetryPolicy>;
    try {
      checkName('ctx.activity', name);
      policy = resolveRetryPolicy(options.retry);
      checkActivityOptions(options);
      stepId = run.nextStepId();
    } catch (error) {
      return rejected(error);
    }
    const recorded = run.lookup(stepId, 'activity', name);
    if (recorded === MISMATCH) return never();
    if (recorded !== undefined) return run.replay(recorded) as Promise<T>;
    return this.liveActivity(stepId, name, fn, options, policy) as Promise<T>;
  }

  private async liveActivity(
    stepId: string,
    name: string,
    fn: (activity: ActivityContext) => unknown,
    options: ActivityOptions,
    policy: ReturnType<typeof resolveRetryPolicy>,
  ): Promise<unknown> {
    const run = this.run;
    run.begin();
    try {
      const startedAt = Date.now();
      const result = await runActivity(name, fn, options, policy, run.signal, this.invoke);
      if (!result.ok && result.aborted) return await never();
      let outcome: { ok: true; json: string } | { ok: false; error: unknown };
      if (result.ok) {
        try {
          outcome = { ok: true, json: run.resultJson(result.value, `the result of activity '${name}'`) };
        } catch (error) {
          outcome = { ok: false, error };
        }
      } else {
        outcome = { ok: false, error: result.error };
      }
      return await run.record('activity', stepId, name, outcome, result.attempts, startedAt);
    } finally {
      run.end();
    }
  }

  parallel<T extends readonly (() => unknown)[]>(steps: T): Promise<ParallelResults<T>> {
    const run = this.run;
    if (!run.active) return never();
    let position: string;
    try {
      if (!Array.isArray(steps))
        throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'ctx.parallel takes an array of functions', {});
      position = run.nextStepId();
    } catch (error) {
      return rejected(error);
    }
    const branches = (steps as readonly unknown[]).map((thunk, index) =>
      typeof thunk === 'function'
        ? workflowStorage.run({ run, scope: StepScope.branch(position, index) }, callThunk, thunk as () => unknown)
        : thunk,
    );
    return Promise.all(branches) as Promise<ParallelResults<T>>;
  }

  sleep(duration: SleepDuration): Promise<void> {
    const run = this.run;
    if (!run.active) return never();
    let stepId: string;
    let durationMs: number;
    try {
      durationMs = durationToMs(duration);
      stepId = run.nextStepId();
    } catch (error) {
      return rejected(error);
    }
    const recorded = run.lookup(stepId, 'sleep', 'sleep');
    if (recorded === MISMATCH) return never();
    if (recorded !== undefined) return run.replay(recorded).then(() => undefined);
    return run.wait({ kind: 'sleep', stepId, name: 'sleep', durationMs }).then(() => undefined);
  }

  child<A extends unknown[], R>(workflow: WorkflowRef<A, R> | string, args: A): Promise<R> {
    const run = this.run;
    if (!run.active) return never();
    let stepId: string;
    let type: string;
    let childInput: string;
    try {
      type = typeof workflow === 'string' ? workflow : workflow?.name;
      checkName('ctx.child', type);
      if (!Array.isArray(args))
        throw new TerminalError(
          'AETHER_E_INVALID_ARGUMENT',
          `ctx.child('${type}', args) takes an array of arguments`,
          {},
        );
      stepId = run.nextStepId();
      childInput = argsToJson(args, `the arguments of child workflow '${type}'`);
    } catch (error) {
      return rejected(error);
    }
    const recorded = run.lookup(stepId, 'child', type);
    if (recorded === MISMATCH) return never();
    if (recorded !== undefined) return run.replay(recorded) as Promise<R>;
    return run.wait({ kind: 'child', stepId, name: type, childType: type, childInput }) as Promise<R>;
  }

  /**
   * `someWorkflow.start(...)` called by workflow code: a step that starts the
   * workflow under an id derived from this run and this position, so a replay
   * does not start it twice.
   */
  startDetached(type: string, starter: (workflowId: string) => Promise<string>, workflowId?: string): Promise<string> {
    const run = this.run;
    if (!run.active) return never();
    let stepId: string;
    try {
      stepId = run.nextStepId();
    } catch (error) {
      return rejected(error);
    }
    const id = workflowId ?? `${run.workflowId}/${stepId}`;
    return this.stepAt(stepId, `start ${type}`, () => starter(id)) as Promise<string>;
  }
}

/**
 * One run of a workflow on this worker (notes/engine-protocol.md): replays the
 * journal, records live steps, sends the run's end, and gives the run back
 * (`suspend`) once nothing is in flight and it waits for a timer or a child.
 * A run ends locally ("done") when the workflow settles, suspends, is
 * cancelled, or its lease is lost; after that every ctx call stays pending
 * forever, so workflow code simply stops.
 */
import {
  AetherError,
  NonDeterminismError,
  RetryableError,
  TerminalError,
  type StepKind,
  type StepRecord,
  type StoredError,
} from '@aether/core';
import { fromStoredError, isUnavailable, toStoredError } from '../errors.js';
import { fromJson, toJson } from '../serialize.js';
import { StepScope, workflowStorage, type WorkflowFrame } from '../context/step-ids.js';
import { RunContext } from '../context/workflow-context.js';
import type { CommandResult, WorkerCommand, WorkerLink, WorkerTask } from '../connection/types.js';
import type { StepContext } from '../context/types.js';
import { MISMATCH, never, rejected } from './pending.js';

/** A workflow function as the worker calls it. */
export type WorkflowFunction = (ctx: RunContext, ...args: unknown[]) => unknown;

/** What a run needs from its worker. */
export interface RunHost {
  readonly link: WorkerLink;
  /** The run ended locally; forget it. */
  finished(run: Execution): void;
  /** Unexpected trouble (not lease loss or cancellation). */
  warn(message: string, error?: unknown): void;
}

type RunTask = Extract<WorkerTask, { kind: 'run' }>;

/** A live step body's outcome before it is recorded. */
type BodyOutcome = { ok: true; json: string } | { ok: false; error: unknown };

export class Execution {
  readonly workflowId: string;
  readonly workflowType: string;
  readonly leaseToken: string;
  readonly attempt: number;
  /** Created on first use: most runs never look at their signal. */
  private controller: AbortController | undefined;
  private abortReason: AetherError | undefined;
  readonly ctx: RunContext;
  /** The frame of step and activity bodies (no scope: no ctx calls there). */
  readonly bodyFrame: WorkflowFrame;
  /** The argument steps receive (shared: it holds nothing per step). */
  readonly stepArg: StepContext;
  private readonly root = new StepScope('');
  private readonly journal = new Map<string, StepRecord>();
  private inFlight = 0;
  private waits = 0;
  /** running -> (finishing: final command sent) -> done */
  private state: 'running' | 'finishing' | 'done' = 'running';
  private suspendCheckQueued = false;

  constructor(
    task: RunTask,
    private readonly host: RunHost,
  ) {
    this.workflowId = task.workflowId;
    this.workflowType = task.workflowType;
    this.leaseToken = task.leaseToken;
    this.attempt = task.attempt;
    for (const record of task.journal) this.journal.set(record.stepId, record);
    this.ctx = new RunContext(this);
    this.bodyFrame = { run: this, scope: null };
    const signalOf = (): AbortSignal => this.signal;
    this.stepArg = {
      get signal(): AbortSignal {
        return signalOf();
      },
      attempt: 1,
    };
  }

  /** Whether ctx calls may still do anything. */
  get active(): boolean {
    return this.state === 'running';
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Runs the workflow function on the task's input. */
  start(fn: WorkflowFunction, input: string): void {
    let args: unknown;
    try {
      args = input === '' ? [] : JSON.parse(input);
    } catch (error) {
      args = error;
    }
    if (!Array.isArray(args)) {
      this.finish({
        kind: 'workflow_failed',
        error: {
          code: 'AETHER_E_WF_INPUT_NOT_SERIALIZABLE',
          message: `workflow ${this.workflowId}: input is not a JSON array`,
          name: 'TerminalError',
        },
      });
      return;
    }
    const frame: WorkflowFrame = { run: this, scope: this.root };
    const result = workflowStorage.run(frame, () => {
      try {
        return Promise.resolve(fn(this.ctx, ...(args as unknown[])));
      } catch (error) {
        return rejected(error);
      }
    });
    result.then(
      (value) => this.complete(value),
      (error) => this.fail(error),
    );
  }

  /** The id of the next ctx call, from the scope of the calling branch. */
  nextStepId(): string {
    const frame = workflowStorage.getStore();
    if (frame !== undefined && frame.run === this) {
      if (frame.scope === null) {
        throw new TerminalError(
          'AETHER_E_INVALID_ARGUMENT',
          'workflow context methods cannot be called inside a step or activity body; call them from the workflow function',
          { workflowId: this.workflowId },
        );
      }
      return frame.scope.next();
    }
    return this.root.next();
  }

  /**
   * The journal entry at `stepId`, checked against what the code calls now.
   * A different kind or name fails the workflow with a NonDeterminismError.
   */
  lookup(stepId: string, kind: StepKind, name: string): StepRecord | undefined | typeof MISMATCH {
    const record = this.journal.get(stepId);
    if (record === undefined) return undefined;
    if (record.kind === kind && record.name === name) return record;
    const error = new NonDeterminismError(
      this.workflowId,
      stepId,
      `${record.kind} '${record.name}'`,
      `${kind} '${name}'`,
    );
    this.finish({ kind: 'workflow_failed', error: toStoredError(error, 'AETHER_E_WF_NON_DETERMINISM') });
    return MISMATCH;
  }

  /** What a recorded entry gives back: its value, its error, or (waiting) nothing in this run. */
  replay(record: StepRecord): Promise<unknown> {
    switch (record.status) {
      case 'completed':
        try {
          return Promise.resolve(fromJson(record.result));
        } catch (error) {
          return rejected(error);
        }
      case 'failed':
        return Promise.reject(
          fromStoredError(record.error ?? { code: 'AETHER_E_STEP_FAILED', message: `step '${record.name}' failed` }),
        );
      default:
        // A timer that has not fired or a child that has not ended.
        this.waits++;
        this.scheduleSuspendCheck();
        return never();
    }
  }

  /** Runs a body in the body frame (ctx calls forbidden, startAndWait = plain client call). */
  invokeBody<A, T>(fn: (arg: A) => T, arg: A): T {
    return workflowStorage.run(this.bodyFrame, fn, arg);
  }

  /** Serializes a body's value as the recorded result, enforcing JSON and the payload limit. */
  resultJson(value: unknown, role: string): string {
    const json = toJson(value, role) ?? '';
    const max = this.host.link.maxPayloadBytes;
    if (max > 0 && json.length * 3 > max && Buffer.byteLength(json) > max) {
      throw new TerminalError(
        'AETHER_E_PAYLOAD_TOO_LARGE',
        `${role} is ${Buffer.byteLength(json)} bytes, more than the limit of ${max}`,
        {
          limit: max,
        },
      );
    }
    return json;
  }

  /**
   * Records a finished step or activity body and gives workflow code what a
   * replay would give: the JSON round trip of the value, or the error (the
   * original one when this attempt's failure is what got recorded).
   */
  async record(
    kind: 'step' | 'activity',
    stepId: string,
    name: string,
    outcome: BodyOutcome,
    attempts: number,
    startedAt: number,
  ): Promise<unknown> {
    if (this.state !== 'running') return never();
    let command: WorkerCommand = outcome.ok
      ? { kind, stepId, name, status: 'completed', result: outcome.json, attempts, startedAt }
      : {
          kind,
          stepId,
          name,
          status: 'failed',
          error: toStoredError(outcome.error, 'AETHER_E_STEP_FAILED'),
          attempts,
          startedAt,
        };
    let thrown = outcome.ok ? undefined : outcome.error;
    let result: CommandResult | undefined;
    try {
      result = await this.send(command);
    } catch (error) {
      // The engine refused the payload: the step fails with that error instead.
      if (!(error instanceof AetherError) || error.code !== 'AETHER_E_PAYLOAD_TOO_LARGE' || !outcome.ok) throw error;
      thrown = error;
      command = {
        kind,
        stepId,
        name,
        status: 'failed',
        error: toStoredError(error, 'AETHER_E_STEP_FAILED'),
        attempts,
        startedAt,
      };
      result = await this.send(command);
    }
    if (result === undefined) return never();
    const recorded = result.step;
    if (recorded === undefined || recorded.status === command.status) {
      if (command.status === 'failed') throw thrown;
      const json = recorded?.result ?? command.result;
      return fromJson(json);
    }
    // Another attempt recorded this step first: its outcome wins.
    return this.replay(recorded);
  }

  /** Sends a sleep or child command and waits as its recorded entry says. */
  async wait(command: Extract<WorkerCommand, { kind: 'sleep' | 'child' }>): Promise<unknown> {
    this.inFlight++;
    let result: CommandResult | undefined;
    try {
      result = await this.send(command);
    } finally {
      this.inFlight--;
    }
    if (result === undefined) return never();
    const recorded = result.step ?? ({ status: 'waiting', name: command.name } as StepRecord);
    const value = this.replay(recorded);
    this.scheduleSuspendCheck();
    return value;
  }

  /** Counts a running body (or a command) as in flight until `done` is called. */
  begin(): void {
    this.inFlight++;
  }

  end(): void {
    this.inFlight--;
    this.scheduleSuspendCheck();
  }

  /**
   * Sends a command about this run. Resolves with undefined when the run is
   * over meanwhile (cancelled, lease lost, failed to send); payload-limit
   * errors are thrown to the caller.
   */
  private async send(command: WorkerCommand): Promise<CommandResult | undefined> {
    if (this.state !== 'running') return undefined;
    let result: CommandResult;
    try {
      result = await this.host.link.command(this.workflowId, this.leaseToken, command);
    } catch (error) {
      if (this.state !== 'running') return undefined;
      if (error instanceof AetherError && error.code === 'AETHER_E_PAYLOAD_TOO_LARGE') throw error;
      this.lost(error);
      return undefined;
    }
    if (this.state !== 'running') return undefined;
    if (result.cancelled) {
      this.abort(
        new TerminalError('AETHER_E_WF_CANCELLED', `workflow ${this.workflowId} was cancelled`, {
          workflowId: this.workflowId,
        }),
      );
      return undefined;
    }
    return result;
  }

  /** A command failed: the run is given up here; the engine hands it out again. */
  private lost(error: unknown): void {
    const expected =
      isUnavailable(error) ||
      (error instanceof AetherError &&
        (error.code === 'AETHER_E_WF_LEASE_LOST' || error.code === 'AETHER_E_WF_CANCELLED'));
    if (!expected) this.host.warn(`workflow ${this.workflowId}: giving the run up after an error`, error);
    this.abort(
      error instanceof AetherError
        ? error
        : new RetryableError('AETHER_E_WF_LEASE_LOST', `workflow ${this.workflowId}: run given up`, {
            workflowId: this.workflowId,
          }),
    );
  }

  private scheduleSuspendCheck(): void {
    if (this.inFlight !== 0 || this.waits === 0 || this.state !== 'running' || this.suspendCheckQueued) return;
    this.suspendCheckQueued = true;
    // After microtasks and pending I/O callbacks, so the workflow can reach its next ctx call first.
    setImmediate(this.checkSuspend);
  }

  private readonly checkSuspend = (): void => {
    this.suspendCheckQueued = false;
    if (this.inFlight === 0 && this.waits > 0 && this.state === 'running') this.finish({ kind: 'suspend' });
  };

  private complete(value: unknown): void {
    if (this.state !== 'running') return;
    let json: string;
    try {
      json = this.resultJson(value, `the result of workflow '${this.workflowType}'`);
    } catch (error) {
      this.finish({ kind: 'workflow_failed', error: toStoredError(error, 'AETHER_E_WF_FAILED') });
      return;
    }
    this.finish({ kind: 'workflow_completed', result: json });
  }

  private fail(error: unknown): void {
    if (this.state !== 'running') return;
    let stored: StoredError;
    if (error instanceof NonDeterminismError) {
      stored = toStoredError(error, 'AETHER_E_WF_NON_DETERMINISM');
    } else {
      const base = toStoredError(error, 'AETHER_E_WF_FAILED');
      stored = { code: 'AETHER_E_WF_FAILED', message: base.message, name: base.name ?? 'Error' };
      if (base.code !== 'AETHER_E_WF_FAILED') stored.details = { ...(base.details ?? {}), errorCode: base.code };
      else if (base.details) stored.details = base.details;
    }
    this.finish({ kind: 'workflow_failed', error: stored });
  }

  /** Sends the run's last command and forgets the run once it is answered. */
  private finish(
    command: Extract<WorkerCommand, { kind: 'workflow_completed' | 'workflow_failed' | 'suspend' }>,
  ): void {
    if (this.state !== 'running') return;
    this.state = 'finishing';
    this.host.link.command(this.workflowId, this.leaseToken, command).then(
      () => this.close(),
      (error: unknown) => {
        if (
          command.kind === 'workflow_completed' &&
          error instanceof AetherError &&
          error.code === 'AETHER_E_PAYLOAD_TOO_LARGE'
        ) {
          this.state = 'running';
          this.finish({ kind: 'workflow_failed', error: toStoredError(error, 'AETHER_E_WF_FAILED') });
          return;
        }
        const expected =
          isUnavailable(error) ||
          (error instanceof AetherError &&
            (error.code === 'AETHER_E_WF_LEASE_LOST' || error.code === 'AETHER_E_WF_CANCELLED'));
        if (!expected) {
          this.host.warn(`workflow ${this.workflowId}: ${command.kind} was not recorded`, error);
        }
        this.close();
      },
    );
  }

  /** Stops the run at once: cancellation, lease loss, lost connection, worker closing. */
  abort(reason: AetherError): void {
    if (this.state === 'done') return;
    this.close();
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  private close(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.host.finished(this);
  }
}

/**
 * The durable workflow engine of one node. It owns the state machine, hands
 * runs to workers under leases, records journals through the persistence tier,
 * fires durable timers, links children to parents and propagates cancellation.
 * Active (non-terminal) workflows are kept in memory; the store is the truth
 * after a restart (see DESIGN.md section 5 and notes/engine-protocol.md).
 */
import {
  TerminalError,
  aetherError,
  assertTransition,
  type ActionRecord,
  type StepRecord,
  type StoredError,
  type WorkflowFilter,
  type WorkflowPage,
  type WorkflowRecord,
  type WorkflowState,
} from '@aether/core';
import type { Mutation } from '../store/types.js';
import { resolveEngineOptions, type EngineOptions, type ResolvedEngineOptions } from './options.js';
import { createPersistence, type Persistence } from './persistence.js';
import { TimerQueue } from './timer-queue.js';
import type {
  CommandResult,
  ConnectWorkerOptions,
  Engine,
  EngineEvent,
  EngineMetrics,
  PersistenceMode,
  StartOptions,
  StartResult,
  WorkerCommand,
  WorkerSession,
  WorkflowOutcome,
} from './types.js';
import { WorkerPool, type WorkerState } from './workers.js';

interface Run {
  rec: WorkflowRecord;
  /** Journal in seq order (Map keeps insertion order; updates keep position). */
  steps: Map<string, StepRecord>;
  seqNext: number;
  /** `rec` changed since it was last written. */
  dirty: boolean;
  lease: { token: string; worker: WorkerState } | undefined;
  queued: boolean;
  /** A timer or child finished while a worker held the run. */
  wakePending: boolean;
}

/** Creates the engine. Call `start()` before use. */
export function createEngine(options: EngineOptions): Engine {
  return new WorkflowEngine(resolveEngineOptions(options));
}

class WorkflowEngine implements Engine {
  readonly persistence: PersistenceMode;
  readonly limits: Engine['limits'];
  private readonly db: Persistence;
  private readonly active = new Map<string, Run>();
  /** Runs whose end is being written: out of `active`, not yet readable from the store. */
  private readonly ending = new Map<string, Run>();
  private readonly pool = new WorkerPool();
  private readonly timers: TimerQueue;
  private readonly waiters = new Map<string, Set<(o: WorkflowOutcome) => void>>();
  private readonly starting = new Map<string, Promise<StartResult>>();
  private readonly knownTypes = new Set<string>();
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly bootId = Math.random().toString(36).slice(2, 10);
  private leaseCounter = 0;
  private leaseTimer: unknown;
  private started = false;
  private stopped = false;
  private readonly counters = { started: 0, completed: 0, failed: 0, cancelled: 0, steps: 0 };

  constructor(private readonly opts: ResolvedEngineOptions) {
    this.persistence = opts.persistence;
    this.limits = {
      leaseMs: opts.leaseMs,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      maxPayloadBytes: opts.maxPayloadBytes,
    };
    this.db = createPersistence(opts.persistence, opts.store, {
      clock: opts.clock,
      logger: opts.logger,
      snapshotIntervalMs: opts.snapshotIntervalMs,
    });
    this.timers = new TimerQueue(opts.clock, (id, stepId) => this.onTimer(id, stepId));
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const t of await this.db.listWorkflowTypes()) this.knownTypes.add(t);
    const loaded = await this.db.loadActive();
    const runnable: Run[] = [];
    for (const { workflow, steps } of loaded) {
      const sorted = [...steps].sort((a, b) => a.seq - b.seq);
      const run: Run = {
        rec: { ...workflow },
        steps: new Map(sorted.map((s) => [s.stepId, s])),
        seqNext: sorted.length > 0 ? sorted[sorted.length - 1]!.seq + 1 : 0,
        dirty: false,
        lease: undefined,
        queued: false,
        wakePending: false,
      };
      this.active.set(workflow.id, run);
      let waiting = false;
      for (const s of sorted) {
        if (s.status !== 'waiting') continue;
        waiting = true;
        if (s.kind === 'sleep' && s.wakeAt !== undefined) this.timers.add(workflow.id, s.stepId, s.wakeAt);
      }
      if (!waiting) runnable.push(run);
    }
    for (const run of runnable) this.enqueue(run);
    this.armLeaseCheck();
    this.opts.logger.info({ active: loaded.length, persistence: this.persistence }, 'engine started');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.stop();
    if (this.leaseTimer !== undefined) this.opts.clock.clearTimeout(this.leaseTimer);
    for (const w of [...this.pool.workers.values()]) this.dropWorker(w, 'engine stopping', false);
    await this.db.stop();
  }

  // ------------------------------------------------------------ client API

  knowsType(type: string): boolean {
    return this.knownTypes.has(type);
  }

  declareTypes(types: readonly string[]): void {
    const fresh = types.filter((t) => !this.knownTypes.has(t));
    for (const t of fresh) this.knownTypes.add(t);
    if (fresh.length > 0) {
      this.db.addWorkflowTypes(fresh).catch((err: unknown) => {
        this.opts.logger.error({ err, types: fresh }, 'could not persist workflow types');
      });
    }
  }

  async startWorkflow(options: StartOptions): Promise<StartResult> {
    this.assertRunning();
    const type = options.type;
    if (typeof type !== 'string' || type.length === 0) {
      throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'workflow type is required');
    }
    if (!this.knownTypes.has(type)) {
      throw new TerminalError('AETHER_E_WF_UNKNOWN_TYPE', `unknown workflow type "${type}"`, { type });
    }
    const input = this.normalizeInput(options.input);
    const id = options.workflowId !== undefined && options.workflowId !== '' ? options.workflowId : this.opts.newId();
    if (id.length > 512) throw new TerminalError('AETHER_E_INVALID_ARGUMENT', 'workflow id longer than 512 characters');

    const existing = this.active.get(id) ?? this.ending.get(id);
    if (existing) return { workflowId: id, alreadyStarted: true, state: existing.rec.state };
    const inProgress = this.starting.get(id);
    if (inProgress) return inProgress.then((r) => ({ ...r, alreadyStarted: true }));
    const p = this.createWorkflow(id, type, input).finally(() => this.starting.delete(id));
    this.starting.set(id, p);
    return p;
  }

  private async createWorkflow(id: string, type: string, input: string): Promise<StartResult> {
    const stored = await this.db.getWorkflow(id);
    if (stored) return { workflowId: id, alreadyStarted: true, state: stored.state };
    const now = this.opts.clock.now();
    const rec: WorkflowRecord = {
      id,
      type,
      state: 'PENDING',
      input,
      createdAt: now,
      updatedAt: now,
      attempts: 0,
      version: 1,
    };
    await this.db.write([
      { type: 'workflow.put', workflow: { ...rec } },
      this.action(id, 'workflow.started', now, { type }),
    ]);
    const run = this.newRun(rec);
    this.counters.started++;
    this.emit({ type: 'workflow.started', workflow: rec });
    this.enqueue(run);
    return { workflowId: id, alreadyStarted: false, state: 'PENDING' };
  }

  async getWorkflow(id: string): Promise<WorkflowRecord> {
    const run = this.active.get(id) ?? this.ending.get(id);
    if (run) return { ...run.rec };
    const rec = await this.db.getWorkflow(id);
    if (!rec) throw notFound(id);
    return rec;
  }

  async getSteps(id: string): Promise<StepRecord[]> {
    const run = this.active.get(id);
    if (run) return [...run.steps.values()].map((s) => ({ ...s }));
    if (!(await this.db.getWorkflow(id))) throw notFound(id);
    return this.db.getSteps(id);
  }

  async getActions(id: string): Promise<ActionRecord[]> {
    if (!this.active.has(id) && !(await this.db.getWorkflow(id))) throw notFound(id);
    return this.db.listActions(id);
  }

  async listWorkflows(filter: WorkflowFilter): Promise<WorkflowPage> {
    const page = await this.db.listWorkflows(filter);
    // Rows of running workflows are written lazily (with their next step), so
    // the in-memory record is the fresher one.
    const items = page.items.map((w) => {
      const run = this.active.get(w.id) ?? this.ending.get(w.id);
      return run ? { ...run.rec } : w;
    });
    return { ...page, items };
  }

  async awaitResult(id: string, timeoutMs?: number): Promise<WorkflowOutcome> {
    const run = this.active.get(id) ?? this.ending.get(id);
    if (!run) {
      const rec = await this.db.getWorkflow(id);
      if (!rec) throw notFound(id);
      // It may have been started meanwhile by a concurrent start.
      const again = this.active.get(id) ?? this.ending.get(id);
      if (!again) return outcomeOf(rec);
      return this.waitFor(again, timeoutMs);
    }
    return this.waitFor(run, timeoutMs);
  }

  private waitFor(run: Run, timeoutMs: number | undefined): Promise<WorkflowOutcome> {
    const id = run.rec.id;
    return new Promise<WorkflowOutcome>((resolve) => {
      let set = this.waiters.get(id);
      if (!set) {
        set = new Set();
        this.waiters.set(id, set);
      }
      let handle: unknown;
      const done = (o: WorkflowOutcome) => {
        if (handle !== undefined) this.opts.clock.clearTimeout(handle);
        resolve(o);
      };
      set.add(done);
      if (timeoutMs !== undefined && timeoutMs > 0) {
        handle = this.opts.clock.setTimeout(() => {
          set.delete(done);
          if (set.size === 0) this.waiters.delete(id);
          const current = this.active.get(id)?.rec ?? run.rec;
          resolve(outcomeOf(current));
        }, timeoutMs);
      }
    });
  }

  async cancel(id: string, reason = 'cancelled'): Promise<WorkflowRecord> {
    this.assertRunning();
    const run = this.active.get(id);
    if (!run) {
      // Not active: ended (or ending), so cancelling is an illegal transition.
      const rec = this.ending.get(id)?.rec ?? (await this.db.getWorkflow(id));
      if (!rec) throw notFound(id);
      assertTransition(id, rec.state, 'CANCELLED');
      return rec;
    }
    const error: StoredError = { code: 'AETHER_E_WF_CANCELLED', message: reason };
    await this.finish(run, 'CANCELLED', { error }, 'workflow.cancelled');
    return { ...run.rec };
  }

  async metrics(): Promise<EngineMetrics> {
    const byState = await this.db.countByState();
    return {
      workflowsStarted: this.counters.started,
      workflowsCompleted: this.counters.completed,
      workflowsFailed: this.counters.failed,
      workflowsCancelled: this.counters.cancelled,
      stepsCompleted: this.counters.steps,
      activeWorkers: this.pool.workers.size,
      byState,
      persistence: this.persistence,
      store: `${this.opts.store.kind} ${this.opts.store.location}`,
    };
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ workers

  connectWorker(options: ConnectWorkerOptions): WorkerSession {
    this.assertRunning();
    const old = this.pool.workers.get(options.workerId);
    if (old) this.dropWorker(old, 'replaced by a new connection of the same worker id', true);
    const worker: WorkerState = {
      id: options.workerId,
      types: new Set(options.workflowTypes),
      max: Math.max(1, options.maxConcurrency ?? 100),
      running: new Set(),
      onTask: options.onTask,
      onClose: options.onClose,
      lastSeen: this.opts.clock.now(),
      closed: false,
    };
    this.declareTypes(options.workflowTypes);
    this.pool.add(worker);
    this.emit({ type: 'worker.connected', workerId: worker.id });
    for (const t of worker.types) this.pump(t);
    return {
      workerId: worker.id,
      leaseMs: this.opts.leaseMs,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      maxPayloadBytes: this.opts.maxPayloadBytes,
      command: (workflowId, leaseToken, command) => this.command(worker, workflowId, leaseToken, command),
      heartbeat: (ids) => this.heartbeat(worker, ids),
      close: () => this.dropWorker(worker, 'worker disconnected', false),
    };
  }

  private heartbeat(worker: WorkerState, ids: readonly string[]): string[] {
    if (worker.closed) return [...ids];
    worker.lastSeen = this.opts.clock.now();
    return ids.filter((id) => this.active.get(id)?.lease?.worker !== worker);
  }

  private dropWorker(worker: WorkerState, reason: string, notify: boolean): void {
    if (worker.closed) return;
    worker.closed = true;
    this.pool.remove(worker);
    const held = [...worker.running];
    worker.running.clear();
    for (const id of held) {
      const run = this.active.get(id);
      if (run?.lease?.worker !== worker) continue;
      run.lease = undefined;
      this.enqueue(run);
    }
    this.emit({ type: 'worker.disconnected', workerId: worker.id });
    if (notify || this.stopped) {
      try {
        worker.onClose?.(reason);
      } catch {
        // a failing transport must not break the engine
      }
    }
    this.opts.logger.info({ workerId: worker.id, reason, requeued: held.length }, 'worker dropped');
  }

  private armLeaseCheck(): void {
    if (this.stopped) return;
    this.leaseTimer = this.opts.clock.setTimeout(() => {
      const now = this.opts.clock.now();
      for (const w of [...this.pool.workers.values()]) {
        if (now - w.lastSeen > this.opts.leaseMs) this.dropWorker(w, 'lease expired: no heartbeat', true);
      }
      this.armLeaseCheck();
    }, this.opts.heartbeatIntervalMs);
  }

  private async command(
    worker: WorkerState,
    workflowId: string,
    token: string,
    cmd: WorkerCommand,
  ): Promise<CommandResult> {
    const run = this.active.get(workflowId);
    if (!run || run.lease?.token !== token || run.lease.worker !== worker) {
      if (!run) {
        const rec = await this.db.getWorkflow(workflowId);
        if (!rec) throw notFound(workflowId);
        if (rec.state === 'CANCELLED') return { cancelled: true };
      }
      throw aetherError('AETHER_E_WF_LEASE_LOST', `the lease on workflow ${workflowId} is no longer held by this run`, {
        workflowId,
      });
    }
    worker.lastSeen = this.opts.clock.now();
    switch (cmd.kind) {
      case 'step':
      case 'activity':
      case 'invoke':
        return this.recordStep(run, cmd);
      case 'sleep':
        return this.recordSleep(run, cmd.stepId, cmd.name, cmd.durationMs);
      case 'child':
        return this.startChild(run, cmd.stepId, cmd.name, cmd.childType, cmd.childInput);
      case 'workflow_completed':
        this.checkPayload(cmd.result, 'workflow result');
        await this.finish(run, 'COMPLETED', { result: cmd.result }, 'workflow.completed');
        return { cancelled: false };
      case 'workflow_failed':
        await this.finish(run, 'FAILED', { error: cmd.error }, 'workflow.failed');
        return { cancelled: false };
      case 'suspend':
        this.release(run);
        if (run.wakePending || !hasWaiting(run)) {
          run.wakePending = false;
          this.enqueue(run);
        }
        return { cancelled: false };
    }
  }

  private async recordStep(
    run: Run,
    cmd: Extract<WorkerCommand, { status: 'completed' | 'failed' }>,
  ): Promise<CommandResult> {
    const existing = this.checkReplay(run, cmd.stepId, cmd.name, cmd.kind);
    if (existing) return { step: existing, cancelled: false };
    if (cmd.result !== undefined) this.checkPayload(cmd.result, `result of step "${cmd.name}"`);
    const now = this.opts.clock.now();
    const step: StepRecord = {
      workflowId: run.rec.id,
      stepId: cmd.stepId,
      name: cmd.name,
      kind: cmd.kind,
      status: cmd.status,
      seq: run.seqNext++,
      result: cmd.status === 'completed' ? (cmd.result ?? '') : undefined,
      error: cmd.status === 'failed' ? cmd.error : undefined,
      attempts: cmd.attempts,
      startedAt: cmd.startedAt,
      completedAt: now,
    };
    const batch = this.withRow(run, [
      { type: 'step.put', step },
      this.action(run.rec.id, `step.${cmd.status}`, now, { stepId: step.stepId, name: step.name }),
    ]);
    await this.db.write(batch);
    run.steps.set(step.stepId, step);
    this.counters.steps++;
    this.emit({ type: 'step.recorded', step, durationMs: Math.max(0, now - cmd.startedAt) });
    return { step, cancelled: !this.active.has(run.rec.id) };
  }

  private async recordSleep(run: Run, stepId: string, name: string, durationMs: number): Promise<CommandResult> {
    const existing = this.checkReplay(run, stepId, name, 'sleep');
    if (existing) return { step: existing, cancelled: false };
    if (!Number.isFinite(durationMs) || durationMs < 0) {
      throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `sleep duration must be a non-negative number of ms`, {
        durationMs,
      });
    }
    const now = this.opts.clock.now();
    const step: StepRecord = {
      workflowId: run.rec.id,
      stepId,
      name,
      kind: 'sleep',
      status: 'waiting',
      seq: run.seqNext++,
      attempts: 1,
      startedAt: now,
      wakeAt: now + durationMs,
    };
    run.rec.wakeAt = minWake(run.rec.wakeAt, step.wakeAt);
    run.dirty = true;
    await this.db.write(
      this.withRow(run, [
        { type: 'step.put', step },
        this.action(run.rec.id, 'timer.scheduled', now, { stepId, wakeAt: step.wakeAt }),
      ]),
    );
    run.steps.set(stepId, step);
    this.timers.add(run.rec.id, stepId, step.wakeAt!);
    return { step, cancelled: false };
  }

  private onTimer(workflowId: string, stepId: string): void {
    const run = this.active.get(workflowId);
    const step = run?.steps.get(stepId);
    if (!run || !step || step.status !== 'waiting') return;
    const now = this.opts.clock.now();
    const fired: StepRecord = { ...step, status: 'completed', completedAt: now, result: '' };
    run.rec.wakeAt = nextWake(run, stepId);
    run.dirty = true;
    run.steps.set(stepId, fired);
    this.db
      .write(
        this.withRow(run, [
          { type: 'step.put', step: fired },
          this.action(workflowId, 'timer.fired', now, { stepId, lateMs: now - (step.wakeAt ?? now) }),
        ]),
      )
      .then(
        () => this.wake(run),
        (err: unknown) => {
          this.opts.logger.error({ err, workflowId, stepId }, 'could not record a fired timer; retrying');
          run.steps.set(stepId, step);
          this.timers.add(workflowId, stepId, this.opts.clock.now() + 1000);
        },
      );
  }

  private async startChild(
    run: Run,
    stepId: string,
    name: string,
    childType: string,
    childInput: string,
  ): Promise<CommandResult> {
    const existing = this.checkReplay(run, stepId, name, 'child');
    if (existing) return { step: existing, cancelled: false };
    const now = this.opts.clock.now();
    const childId = `${run.rec.id}/${stepId}`;
    const base = { workflowId: run.rec.id, stepId, name, kind: 'child' as const, seq: run.seqNext++, attempts: 1 };
    if (!this.knownTypes.has(childType)) {
      const step: StepRecord = {
        ...base,
        status: 'failed',
        startedAt: now,
        completedAt: now,
        childId,
        error: { code: 'AETHER_E_WF_UNKNOWN_TYPE', message: `unknown workflow type "${childType}"` },
      };
      await this.db.write(this.withRow(run, [{ type: 'step.put', step }]));
      run.steps.set(stepId, step);
      return { step, cancelled: false };
    }
    const input = this.normalizeInput(childInput);
    const child: WorkflowRecord = {
      id: childId,
      type: childType,
      state: 'PENDING',
      input,
      parentId: run.rec.id,
      parentStepId: stepId,
      createdAt: now,
      updatedAt: now,
      attempts: 0,
      version: 1,
    };
    const step: StepRecord = { ...base, status: 'waiting', startedAt: now, childId };
    await this.db.write(
      this.withRow(run, [
        { type: 'workflow.put', workflow: { ...child } },
        this.action(childId, 'workflow.started', now, { type: childType, parentId: run.rec.id }),
        { type: 'step.put', step },
        this.action(run.rec.id, 'child.started', now, { stepId, childId }),
      ]),
    );
    run.steps.set(stepId, step);
    const childRun = this.newRun(child);
    this.counters.started++;
    this.emit({ type: 'workflow.started', workflow: child });
    this.enqueue(childRun);
    return { step, cancelled: false };
  }

  /** Ends a workflow: state, waiters, lease, children, and the parent's entry. */
  private async finish(
    run: Run,
    state: WorkflowState,
    outcome: { result?: string; error?: StoredError | undefined },
    action: string,
  ): Promise<void> {
    const rec = run.rec;
    assertTransition(rec.id, rec.state, state);
    const now = this.opts.clock.now();
    rec.state = state;
    rec.result = outcome.result;
    rec.error = outcome.error;
    rec.completedAt = now;
    rec.wakeAt = undefined;
    run.dirty = true;
    // Leave `active` first so concurrent commands see the end at once.
    this.active.delete(rec.id);
    this.ending.set(rec.id, run);
    const lease = run.lease;
    this.release(run);
    this.timers.removeWorkflow(rec.id);
    const batch = this.withRow(run, [
      this.action(rec.id, action, now, outcome.error ? { code: outcome.error.code } : {}),
    ]);

    const parent = rec.parentId !== undefined ? this.active.get(rec.parentId) : undefined;
    const parentStep = parent && rec.parentStepId !== undefined ? parent.steps.get(rec.parentStepId) : undefined;
    let parentUpdate: StepRecord | undefined;
    if (parent && parentStep && parentStep.status === 'waiting') {
      parentUpdate =
        state === 'COMPLETED'
          ? { ...parentStep, status: 'completed', result: outcome.result ?? '', completedAt: now }
          : { ...parentStep, status: 'failed', error: outcome.error, completedAt: now };
      batch.push(...this.withRow(parent, [{ type: 'step.put', step: parentUpdate }]));
      batch.push(this.action(parent.rec.id, 'child.ended', now, { stepId: parentStep.stepId, state }));
    }
    try {
      await this.db.write(batch);
    } catch (err) {
      this.opts.logger.error({ err, workflowId: rec.id }, 'could not record the end of a workflow');
      throw err;
    } finally {
      this.ending.delete(rec.id);
    }
    if (state === 'COMPLETED') this.counters.completed++;
    else if (state === 'FAILED') this.counters.failed++;
    else this.counters.cancelled++;
    this.emit({ type: 'workflow.state', workflow: { ...rec } });
    if (state === 'CANCELLED' && lease) {
      try {
        lease.worker.onTask({
          kind: 'cancel',
          workflowId: rec.id,
          leaseToken: lease.token,
          reason: rec.error?.message ?? '',
        });
      } catch {
        // the worker's transport is gone; its lease is released anyway
      }
    }
    const set = this.waiters.get(rec.id);
    if (set) {
      this.waiters.delete(rec.id);
      const o = outcomeOf(rec);
      for (const w of set) w(o);
    }
    if (parent && parentUpdate) {
      parent.steps.set(parentUpdate.stepId, parentUpdate);
      this.wake(parent);
    }
    if (state === 'CANCELLED') {
      for (const s of run.steps.values()) {
        const child =
          s.kind === 'child' && s.status === 'waiting' && s.childId ? this.active.get(s.childId) : undefined;
        if (child) await this.cancel(child.rec.id, `parent ${rec.id} cancelled`).catch(() => {});
      }
    }
  }

  // ------------------------------------------------------------ helpers

  private newRun(rec: WorkflowRecord): Run {
    const run: Run = {
      rec,
      steps: new Map(),
      seqNext: 0,
      dirty: false,
      lease: undefined,
      queued: false,
      wakePending: false,
    };
    this.active.set(rec.id, run);
    return run;
  }

  /** Returns the recorded entry at `stepId`, or throws when it is a different step. */
  private checkReplay(run: Run, stepId: string, name: string, kind: string): StepRecord | undefined {
    const existing = run.steps.get(stepId);
    if (!existing) return undefined;
    if (existing.name !== name || existing.kind !== kind) {
      throw new TerminalError(
        'AETHER_E_WF_NON_DETERMINISM',
        `non-determinism in workflow ${run.rec.id} at position ${stepId}: the journal recorded ${existing.kind} "${existing.name}" but the run met ${kind} "${name}"`,
        {
          workflowId: run.rec.id,
          position: stepId,
          recorded: `${existing.kind} "${existing.name}"`,
          met: `${kind} "${name}"`,
        },
      );
    }
    return existing;
  }

  /** Prepends the workflow row when it changed since the last write. */
  private withRow(run: Run, batch: Mutation[]): Mutation[] {
    if (!run.dirty) return batch;
    run.dirty = false;
    run.rec.updatedAt = this.opts.clock.now();
    run.rec.version++;
    return [{ type: 'workflow.put', workflow: { ...run.rec } }, ...batch];
  }

  private action(workflowId: string, action: string, at: number, data?: Record<string, unknown>): Mutation {
    return { type: 'action.append', action: { workflowId, action, at, data } };
  }

  private enqueue(run: Run): void {
    if (run.queued || run.lease || this.stopped) return;
    run.queued = true;
    this.pool.enqueue(run.rec.type, run.rec.id);
    this.pump(run.rec.type);
  }

  private wake(run: Run): void {
    if (!this.active.has(run.rec.id)) return;
    if (run.lease) run.wakePending = true;
    else this.enqueue(run);
  }

  /** Hands queued runs of `type` to workers with free slots. */
  private pump(type: string): void {
    while (this.pool.queued(type) > 0) {
      const worker = this.pool.pickWorker(type);
      if (!worker) return;
      const id = this.pool.shift(type)!;
      const run = this.active.get(id);
      if (!run || !run.queued || run.lease) continue;
      run.queued = false;
      const token = `${this.bootId}.${++this.leaseCounter}`;
      run.lease = { token, worker };
      worker.running.add(id);
      const now = this.opts.clock.now();
      if (run.rec.state === 'PENDING') {
        run.rec.state = 'RUNNING';
        run.rec.startedAt = now;
        this.emit({ type: 'workflow.state', workflow: { ...run.rec } });
      }
      run.rec.attempts++;
      run.dirty = true;
      try {
        worker.onTask({
          kind: 'run',
          workflowId: id,
          workflowType: run.rec.type,
          input: run.rec.input,
          leaseToken: token,
          attempt: run.rec.attempts,
          journal: [...run.steps.values()],
        });
      } catch (err) {
        this.opts.logger.warn({ err, workerId: worker.id }, 'worker transport failed; dropping it');
        this.dropWorker(worker, 'transport failed', true);
      }
    }
  }

  private release(run: Run): void {
    const lease = run.lease;
    if (!lease) return;
    run.lease = undefined;
    lease.worker.running.delete(run.rec.id);
    if (!lease.worker.closed) for (const t of lease.worker.types) this.pump(t);
  }

  private normalizeInput(input: string | undefined): string {
    const text = input === undefined || input === '' ? '[]' : input;
    this.checkPayload(text, 'workflow input');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TerminalError('AETHER_E_WF_INPUT_NOT_SERIALIZABLE', 'workflow input is not valid JSON text');
    }
    return Array.isArray(parsed) ? text : JSON.stringify([parsed]);
  }

  private checkPayload(text: string, what: string): void {
    const max = this.opts.maxPayloadBytes;
    if (text.length * 3 <= max) return;
    const size = Buffer.byteLength(text);
    if (size > max) {
      throw new TerminalError('AETHER_E_PAYLOAD_TOO_LARGE', `${what} is ${size} bytes, over the limit of ${max}`, {
        size,
        limit: max,
      });
    }
  }

  private assertRunning(): void {
    if (!this.started) throw aetherError('AETHER_E_UNAVAILABLE', 'the engine is not started');
    if (this.stopped) throw aetherError('AETHER_E_SHUTTING_DOWN', 'the engine is shutting down');
  }

  private emit(event: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.opts.logger.warn({ err }, 'engine event listener threw');
      }
    }
  }
}

function notFound(id: string): TerminalError {
  return new TerminalError('AETHER_E_WF_NOT_FOUND', `workflow ${id} not found`, { workflowId: id });
}

function outcomeOf(rec: WorkflowRecord): WorkflowOutcome {
  return { workflowId: rec.id, state: rec.state, result: rec.result, error: rec.error };
}

function hasWaiting(run: Run): boolean {
  for (const s of run.steps.values()) if (s.status === 'waiting') return true;
  return false;
}

function minWake(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function nextWake(run: Run, firedStepId: string): number | undefined {
  let next: number | undefined;
  for (const s of run.steps.values()) {
    if (s.stepId !== firedStepId && s.kind === 'sleep' && s.status === 'waiting') next = minWake(next, s.wakeAt);
  }
  return next;
}

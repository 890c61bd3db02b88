import { describe, expect, it } from 'vitest';
import { AetherError } from '@aether/core';
import { createMemoryStore } from '../store/memory.js';
import { createEngine } from './engine.js';
import type { Clock } from './options.js';
import type { Engine, WorkerSession, WorkerTask } from './types.js';

/** A manual clock: timers fire only when the test advances time. */
class ManualClock implements Clock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const first = this.timers[0];
      if (!first || first.at > end) break;
      this.timers.shift();
      this.t = first.at;
      first.fn();
    }
    this.t = end;
  }
}

async function setup(opts: { leaseMs?: number } = {}) {
  const clock = new ManualClock();
  const engine = createEngine({ store: createMemoryStore(), persistence: 'memory', clock, leaseMs: opts.leaseMs });
  await engine.start();
  return { engine, clock };
}

/** A scripted worker: records the tasks it receives. */
function worker(engine: Engine, id: string, types: string[], max = 10) {
  const tasks: WorkerTask[] = [];
  let notify: (() => void) | undefined;
  const session: WorkerSession = engine.connectWorker({
    workerId: id,
    workflowTypes: types,
    maxConcurrency: max,
    onTask: (t) => {
      tasks.push(t);
      notify?.();
    },
  });
  const next = async (): Promise<WorkerTask> => {
    while (tasks.length === 0) await new Promise<void>((r) => (notify = r));
    return tasks.shift()!;
  };
  return { session, tasks, next };
}

const step = (stepId: string, name: string, result: unknown) => ({
  kind: 'step' as const,
  stepId,
  name,
  status: 'completed' as const,
  result: JSON.stringify(result),
  attempts: 1,
  startedAt: 0,
});

async function expectCode(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AetherError);
  expect((err as AetherError).code).toBe(code);
}

describe('workflow engine', () => {
  it('hands a started workflow to a worker, records its steps and resolves awaitResult', async () => {
    const { engine } = await setup();
    const w = worker(engine, 'w1', ['greet']);
    const { workflowId } = await engine.startWorkflow({ type: 'greet', input: '["World"]' });
    const t = await w.next();
    expect(t).toMatchObject({ kind: 'run', workflowId, workflowType: 'greet', input: '["World"]', attempt: 1 });
    if (t.kind !== 'run') throw new Error('expected run');
    const r = await w.session.command(workflowId, t.leaseToken, step('0', 'create', 'Hello, World!'));
    expect(r.step).toMatchObject({ stepId: '0', status: 'completed', seq: 0, result: '"Hello, World!"' });
    const waiting = engine.awaitResult(workflowId);
    await w.session.command(workflowId, t.leaseToken, { kind: 'workflow_completed', result: '{"message":"hi"}' });
    await expect(waiting).resolves.toMatchObject({ state: 'COMPLETED', result: '{"message":"hi"}' });
    expect((await engine.getWorkflow(workflowId)).state).toBe('COMPLETED');
    expect(await engine.getSteps(workflowId)).toHaveLength(1);
  });

  it('rejects unknown workflow types and non-JSON input with their codes', async () => {
    const { engine } = await setup();
    worker(engine, 'w1', ['known']);
    await expectCode(engine.startWorkflow({ type: 'nope', input: '[]' }), 'AETHER_E_WF_UNKNOWN_TYPE');
    await expectCode(engine.startWorkflow({ type: 'known', input: '{oops' }), 'AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
  });

  it('rejects a payload over the limit', async () => {
    const clock = new ManualClock();
    const engine = createEngine({ store: createMemoryStore(), persistence: 'memory', clock, maxPayloadBytes: 100 });
    await engine.start();
    worker(engine, 'w1', ['t']);
    await expectCode(
      engine.startWorkflow({ type: 't', input: JSON.stringify(['x'.repeat(200)]) }),
      'AETHER_E_PAYLOAD_TOO_LARGE',
    );
  });

  it('starts a workflow id only once', async () => {
    const { engine } = await setup();
    worker(engine, 'w1', ['t']);
    const [a, b] = await Promise.all([
      engine.startWorkflow({ type: 't', input: '[]', workflowId: 'same' }),
      engine.startWorkflow({ type: 't', input: '[]', workflowId: 'same' }),
    ]);
    expect([a.alreadyStarted, b.alreadyStarted].sort()).toEqual([false, true]);
    const c = await engine.startWorkflow({ type: 't', input: '[]', workflowId: 'same' });
    expect(c).toMatchObject({ workflowId: 'same', alreadyStarted: true });
  });

  it('returns the first recording of a step and names both steps on non-determinism', async () => {
    const { engine } = await setup();
    const w = worker(engine, 'w1', ['t']);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    const t = await w.next();
    if (t.kind !== 'run') throw new Error('expected run');
    await w.session.command(workflowId, t.leaseToken, step('0', 'a', 1));
    const again = await w.session.command(workflowId, t.leaseToken, step('0', 'a', 2));
    expect(again.step?.result).toBe('1');
    const err = await w.session.command(workflowId, t.leaseToken, step('0', 'b', 3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AetherError);
    expect((err as AetherError).code).toBe('AETHER_E_WF_NON_DETERMINISM');
    expect((err as AetherError).details).toMatchObject({ recorded: 'step "a"', met: 'step "b"' });
  });

  it('suspends a sleeping workflow and hands it out again when its durable timer fires', async () => {
    const { engine, clock } = await setup();
    const w = worker(engine, 'w1', ['t']);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    const t1 = await w.next();
    if (t1.kind !== 'run') throw new Error('expected run');
    const s = await w.session.command(workflowId, t1.leaseToken, {
      kind: 'sleep',
      stepId: '0',
      name: 'sleep',
      durationMs: 2000,
    });
    expect(s.step).toMatchObject({ status: 'waiting', wakeAt: clock.t + 2000 });
    await w.session.command(workflowId, t1.leaseToken, { kind: 'suspend' });
    clock.advance(1999);
    await new Promise((r) => setImmediate(r));
    expect(w.tasks).toHaveLength(0);
    clock.advance(1);
    const t2 = await w.next();
    expect(t2).toMatchObject({ kind: 'run', attempt: 2 });
    if (t2.kind !== 'run') throw new Error('expected run');
    expect(t2.journal[0]).toMatchObject({ stepId: '0', kind: 'sleep', status: 'completed' });
    await expectCode(w.session.command(workflowId, t1.leaseToken, step('1', 'x', 1)), 'AETHER_E_WF_LEASE_LOST');
  });

  it('runs a child and gives the parent its result', async () => {
    const { engine } = await setup();
    const w = worker(engine, 'w1', ['parent', 'child']);
    const { workflowId } = await engine.startWorkflow({ type: 'parent', input: '[]' });
    const p1 = await w.next();
    if (p1.kind !== 'run') throw new Error('expected run');
    const c = await w.session.command(workflowId, p1.leaseToken, {
      kind: 'child',
      stepId: '0',
      name: 'child',
      childType: 'child',
      childInput: '[21]',
    });
    expect(c.step).toMatchObject({ status: 'waiting', childId: `${workflowId}/0` });
    await w.session.command(workflowId, p1.leaseToken, { kind: 'suspend' });
    const ct = await w.next();
    expect(ct).toMatchObject({ kind: 'run', workflowId: `${workflowId}/0`, input: '[21]' });
    if (ct.kind !== 'run') throw new Error('expected run');
    await w.session.command(ct.workflowId, ct.leaseToken, { kind: 'workflow_completed', result: '42' });
    const p2 = await w.next();
    if (p2.kind !== 'run') throw new Error('expected run');
    expect(p2.journal[0]).toMatchObject({ kind: 'child', status: 'completed', result: '42' });
    expect((await engine.getWorkflow(`${workflowId}/0`)).parentId).toBe(workflowId);
  });

  it('cancels a running workflow, tells its worker, and cancels its children', async () => {
    const { engine } = await setup();
    const w = worker(engine, 'w1', ['p', 'c']);
    const { workflowId } = await engine.startWorkflow({ type: 'p', input: '[]' });
    const t = await w.next();
    if (t.kind !== 'run') throw new Error('expected run');
    await w.session.command(workflowId, t.leaseToken, {
      kind: 'child',
      stepId: '0',
      name: 'c',
      childType: 'c',
      childInput: '[]',
    });
    const childTask = await w.next();
    const rec = await engine.cancel(workflowId, 'user asked');
    expect(rec.state).toBe('CANCELLED');
    const cancels = [await w.next(), await w.next()].map((x) => x.kind === 'cancel' && x.workflowId).sort();
    expect(cancels).toEqual([workflowId, childTask.workflowId].sort());
    expect((await engine.getWorkflow(childTask.workflowId)).state).toBe('CANCELLED');
    const r = await w.session.command(workflowId, t.leaseToken, step('1', 'x', 1));
    expect(r.cancelled).toBe(true);
    await expectCode(engine.cancel(workflowId), 'AETHER_E_WF_ILLEGAL_TRANSITION');
    await expectCode(engine.cancel('missing'), 'AETHER_E_WF_NOT_FOUND');
  });

  it('cancels a sleeping workflow and drops its timer', async () => {
    const { engine, clock } = await setup();
    const w = worker(engine, 'w1', ['t']);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    const t = await w.next();
    if (t.kind !== 'run') throw new Error('expected run');
    await w.session.command(workflowId, t.leaseToken, { kind: 'sleep', stepId: '0', name: 'sleep', durationMs: 1000 });
    await w.session.command(workflowId, t.leaseToken, { kind: 'suspend' });
    await engine.cancel(workflowId);
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    expect(w.tasks).toHaveLength(0);
    expect((await engine.awaitResult(workflowId)).state).toBe('CANCELLED');
  });

  it('gives the workflows of a disconnected worker to another worker', async () => {
    const { engine } = await setup();
    const a = worker(engine, 'a', ['t']);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    const ta = await a.next();
    if (ta.kind !== 'run') throw new Error('expected run');
    const b = worker(engine, 'b', ['t']);
    a.session.close();
    const tb = await b.next();
    expect(tb).toMatchObject({ kind: 'run', workflowId, attempt: 2 });
    await expectCode(a.session.command(workflowId, ta.leaseToken, step('0', 's', 1)), 'AETHER_E_WF_LEASE_LOST');
  });

  it('moves the workflows of a worker that stops heartbeating to another worker', async () => {
    const { engine, clock } = await setup({ leaseMs: 3000 });
    const a = worker(engine, 'a', ['t']);
    const b = worker(engine, 'b', ['t'], 0 + 1);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    const first = await Promise.race([a.next().then(() => a), b.next().then(() => b)]);
    const other = first === a ? b : a;
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      other.session.heartbeat([]);
    }
    const moved = await other.next();
    expect(moved).toMatchObject({ kind: 'run', workflowId, attempt: 2 });
  });

  it('respects a worker concurrency limit and queues the rest', async () => {
    const { engine } = await setup();
    const w = worker(engine, 'w', ['t'], 2);
    for (let i = 0; i < 5; i++) await engine.startWorkflow({ type: 't', input: '[]' });
    await new Promise((r) => setImmediate(r));
    expect(w.tasks).toHaveLength(2);
    const t = w.tasks.shift()!;
    if (t.kind !== 'run') throw new Error('expected run');
    await w.session.command(t.workflowId, t.leaseToken, { kind: 'workflow_completed', result: '1' });
    expect(w.tasks).toHaveLength(2);
  });

  it('answers awaitResult with the final state while the end of a workflow is being written', async () => {
    const store = createMemoryStore();
    let gate: (() => void) | undefined;
    const gated = {
      ...store,
      kind: store.kind,
      location: store.location,
      apply: async (batch: Parameters<typeof store.apply>[0]) => {
        if (batch.some((m) => m.type === 'workflow.put' && m.workflow.state === 'COMPLETED')) {
          await new Promise<void>((r) => (gate = r));
        }
        return store.apply(batch);
      },
      getWorkflow: (id: string) => store.getWorkflow(id),
    };
    const engine = createEngine({ store: gated, persistence: 'state-action-log', clock: new ManualClock() });
    await engine.start();
    const w = worker(engine, 'w', ['t']);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    const t = await w.next();
    if (t.kind !== 'run') throw new Error('expected run');
    const done = w.session.command(workflowId, t.leaseToken, { kind: 'workflow_completed', result: '7' });
    while (!gate) await new Promise((r) => setImmediate(r));
    const waiting = engine.awaitResult(workflowId);
    gate();
    await done;
    await expect(waiting).resolves.toMatchObject({ state: 'COMPLETED', result: '7' });
  });

  it('lists a dispatched workflow as RUNNING before its row is written again', async () => {
    const { engine } = await setup();
    const w = worker(engine, 'w', ['t']);
    const { workflowId } = await engine.startWorkflow({ type: 't', input: '[]' });
    await w.next();
    expect((await engine.getWorkflow(workflowId)).state).toBe('RUNNING');
    const page = await engine.listWorkflows({});
    expect(page.items.map((x) => [x.id, x.state])).toEqual([[workflowId, 'RUNNING']]);
  });
});

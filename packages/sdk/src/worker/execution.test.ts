/** One run over a fake link: live steps, replay, non-determinism, suspension, cancellation and lost leases. */
import { describe, expect, it } from 'vitest';
import { AetherError, TerminalError } from '@aether/core';
import type { WorkflowContext } from '../context/types.js';
import { Harness, completed, failed, waiting } from '../test-support/fake-link.js';
import { Workflow } from '../workflow-definition.js';

type Fn = (ctx: WorkflowContext, ...args: any[]) => Promise<unknown>;
const wf = (fn: Fn) => fn as never;

describe('a live run', () => {
  it('records each step with its JSON result and completes with the workflow result', async () => {
    const h = new Harness();
    h.start(
      wf(async (ctx, name: string) => {
        const greeting = await ctx.step('create-greeting', async () => `Hello, ${name}!`);
        await ctx.step('log-greeting', async () => {});
        return { message: greeting };
      }),
      { input: ['World'] },
    );
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '{"message":"Hello, World!"}' });
    expect(h.recorded).toMatchObject([
      {
        kind: 'step',
        stepId: '0',
        name: 'create-greeting',
        status: 'completed',
        result: '"Hello, World!"',
        attempts: 1,
      },
      { kind: 'step', stepId: '1', name: 'log-greeting', status: 'completed', result: '' },
    ]);
    expect(h.link.sent.every((s) => s.workflowId === 'wf-1' && s.leaseToken === 'lease-1')).toBe(true);
  });

  it('gives workflow code the JSON round trip of a step value, as a replay would', async () => {
    const h = new Harness();
    const date = new Date(0);
    let seen: unknown;
    h.start(
      wf(async (ctx) => {
        seen = await ctx.step('when', () => ({ date, nested: { a: [1, 2] }, gone: undefined }));
      }),
    );
    await h.outcome();
    expect(seen).toEqual({ date: date.toISOString(), nested: { a: [1, 2] } });
  });

  it('records a step body error as a failed entry and rethrows the original error', async () => {
    const h = new Harness();
    const boom = new RangeError('too far');
    let caught: unknown;
    h.start(
      wf(async (ctx) => {
        try {
          await ctx.step('fly', () => {
            throw boom;
          });
        } catch (e) {
          caught = e;
        }
        return 'recovered';
      }),
    );
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '"recovered"' });
    expect(caught).toBe(boom);
    expect(h.recorded[0]).toMatchObject({
      status: 'failed',
      error: { code: 'AETHER_E_STEP_FAILED', message: 'too far', name: 'RangeError' },
    });
  });

  it('fails a step whose result is not JSON-serializable with AETHER_E_WF_INPUT_NOT_SERIALIZABLE', async () => {
    const h = new Harness();
    let caught: unknown;
    h.start(
      wf(async (ctx) => {
        await ctx.step('map', () => new Map([[1, 2]])).catch((e: unknown) => (caught = e));
      }),
    );
    await h.outcome();
    expect(caught).toBeInstanceOf(TerminalError);
    expect((caught as AetherError).code).toBe('AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
    expect(h.recorded[0]).toMatchObject({ status: 'failed', error: { code: 'AETHER_E_WF_INPUT_NOT_SERIALIZABLE' } });
  });

  it('fails the workflow with AETHER_E_WF_FAILED, the message and the error name on an uncaught error', async () => {
    const h = new Harness();
    h.start(
      wf(async () => {
        throw new TypeError('no inventory');
      }),
    );
    expect(await h.outcome()).toEqual({
      kind: 'workflow_failed',
      error: { code: 'AETHER_E_WF_FAILED', message: 'no inventory', name: 'TypeError' },
    });
  });

  it('forbids ctx calls inside a step body', async () => {
    const h = new Harness();
    let caught: unknown;
    h.start(
      wf(async (ctx) => {
        await ctx.step('outer', () => ctx.step('inner', () => 1)).catch((e: unknown) => (caught = e));
      }),
    );
    await h.outcome();
    expect((caught as AetherError).code).toBe('AETHER_E_INVALID_ARGUMENT');
  });

  it('returns the recorded outcome when the engine already had an entry for the step id', async () => {
    const h = new Harness();
    h.link.responder = (c) =>
      c.kind === 'step'
        ? { cancelled: false, step: { ...completed('0', 'pick', 'first'), workflowId: 'wf-1' } }
        : undefined;
    let value: unknown;
    h.start(
      wf(async (ctx) => {
        value = await ctx.step('pick', () => 'second');
      }),
    );
    await h.outcome();
    expect(value).toBe('first');
  });
});

describe('replay', () => {
  it('returns recorded results without running recorded step bodies', async () => {
    const h = new Harness();
    const ran: string[] = [];
    h.start(
      wf(async (ctx) => {
        const a = await ctx.step('a', () => (ran.push('a'), 1));
        const b = await ctx.step('b', () => (ran.push('b'), 2));
        const c = await ctx.step('c', () => (ran.push('c'), a + b));
        return { a, b, c };
      }),
      { journal: [completed('0', 'a', 10), completed('1', 'b', 20)] },
    );
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '{"a":10,"b":20,"c":30}' });
    expect(ran).toEqual(['c']);
    expect(h.recorded.map((c) => ('stepId' in c ? c.stepId : ''))).toEqual(['2']);
  });

  it('rethrows a recorded step failure with the same name and message', async () => {
    const h = new Harness();
    let caught: Error | undefined;
    h.start(
      wf(async (ctx) => {
        try {
          await ctx.step('charge', () => 'never runs');
        } catch (e) {
          caught = e as Error;
        }
        return caught?.message;
      }),
      {
        journal: [
          failed('0', 'charge', { code: 'AETHER_E_STEP_FAILED', message: 'card declined', name: 'PaymentError' }),
        ],
      },
    );
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '"card declined"' });
    expect(caught).toBeInstanceOf(Error);
    expect(caught!.name).toBe('PaymentError');
    expect(h.recorded).toEqual([]);
  });

  it('rebuilds built-in error classes and Aether errors from the journal', async () => {
    const h = new Harness();
    const caught: unknown[] = [];
    h.start(
      wf(async (ctx) => {
        await ctx.step('a', () => 0).catch((e: unknown) => caught.push(e));
        await ctx.step('b', () => 0).catch((e: unknown) => caught.push(e));
      }),
      {
        journal: [
          failed('0', 'a', { code: 'AETHER_E_STEP_FAILED', message: 'bad', name: 'TypeError' }),
          failed('1', 'b', { code: 'AETHER_E_WF_INPUT_NOT_SERIALIZABLE', message: 'nope', name: 'TerminalError' }),
        ],
      },
    );
    await h.outcome();
    expect(caught[0]).toBeInstanceOf(TypeError);
    expect(caught[1]).toBeInstanceOf(TerminalError);
    expect((caught[1] as AetherError).code).toBe('AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
  });

  it('fails with AETHER_E_WF_NON_DETERMINISM naming the recorded and the met step', async () => {
    const h = new Harness();
    const ran: string[] = [];
    let caughtByCode = false;
    h.start(
      wf(async (ctx) => {
        try {
          await ctx.step('ship-order', () => ran.push('ship'));
        } catch {
          caughtByCode = true;
        }
      }),
      { journal: [completed('0', 'process-payment', 'ok')] },
    );
    const outcome = await h.outcome();
    expect(outcome).toMatchObject({
      kind: 'workflow_failed',
      error: {
        code: 'AETHER_E_WF_NON_DETERMINISM',
        name: 'NonDeterminismError',
        details: { position: '0', recorded: "step 'process-payment'", met: "step 'ship-order'" },
      },
    });
    expect(ran).toEqual([]);
    // Workflow code cannot swallow it.
    expect(caughtByCode).toBe(false);
  });

  it('detects a different kind at the same position', async () => {
    const h = new Harness();
    h.start(
      wf(async (ctx) => {
        await ctx.sleep({ seconds: 1 });
      }),
      { journal: [completed('0', 'sleep', undefined, 'step')] },
    );
    expect(await h.outcome()).toMatchObject({
      error: { code: 'AETHER_E_WF_NON_DETERMINISM', details: { recorded: "step 'sleep'", met: "sleep 'sleep'" } },
    });
  });
});

describe('suspension', () => {
  it('sends sleep then suspend, and holds no run while the timer waits', async () => {
    const h = new Harness();
    let after = false;
    h.start(
      wf(async (ctx) => {
        await ctx.step('before', () => 1);
        await ctx.sleep({ minutes: 1, seconds: 30 });
        after = true;
      }),
    );
    expect(await h.outcome()).toEqual({ kind: 'suspend' });
    expect(h.recorded[1]).toEqual({ kind: 'sleep', stepId: '1', name: 'sleep', durationMs: 90_000 });
    expect(after).toBe(false);
  });

  it('continues past a sleep the journal records as completed', async () => {
    const h = new Harness();
    h.start(
      wf(async (ctx) => {
        await ctx.sleep(5000);
        return ctx.step('after', () => 'awake');
      }),
      { journal: [completed('0', 'sleep', undefined, 'sleep')] },
    );
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '"awake"' });
  });

  it('suspends on a sleep still waiting in the journal without sending it again', async () => {
    const h = new Harness();
    h.start(
      wf(async (ctx) => {
        await ctx.sleep(5000);
      }),
      { journal: [waiting('0', 'sleep', 'sleep')] },
    );
    expect(await h.outcome()).toEqual({ kind: 'suspend' });
    expect(h.recorded).toEqual([]);
  });

  it('starts a child with its type and JSON arguments, suspends, and returns its result on replay', async () => {
    const child = new Workflow('child-type', async (_ctx: WorkflowContext, _a: number, _b: string) => 0, {
      start: () => Promise.reject(new Error('not used')),
      result: () => Promise.reject(new Error('not used')),
      startAndWait: () => Promise.reject(new Error('not used')),
    });
    const h = new Harness();
    h.start(wf(async (ctx) => ctx.child(child, [1, 'x'])));
    expect(await h.outcome()).toEqual({ kind: 'suspend' });
    expect(h.recorded).toEqual([
      { kind: 'child', stepId: '0', name: 'child-type', childType: 'child-type', childInput: '[1,"x"]' },
    ]);

    const again = new Harness();
    again.start(
      wf(async (ctx) => ctx.child(child, [1, 'x'])),
      { journal: [completed('0', 'child-type', { ok: 1 }, 'child')] },
    );
    expect(await again.outcome()).toEqual({ kind: 'workflow_completed', result: '{"ok":1}' });
  });

  it('turns startAndWait inside a workflow into a durable child', async () => {
    const backendCalls: string[] = [];
    const processOrder = new Workflow('process-order', async (_ctx: WorkflowContext, id: string) => id, {
      start: (type) => (backendCalls.push(type), Promise.resolve('x')),
      result: () => Promise.resolve('x'),
      startAndWait: () => Promise.resolve('x'),
    });
    const h = new Harness();
    h.start(
      wf(async (ctx, orders: string[]) => {
        const results = await ctx.parallel(orders.map((id) => () => processOrder.startAndWait(id)));
        return { processed: results.length, results };
      }),
      { input: [['a', 'b']] },
    );
    expect(await h.outcome()).toEqual({ kind: 'suspend' });
    expect(backendCalls).toEqual([]);
    expect(h.recorded).toEqual([
      { kind: 'child', stepId: '0.0/0', name: 'process-order', childType: 'process-order', childInput: '["a"]' },
      { kind: 'child', stepId: '0.1/0', name: 'process-order', childType: 'process-order', childInput: '["b"]' },
    ]);
    const replay = new Harness();
    replay.start(
      wf(async (ctx, orders: string[]) => {
        const results = await ctx.parallel(orders.map((id) => () => processOrder.startAndWait(id)));
        return { processed: results.length, results };
      }),
      {
        input: [['a', 'b']],
        journal: [completed('0.1/0', 'process-order', 'B', 'child'), completed('0.0/0', 'process-order', 'A', 'child')],
      },
    );
    expect(await replay.outcome()).toEqual({
      kind: 'workflow_completed',
      result: '{"processed":2,"results":["A","B"]}',
    });
  });

  it('waits for running steps of other branches before suspending', async () => {
    const h = new Harness();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.start(
      wf(async (ctx) => {
        await ctx.parallel([() => ctx.sleep(1000), () => ctx.step('slow', () => gate.then(() => 'done'))]);
      }),
    );
    await h.link.next((c) => c.kind === 'sleep');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(h.link.commands.some((c) => c.kind === 'suspend')).toBe(false);
    release();
    expect(await h.outcome()).toEqual({ kind: 'suspend' });
    expect(h.recorded.map((c) => c.kind)).toEqual(['sleep', 'step']);
  });

  it('does not suspend when the workflow moves on to its next step right after a wait is recorded elsewhere', async () => {
    const h = new Harness();
    h.start(
      wf(async (ctx) => {
        const p = ctx.sleep(1000);
        void p;
        const a = await ctx.step('a', () => 1);
        const b = await ctx.step('b', () => a + 1);
        return b;
      }),
    );
    // the workflow settles before the sleep would make it suspend
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '2' });
  });
});

describe('cancellation and lost leases', () => {
  it('aborts the signal of running steps and sends nothing more on a cancel', async () => {
    const h = new Harness();
    let stepSignal: AbortSignal | undefined;
    const run = h.start(
      wf(async (ctx) => {
        await ctx.step('long', ({ signal }) => {
          stepSignal = signal;
          return new Promise((resolve) => signal.addEventListener('abort', () => resolve('aborted')));
        });
        await ctx.step('after', () => 1);
      }),
    );
    await new Promise((r) => setImmediate(r));
    run.abort(new TerminalError('AETHER_E_WF_CANCELLED', 'cancelled'));
    await h.finishedRun;
    await new Promise((r) => setImmediate(r));
    expect(stepSignal?.aborted).toBe(true);
    expect((stepSignal?.reason as AetherError).code).toBe('AETHER_E_WF_CANCELLED');
    expect(h.link.commands).toEqual([]);
    expect(run.ctx.signal.aborted).toBe(true);
  });

  it('drops the run when a command answer says cancelled', async () => {
    const h = new Harness();
    h.link.responder = (c) => (c.kind === 'step' ? { cancelled: true } : undefined);
    let after = false;
    h.start(
      wf(async (ctx) => {
        await ctx.step('a', () => 1);
        after = true;
      }),
    );
    await h.finishedRun;
    await new Promise((r) => setImmediate(r));
    expect(after).toBe(false);
    expect(h.link.commands.map((c) => c.kind)).toEqual(['step']);
    expect(h.run.signal.aborted).toBe(true);
  });

  it('drops the run quietly when the engine answers AETHER_E_WF_LEASE_LOST', async () => {
    const h = new Harness();
    h.link.responder = (c) => (c.kind === 'step' ? new AetherError('AETHER_E_WF_LEASE_LOST', 'lease lost') : undefined);
    h.start(
      wf(async (ctx) => {
        await ctx.step('a', () => 1);
        return 'never';
      }),
    );
    await h.finishedRun;
    await new Promise((r) => setImmediate(r));
    expect(h.link.commands.map((c) => c.kind)).toEqual(['step']);
    expect(h.warnings).toEqual([]);
  });

  it('records a step as failed with AETHER_E_PAYLOAD_TOO_LARGE when its result exceeds the limit', async () => {
    const h = new Harness();
    h.link.maxPayloadBytes = 100;
    let caught: unknown;
    h.start(
      wf(async (ctx) => {
        await ctx.step('big', () => 'x'.repeat(200)).catch((e: unknown) => (caught = e));
      }),
    );
    await h.outcome();
    expect((caught as AetherError).code).toBe('AETHER_E_PAYLOAD_TOO_LARGE');
    expect(h.recorded[0]).toMatchObject({ status: 'failed', error: { code: 'AETHER_E_PAYLOAD_TOO_LARGE' } });
  });
});

describe('context', () => {
  it('exposes workflowId, attempt and signal', async () => {
    const h = new Harness();
    h.start(
      wf(async (ctx) => ({ id: ctx.workflowId, attempt: ctx.attempt, aborted: ctx.signal.aborted })),
      { attempt: 3 },
    );
    expect(await h.outcome()).toEqual({
      kind: 'workflow_completed',
      result: '{"id":"wf-1","attempt":3,"aborted":false}',
    });
  });

  it('starts a workflow from workflow code as a recorded step with an id derived from the position', async () => {
    const starts: [string, string, string][] = [];
    const other = new Workflow('other', async (_ctx: WorkflowContext, n: number) => n, {
      start: (type, input, id) => (starts.push([type, input, id]), Promise.resolve(id)),
      result: () => Promise.resolve(0),
      startAndWait: () => Promise.resolve(0),
    });
    const h = new Harness();
    h.start(wf(async (ctx) => [await ctx.step('x', () => 1), await other.start(7)]));
    expect(await h.outcome()).toEqual({ kind: 'workflow_completed', result: '[1,"wf-1/1"]' });
    expect(starts).toEqual([['other', '[7]', 'wf-1/1']]);
    expect(h.recorded[1]).toMatchObject({ kind: 'step', stepId: '1', name: 'start other', result: '"wf-1/1"' });
  });
});

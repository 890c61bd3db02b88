/** Step ids: top-level numbering and parallel branch prefixes, independent of completion order. */
import { describe, expect, it } from 'vitest';
import type { WorkflowContext } from './types.js';
import { Harness } from '../test-support/fake-link.js';
import { StepScope } from './step-ids.js';

/** Lets `n` rounds of microtasks pass: branches finish in an order set by the test, without timers. */
async function delay(n: number): Promise<void> {
  for (let i = 0; i < n * 10; i++) await Promise.resolve();
}

/** Step name -> step id, for a workflow whose branch bodies finish after the given delays. */
async function idsWith(delays: number[]): Promise<{ ids: Record<string, string>; order: string[] }> {
  const h = new Harness();
  h.start(async (ctx: WorkflowContext) => {
    await ctx.step('first', () => 0);
    await ctx.parallel(
      delays.map((ms, i) => async () => {
        await ctx.step(`b${i}-one`, () => delay(ms));
        await delay(ms);
        await ctx.step(`b${i}-two`, () => i);
        if (i === 1) {
          await ctx.parallel([() => ctx.step('nested-a', () => delay(ms)), () => ctx.step('nested-b', () => 1)]);
        }
      }),
    );
    await ctx.step('last', () => 0);
  });
  await h.outcome();
  const ids: Record<string, string> = {};
  const order: string[] = [];
  for (const c of h.recorded) {
    if (c.kind !== 'step') continue;
    ids[c.name] = c.stepId;
    order.push(c.name);
  }
  return { ids, order };
}

describe('step ids', () => {
  it('number top-level calls and prefix parallel branches with position.branch/', async () => {
    expect((await idsWith([1, 1, 1])).ids).toEqual({
      first: '0',
      'b0-one': '1.0/0',
      'b0-two': '1.0/1',
      'b1-one': '1.1/0',
      'b1-two': '1.1/1',
      'nested-a': '1.1/2.0/0',
      'nested-b': '1.1/2.1/0',
      'b2-one': '1.2/0',
      'b2-two': '1.2/1',
      last: '2',
    });
  });

  it('do not depend on the order in which branches complete', async () => {
    const forward = await idsWith([1, 15, 30]);
    const backward = await idsWith([30, 15, 1]);
    expect(backward.order).not.toEqual(forward.order);
    expect(backward.order.indexOf('b2-two')).toBeLessThan(backward.order.indexOf('b0-two'));
    expect(backward.ids).toEqual(forward.ids);
  });

  it('give each scope its own counter', () => {
    const root = new StepScope('');
    expect([root.next(), root.next()]).toEqual(['0', '1']);
    const branch = StepScope.branch('3', 1);
    expect([branch.next(), branch.next()]).toEqual(['3.1/0', '3.1/1']);
    expect(StepScope.branch('3.1/0', 2).next()).toBe('3.1/0.2/0');
  });
});

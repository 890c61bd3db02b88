/**
 * End to end in embedded mode: `aether()` without a server runs the real
 * engine in this process. Seed 003's examples run verbatim.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AetherError, aether, type AetherClient } from './index.js';

const clients: AetherClient[] = [];
function client(options: Parameters<typeof aether>[0] = {}): AetherClient {
  const c = aether({ logger: { warn: () => {} }, ...options });
  clients.push(c);
  return c;
}

afterEach(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  for (const c of clients.splice(0)) await c.close();
});

describe('seed 003 examples', () => {
  it('runs the hello-world quick start verbatim (AETHER_EMBEDDED overrides the serverUrl)', async () => {
    vi.stubEnv('AETHER_EMBEDDED', '1');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});

    const client = aether({ serverUrl: 'http://localhost:7233' });
    clients.push(client);
    expect(client.mode).toBe('embedded');

    // Define a workflow
    const helloWorld = client.workflow('hello-world', async (ctx, name: string) => {
      const greeting = await ctx.step('create-greeting', async () => {
        return `Hello, ${name}!`;
      });

      await ctx.step('log-greeting', async () => {
        console.log(greeting);
      });

      return { message: greeting };
    });

    await client.serve([helloWorld]);
    // Run it
    const result = await helloWorld.startAndWait('World');
    console.log(result.message); // "Hello, World!"

    expect(result).toEqual({ message: 'Hello, World!' });
    expect(log.mock.calls).toEqual([['Hello, World!'], ['Hello, World!']]);
  });

  it('runs the order-processing example verbatim', async () => {
    const client = aether({});
    clients.push(client);

    const orderProcessing = client.workflow('order-processing', async (ctx, orderId: string) => {
      // Step 1: Check inventory
      const inventory = await ctx.step('check-inventory', async () => {
        return { available: true, items: 10 };
      });

      if (!inventory.available) {
        throw new Error('Inventory not available');
      }

      // Step 2: Reserve inventory
      await ctx.step('reserve-inventory', async () => {
        return { reserved: true };
      });

      // Step 3: Process payment
      const payment = await ctx.step('process-payment', async () => {
        return { transactionId: `tx-${Date.now()}`, status: 'completed' };
      });

      // Step 4: Ship order
      const shipping = await ctx.step('ship-order', async () => {
        return { trackingNumber: `TRK-${Date.now()}`, status: 'shipped' };
      });

      return {
        orderId,
        payment: payment.transactionId,
        tracking: shipping.trackingNumber,
        status: 'completed',
      };
    });

    await client.serve([orderProcessing]);
    const result = await orderProcessing.startAndWait('order-123');

    expect(result).toMatchObject({ orderId: 'order-123', status: 'completed' });
    expect(result.payment).toMatch(/^tx-\d+$/);
    expect(result.tracking).toMatch(/^TRK-\d+$/);
  });

  it('runs the parallel batch example durably: each startAndWait becomes a child workflow', async () => {
    const client = aether();
    clients.push(client);
    const processOrder = client.workflow('process-order', async (ctx, orderId: string) => {
      return ctx.step('process', async () => ({ orderId, ok: true }));
    });

    const batchProcess = client.workflow('batch-process', async (ctx, orders: string[]) => {
      // Execute multiple tasks in parallel
      const results = await ctx.parallel(orders.map((orderId) => () => processOrder.startAndWait(orderId)));

      return {
        processed: results.length,
        results,
      };
    });

    await client.serve([processOrder, batchProcess]);
    const id = await batchProcess.start(['a', 'b', 'c']);
    const result = await client.getHandle<{ processed: number; results: unknown[] }>(id).result();
    expect(result).toEqual({
      processed: 3,
      results: [
        { orderId: 'a', ok: true },
        { orderId: 'b', ok: true },
        { orderId: 'c', ok: true },
      ],
    });
    const status = await client.getHandle(id).status({ steps: true });
    expect(status.state).toBe('COMPLETED');
    expect(status.steps?.map((s) => [s.stepId, s.kind, s.childWorkflowId])).toEqual([
      ['0.0/0', 'child', `${id}/0.0/0`],
      ['0.1/0', 'child', `${id}/0.1/0`],
      ['0.2/0', 'child', `${id}/0.2/0`],
    ]);
    const children = await client.listWorkflows({ type: 'process-order' });
    expect(children.map((c) => c.parentWorkflowId)).toEqual([id, id, id]);
  });
});

describe('embedded engine', () => {
  it('runs children with ctx.child and reports a failing child to the parent', async () => {
    const c = client();
    const double = c.workflow('double', async (ctx, n: number) => {
      if (n < 0) throw new RangeError('negative');
      return ctx.step('double', () => n * 2);
    });
    const parent = c.workflow('parent', async (ctx, n: number) => {
      const a = await ctx.child(double, [n]);
      try {
        await ctx.child(double, [-1]);
        return { a, b: 'no error' };
      } catch (e) {
        return { a, b: (e as Error).message };
      }
    });
    await c.serve([double, parent]);
    expect(await parent.startAndWait(21)).toEqual({ a: 42, b: 'negative' });
  });

  it('sleeps durably: the run is given back and resumed when the timer fires', async () => {
    const c = client();
    const sleeper = c.workflow('sleeper', async (ctx) => {
      const before = await ctx.step('before', () => Date.now());
      await ctx.sleep({ milliseconds: 30 });
      const after = await ctx.step('after', () => Date.now());
      return { before, after, attempt: ctx.attempt };
    });
    await c.serve([sleeper]);
    const id = await sleeper.start();
    const r = await c.getHandle<{ before: number; after: number; attempt: number }>(id).result();
    expect(r.after - r.before).toBeGreaterThanOrEqual(30);
    // a second hand-out after the timer
    expect(r.attempt).toBe(2);
    const status = await c.getHandle(id).status({ steps: true });
    expect(status.steps?.map((s) => [s.name, s.kind, s.status])).toEqual([
      ['before', 'step', 'completed'],
      ['sleep', 'sleep', 'completed'],
      ['after', 'step', 'completed'],
    ]);
  });

  it('cancels a running workflow: the step sees its signal abort and result() rejects with AETHER_E_WF_CANCELLED', async () => {
    const c = client();
    let sawAbort!: () => void;
    const aborted = new Promise<void>((r) => (sawAbort = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const slow = c.workflow('slow', async (ctx) => {
      await ctx.step('wait-for-abort', ({ signal }) => {
        started();
        return new Promise((resolve) =>
          signal.addEventListener('abort', () => {
            sawAbort();
            resolve('aborted');
          }),
        );
      });
      return 'finished';
    });
    await c.serve([slow]);
    const id = await slow.start();
    await running;
    const handle = c.getHandle(id);
    await handle.cancel('test says stop');
    await aborted;
    const error = (await handle.result().catch((e: unknown) => e)) as AetherError;
    expect(error).toBeInstanceOf(AetherError);
    expect(error.code).toBe('AETHER_E_WF_CANCELLED');
    expect((await handle.status()).state).toBe('CANCELLED');
  });

  it('rejects startAndWait of a failed workflow with AETHER_E_WF_FAILED and the original message', async () => {
    const c = client();
    const failing = c.workflow('failing', async (ctx) => {
      await ctx.step('ok', () => 1);
      throw new TypeError('Inventory not available');
    });
    await c.serve([failing]);
    const error = (await failing.startAndWait().catch((e: unknown) => e)) as AetherError;
    expect(error).toBeInstanceOf(AetherError);
    expect(error.code).toBe('AETHER_E_WF_FAILED');
    expect(error.message).toBe('Inventory not available');
    expect(error.details.errorName).toBe('TypeError');
  });

  it('starts idempotently per workflowId', async () => {
    const c = client();
    let runs = 0;
    const once = c.workflow('once', async (ctx, n: number) => ctx.step('count', () => ++runs + n));
    await c.serve([once]);
    const a = await once.start(1, { workflowId: 'only-once' });
    const b = await once.withOptions({ workflowId: 'only-once' }).start(1);
    expect([a, b]).toEqual(['only-once', 'only-once']);
    expect(await c.getHandle(a).result()).toBe(2);
    expect(await once.startAndWait(1, { workflowId: 'only-once' })).toBe(2);
    expect(runs).toBe(1);
  });

  it('retries an activity in the worker and records one entry with its attempts', async () => {
    const c = client();
    let calls = 0;
    const wf = c.workflow('with-activity', async (ctx) =>
      ctx.activity(
        'flaky',
        ({ attempt }) => {
          calls++;
          if (attempt < 3) throw new Error(`attempt ${attempt}`);
          return attempt;
        },
        { retry: { initialIntervalMs: 1 } },
      ),
    );
    await c.serve([wf]);
    const id = await wf.start();
    expect(await c.getHandle(id).result()).toBe(3);
    const { steps } = await c.getHandle(id).status({ steps: true });
    expect(steps).toMatchObject([{ name: 'flaky', kind: 'activity', status: 'completed', attempts: 3, result: 3 }]);
    expect(calls).toBe(3);
  });

  it('rejects unserializable arguments before starting anything', async () => {
    const c = client();
    const wf = c.workflow('args', async (_ctx, v: unknown) => v);
    await c.serve([wf]);
    await expect(wf.start(new Map())).rejects.toMatchObject({ code: 'AETHER_E_WF_INPUT_NOT_SERIALIZABLE' });
    expect(await c.listWorkflows({ type: 'args' })).toEqual([]);
  });

  it('reports unknown workflows and types with their codes', async () => {
    const c = client();
    const known = c.workflow('known', async () => 1);
    await c.serve([known]);
    await expect(c.getHandle('missing').status()).rejects.toMatchObject({ code: 'AETHER_E_WF_NOT_FOUND' });
    const unknown = c.workflow('never-served', async () => 1);
    await expect(unknown.start()).rejects.toMatchObject({ code: 'AETHER_E_WF_UNKNOWN_TYPE' });
  });

  it('keeps workflows in a SQLite file with the state-action-log tier across clients', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-sdk-'));
    try {
      const db = path.join(dir, 'a.db');
      const first = aether({ persistence: 'state-action-log', db });
      const wf = first.workflow('durable', async (ctx, n: number) => ctx.step('inc', () => n + 1));
      await first.serve([wf]);
      const id = await wf.start(41, { workflowId: 'durable-1' });
      expect(await first.getHandle(id).result()).toBe(42);
      await first.close();

      const second = aether({ persistence: 'state-action-log', db });
      clients.push(second);
      expect(await second.getHandle('durable-1').result()).toBe(42);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

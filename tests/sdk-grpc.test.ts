/**
 * The SDK in gRPC mode against a real `aether serve`: seed 003's quick start,
 * durable children and timers, cancellation and failures with their codes,
 * bearer tokens, and a server restart while workflows wait (the worker
 * reconnects and `result()` still resolves).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AetherError, aether, type AetherClient } from '@aetherframework.ai/sdk';
import { crashAndRestart, startAether, type AetherServer } from './support/processes.js';

let tmp: string;
let server: AetherServer;
let client: AetherClient;

const quiet = { warn: () => {} };

function defineAll(c: AetherClient) {
  const helloWorld = c.workflow('hello-world', async (ctx, name: string) => {
    const greeting = await ctx.step('create-greeting', async () => {
      return `Hello, ${name}!`;
    });
    await ctx.step('log-greeting', async () => {});
    return { message: greeting };
  });
  const processOrder = c.workflow('process-order', async (ctx, orderId: string) =>
    ctx.step('process', async () => ({ orderId, ok: true })),
  );
  const batchProcess = c.workflow('batch-process', async (ctx, orders: string[]) => {
    const results = await ctx.parallel(orders.map((orderId) => () => processOrder.startAndWait(orderId)));
    return { processed: results.length, results };
  });
  const sleeper = c.workflow('sleeper', async (ctx, ms: number) => {
    const before = await ctx.step('before', () => Date.now());
    await ctx.sleep({ milliseconds: ms });
    const after = await ctx.step('after', () => Date.now());
    return after - before;
  });
  const waitForCancel = c.workflow('wait-for-cancel', async (ctx) => {
    await ctx.step(
      'wait',
      ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve('aborted'))),
    );
    return 'not cancelled';
  });
  const failing = c.workflow('failing', async (ctx) => {
    await ctx.step('boom', () => {
      throw new TypeError('Inventory not available');
    });
  });
  return { helloWorld, processOrder, batchProcess, sleeper, waitForCancel, failing };
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'aether-sdk-grpc-'));
  server = await startAether({ persistence: 'state-action-log', db: path.join(tmp, 'a.db') });
  client = aether({ serverUrl: server.grpcUrl, workerId: 'sdk-e2e', logger: quiet });
  const wfs = defineAll(client);
  await client.serve(Object.values(wfs));
});

afterAll(async () => {
  await client?.close();
  await server?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

describe('SDK over gRPC', () => {
  it('runs the seed quick start and reports its journal through status()', async () => {
    const { helloWorld } = defineAll(client);
    const id = await helloWorld.start('World');
    expect(await client.getHandle(id).result()).toEqual({ message: 'Hello, World!' });
    const status = await client.getHandle(id).status({ steps: true });
    expect(status).toMatchObject({ workflowId: id, workflowType: 'hello-world', state: 'COMPLETED', input: ['World'] });
    expect(status.steps?.map((s) => [s.stepId, s.name, s.status, s.result])).toEqual([
      ['0', 'create-greeting', 'completed', 'Hello, World!'],
      ['1', 'log-greeting', 'completed', undefined],
    ]);
  });

  it('runs parallel startAndWait calls as durable children', async () => {
    const { batchProcess } = defineAll(client);
    const id = await batchProcess.start(['a', 'b']);
    expect(await client.getHandle(id).result()).toEqual({
      processed: 2,
      results: [
        { orderId: 'a', ok: true },
        { orderId: 'b', ok: true },
      ],
    });
    const children = await client.listWorkflows({ type: 'process-order' });
    expect(
      children
        .filter((c) => c.parentWorkflowId === id)
        .map((c) => c.workflowId)
        .sort(),
    ).toEqual([`${id}/0.0/0`, `${id}/0.1/0`]);
  });

  it('sleeps on a durable timer', async () => {
    const { sleeper } = defineAll(client);
    expect(await sleeper.startAndWait(100)).toBeGreaterThanOrEqual(100);
  });

  it('cancels: the running step sees its signal and result() rejects with AETHER_E_WF_CANCELLED', async () => {
    const { waitForCancel } = defineAll(client);
    const id = await waitForCancel.start();
    const handle = client.getHandle(id);
    for (let i = 0; i < 100 && (await handle.status()).state !== 'RUNNING'; i++)
      await new Promise((r) => setTimeout(r, 20));
    await handle.cancel();
    const error = (await handle.result().catch((e: unknown) => e)) as AetherError;
    expect(error).toBeInstanceOf(AetherError);
    expect(error.code).toBe('AETHER_E_WF_CANCELLED');
  });

  it('rejects a failed workflow with its stored code and message', async () => {
    const { failing } = defineAll(client);
    const error = (await failing.startAndWait().catch((e: unknown) => e)) as AetherError;
    expect(error.code).toBe('AETHER_E_WF_FAILED');
    expect(error.message).toBe('Inventory not available');
  });

  it('maps server errors to AetherErrors with their catalogue codes', async () => {
    await expect(client.getHandle('no-such-workflow').status()).rejects.toMatchObject({
      code: 'AETHER_E_WF_NOT_FOUND',
    });
    const unknown = client.workflow('never-registered', async () => 1);
    await expect(unknown.start()).rejects.toMatchObject({ code: 'AETHER_E_WF_UNKNOWN_TYPE' });
  });

  it('is idempotent per workflowId', async () => {
    const { helloWorld } = defineAll(client);
    const a = await helloWorld.start('X', { workflowId: 'hello-once' });
    const b = await helloWorld.withOptions({ workflowId: 'hello-once' }).start('Y');
    expect([a, b]).toEqual(['hello-once', 'hello-once']);
    expect(await client.getHandle(a).result()).toEqual({ message: 'Hello, X!' });
  });

  it('fails fast with AETHER_E_UNAVAILABLE when nothing listens', async () => {
    const nobody = aether({ serverUrl: 'http://127.0.0.1:9', unavailableRetryMs: 200, logger: quiet });
    try {
      const error = (await nobody
        .getHandle('x')
        .status()
        .catch((e: unknown) => e)) as AetherError;
      expect(error.code).toBe('AETHER_E_UNAVAILABLE');
    } finally {
      await nobody.close();
    }
  });

  it('survives a server restart: the worker re-registers and awaited results still resolve', async () => {
    const { sleeper } = defineAll(client);
    const id = await sleeper.start(1500);
    const result = client.getHandle<number>(id).result();
    await new Promise((r) => setTimeout(r, 300));
    server = await crashAndRestart(server);
    expect(await result).toBeGreaterThanOrEqual(1500);
    // and new work runs on the reconnected worker
    const { helloWorld } = defineAll(client);
    expect(await helloWorld.startAndWait('again')).toEqual({ message: 'Hello, again!' });
  });
});

describe('bearer tokens', () => {
  it('sends the token on every call and maps a missing one to AETHER_E_UNAUTHENTICATED', async () => {
    const secured = await startAether({ persistence: 'memory', args: ['--token', 's3cret'] });
    const good = aether({ serverUrl: secured.grpcUrl, token: 's3cret', logger: quiet });
    const bad = aether({ serverUrl: secured.grpcUrl, logger: quiet });
    try {
      const wf = good.workflow('secured', async (ctx, n: number) => ctx.step('inc', () => n + 1));
      await good.serve([wf]);
      expect(await wf.startAndWait(1)).toBe(2);
      const error = (await bad
        .getHandle('x')
        .status()
        .catch((e: unknown) => e)) as AetherError;
      expect(error.code).toBe('AETHER_E_UNAUTHENTICATED');
    } finally {
      await good.close();
      await bad.close();
      await secured.kill('SIGKILL');
    }
  });
});

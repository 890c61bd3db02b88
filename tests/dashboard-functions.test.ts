/**
 * The dashboard's Functions, Edge nodes and Metrics pages in real headless
 * Chromium against a node started in-process: empty states on a fresh node;
 * a WASM function's invocations, latency and runtime after a few /execute
 * calls; a registered edge node shown up with its heartbeat; uPlot charts
 * that draw rates as functions are invoked and workflows start.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { RunningServer } from '@aether/server';
import type { WorkerSession, WorkerTask } from '@aether/engine';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openPage, screenshot, useChromium, useNodes } from './support/chromium.js';
import { ROOT } from './support/processes.js';

const chrome = useChromium();
const startNode = useNodes();

let running: RunningServer;
async function node(): Promise<string> {
  const started = await startNode();
  running = started.node;
  return started.base;
}

/** A worker connected straight to the engine that runs `greet`: one step, then the result. */
function connectGreetWorker(n: RunningServer): WorkerSession {
  const session: WorkerSession = n.engine.connectWorker({
    workerId: 'test-worker',
    workflowTypes: ['greet'],
    onTask: (task: WorkerTask) => {
      if (task.kind !== 'run' || task.workflowType !== 'greet') return;
      void (async () => {
        const startedAt = Date.now() - 20;
        await session.command(task.workflowId, task.leaseToken, {
          kind: 'step',
          stepId: '0',
          name: 'create-greeting',
          status: 'completed',
          result: JSON.stringify('Hello!'),
          attempts: 1,
          startedAt,
        });
        await session.command(task.workflowId, task.leaseToken, {
          kind: 'workflow_completed',
          result: JSON.stringify({ message: 'Hello!' }),
        });
      })();
    },
  });
  return session;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** examples/wasm/hello, built by `npm run build` (scripts/build-wasm.sh). */
function helloWasm(): Buffer {
  const file = path.join(ROOT, 'examples/wasm/build/hello.wasm');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\``);
  return readFileSync(file);
}

async function deployHello(base: string): Promise<void> {
  const deployed = await post(`${base}/api/functions`, {
    name: 'hello_world',
    wasm_b64: helloWasm().toString('base64'),
  });
  expect(deployed.status).toBe(201);
}

async function invoke(base: string): Promise<void> {
  const run = await post(`${base}/execute`, { function: 'hello_world', input: { msg: 'hi' } });
  expect(run.status).toBe(200);
}

/** Polls `check` until it is true or `ms` pass. */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function noSidewaysOverflow(page: Page, width: number): Promise<void> {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
}

describe('dashboard: functions, edge nodes and metrics', () => {
  it('shows empty states on a fresh node', async () => {
    const base = await node();
    const { page, errors } = await openPage(chrome());
    await page.goto(`${base}/#/functions`);
    await page.getByText('No functions deployed.').waitFor();
    await page.goto(`${base}/#/nodes`);
    await page.getByText('No edge nodes registered.').waitFor();
    await page.goto(`${base}/#/metrics`);
    await page.getByText('No functions deployed: their invocation rates will appear here.').waitFor();
    await page.locator('[data-chart="Workflow throughput"] canvas').waitFor();
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('lists a WASM function with its invocations and latency, and an edge node up with its heartbeat', async () => {
    const base = await node();
    await deployHello(base);
    for (let i = 0; i < 3; i++) await invoke(base);
    // Registered after the calls: /execute would otherwise be sent to this node, which does not exist.
    const registered = await post(`${base}/register`, { node_id: 'edge-01', url: 'http://127.0.0.1:9' });
    expect(registered.status).toBe(200);
    const reported = await post(`${base}/callback`, {
      event: 'cache_stats',
      data: { node_id: 'edge-01', cache: { size: 1, capacity: 64, hits: 2, misses: 1 } },
    });
    expect(reported.status).toBe(200);

    const { page, errors } = await openPage(chrome());
    await page.goto(`${base}/#/functions`);
    const row = page.locator('tr[data-function="hello_world"]');
    await row.waitFor();
    expect(await row.locator('.badge').textContent()).toBe('wasm');
    expect(await row.locator('[data-col="requests"]').textContent()).toBe('3');
    expect(await row.locator('[data-col="errors"]').textContent()).toBe('0');
    expect(await row.locator('[data-col="p50"]').textContent()).toMatch(/^\d+(\.\d+)? ms$/);
    expect(await row.locator('[data-col="p99"]').textContent()).toMatch(/^\d+(\.\d+)? ms$/);
    // Req/s needs two samples 2 s apart.
    await until('a request rate', async () =>
      /^\d+\.\d$/.test((await row.locator('[data-col="rps"]').textContent()) ?? ''),
    );
    await screenshot(page, 'functions');

    await page.getByRole('link', { name: 'Edge nodes' }).click();
    const edge = page.locator('tr[data-node="edge-01"]');
    await edge.waitFor();
    expect(await edge.locator('.badge').textContent()).toBe('up');
    expect(await edge.locator('[data-col="heartbeat"]').textContent()).toMatch(/^\d+ s ago$/);
    expect(await edge.textContent()).toContain('http://127.0.0.1:9');
    expect(await edge.textContent()).toContain('1 of 64 modules (2 hits, 1 misses)');
    await screenshot(page, 'nodes');
    expect(errors).toEqual([]);
    await page.context().close();

    const phone = await openPage(chrome(), { width: 390, height: 844 });
    await phone.page.goto(`${base}/#/functions`);
    await phone.page.locator('tr[data-function="hello_world"]').waitFor();
    await noSidewaysOverflow(phone.page, 390);
    expect(phone.errors).toEqual([]);
    await phone.page.context().close();
  });

  it('draws workflow throughput and function invocation rates as they happen, at both sizes', async () => {
    const base = await node();
    await deployHello(base);
    connectGreetWorker(running);
    const { page, errors } = await openPage(chrome());
    await page.goto(`${base}/#/metrics`);
    for (const chart of ['Workflow throughput', 'Step latency', 'Function invocations'])
      await page.locator(`[data-chart="${chart}"] canvas`).first().waitFor();

    const max = async (chart: string): Promise<number> =>
      Number(await page.locator(`[data-chart="${chart}"]`).getAttribute('data-max'));
    let n = 0;
    await until(
      'non-zero rates and latencies on the charts',
      async () => {
        // Activity between the page's samples: a call and a workflow start per poll.
        await invoke(base);
        const started = await post(`${base}/api/workflows`, {
          type: 'greet',
          input: ['World'],
          workflow_id: `wf-${n++}`,
        });
        expect(started.status).toBe(201);
        return (
          (await max('Function invocations')) > 0 &&
          (await max('Workflow throughput')) > 0 &&
          (await max('Step latency')) > 0
        );
      },
      30_000,
    );
    // A few more samples make a line, not a dot, in the screenshot.
    await until(
      'five samples',
      async () => Number(await page.locator('[data-chart="Workflow throughput"]').getAttribute('data-samples')) >= 5,
    );
    // The legend names the function's series.
    expect(await page.locator('[data-chart="Function invocations"] .u-legend').textContent()).toContain('hello_world');
    const width = await page
      .locator('[data-chart="Workflow throughput"] canvas')
      .first()
      .evaluate((c) => c.clientWidth);
    expect(width).toBeGreaterThan(300);
    await screenshot(page, 'metrics');
    expect(errors).toEqual([]);
    await page.context().close();

    const phone = await openPage(chrome(), { width: 390, height: 844 });
    await phone.page.goto(`${base}/#/metrics`);
    await phone.page.locator('[data-chart="Function invocations"] canvas').first().waitFor();
    const phoneWidth = await phone.page
      .locator('[data-chart="Workflow throughput"] canvas')
      .first()
      .evaluate((c) => c.clientWidth);
    expect(phoneWidth).toBeLessThanOrEqual(390);
    await noSidewaysOverflow(phone.page, 390);
    expect(phone.errors).toEqual([]);
    await phone.page.context().close();
  });
});

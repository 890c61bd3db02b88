/**
 * The dashboard's Workflows and Workflow detail pages in real headless
 * Chromium against an in-process node, with workflows started through the
 * SDK over gRPC: the empty state, rows appearing and changing state live, the
 * step timeline (retries, sleeps, children), Cancel with its confirmation,
 * filters and search, both viewport sizes, and no script errors.
 */
import { aether, type AetherClient } from '@aetherframework.ai/sdk';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { openPage, screenshot, useChromium, useNodes } from './support/chromium.js';

const chrome = useChromium();
const startNode = useNodes();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const quiet = { warn: () => {} };

/** A promise the test resolves by hand: holds a step open until the test says so. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** An in-memory node and an SDK client serving this file's workflows. */
async function setup() {
  const { node } = await startNode();
  const client: AetherClient = aether({
    serverUrl: `127.0.0.1:${node.grpcPort}`,
    workerId: 'dashboard-workflows',
    logger: quiet,
  });
  cleanups.push(() => client.close());

  const held = gate();
  const failuresLeft = new Map<string, number>();
  const greet = client.workflow('greet', async (ctx, name: string) => {
    return ctx.step('say-hello', () => `Hello, ${name}!`);
  });
  const gated = client.workflow('gated', async (ctx) => {
    await ctx.step('wait-for-gate', () => held.promise);
    return 'opened';
  });
  const order = client.workflow('order', async (ctx, orderId: string) => {
    await ctx.step('validate', () => ({ orderId, valid: true }));
    const charge = await ctx.activity(
      'charge',
      () => {
        const left = failuresLeft.get(ctx.workflowId) ?? 2;
        failuresLeft.set(ctx.workflowId, left - 1);
        if (left > 0) throw new Error(`card declined (${left} failures left)`);
        return { charged: 42 };
      },
      { retry: { maxAttempts: 5, initialIntervalMs: 10 } },
    );
    await ctx.sleep({ milliseconds: 50 });
    const greeting = await ctx.child(greet, [orderId]);
    await ctx.step('finish', () => ({ charge, greeting }));
    return { orderId, greeting };
  });
  const longSleep = client.workflow('long-sleep', async (ctx) => {
    await ctx.step('prepare', () => 'ready');
    await ctx.sleep({ minutes: 10 });
    return 'woke up';
  });
  await client.serve([greet, gated, order, longSleep]);
  const base = `http://127.0.0.1:${node.httpPort}`;
  return { base, client, greet, gated, order, longSleep, openGate: held.open };
}

async function open(base: string, hash: string, size?: { width: number; height: number }) {
  const { page, errors } = await openPage(chrome(), size);
  cleanups.push(() => page.context().close());
  await page.goto(`${base}/${hash}`);
  return { page, errors };
}

function row(page: Page, id: string) {
  return page.locator(`tr[data-workflow-id="${id}"]`);
}

async function waitForState(page: Page, id: string, state: string): Promise<void> {
  await row(page, id)
    .locator('.badge', { hasText: new RegExp(`^${state}$`) })
    .waitFor();
}

async function noSideScroll(page: Page, width: number): Promise<void> {
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
}

async function apiState(base: string, id: string): Promise<string> {
  const res = await fetch(`${base}/api/workflows/${encodeURIComponent(id)}`);
  return ((await res.json()) as { state: string }).state;
}

describe('dashboard: workflows', () => {
  it('shows the empty state on a fresh node, then workflows started through the SDK appear and complete without a reload', async () => {
    const { base, client, greet, gated, openGate } = await setup();
    const { page, errors } = await open(base, '#/workflows');
    await page.getByText('No workflows yet.').waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    // A marker that a reload would wipe out.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));

    const held = await gated.start();
    await waitForState(page, held, 'RUNNING');
    const ids = [await greet.start('Ada'), await greet.start('Grace'), await greet.start('Linus')];
    for (const id of ids) await waitForState(page, id, 'COMPLETED');
    expect(await row(page, held).locator('.badge').textContent()).toBe('RUNNING');

    openGate();
    await client.getHandle(held).result();
    await waitForState(page, held, 'COMPLETED');

    // Newest first, as the API lists them; the id links to the detail page.
    const shown = await page
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-workflow-id')));
    expect(shown).toEqual([...ids].reverse().concat(held));
    expect(await row(page, ids[0]!).getByRole('link').getAttribute('href')).toBe(
      `#/workflows/${encodeURIComponent(ids[0]!)}`,
    );
    expect(await row(page, ids[0]!).locator('td').nth(1).textContent()).toBe('greet');
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    await noSideScroll(page, 1280);
    await screenshot(page, 'workflows');

    const small = await open(base, '#/workflows', { width: 390, height: 844 });
    await waitForState(small.page, held, 'COMPLETED');
    await noSideScroll(small.page, 390);
    // The table scrolls inside its wrapper rather than the page.
    expect(await small.page.locator('.table-wrap').evaluate((el) => el.clientWidth)).toBeLessThanOrEqual(390);
    await screenshot(small.page, 'workflows-390x844');

    expect(errors).toEqual([]);
    expect(small.errors).toEqual([]);
  });

  it('shows a workflow’s step timeline in order: a retried activity, a sleep with its wake time, a linked child', async () => {
    const { base, client, order } = await setup();
    const id = await order.start('order-7');
    expect(await client.getHandle(id).result()).toEqual({ orderId: 'order-7', greeting: 'Hello, order-7!' });
    const detail = (await (await fetch(`${base}/api/workflows/${encodeURIComponent(id)}`)).json()) as {
      steps: { name: string; kind: string; wake_at: string | null; child_id: string | null }[];
    };
    const sleep = detail.steps.find((s) => s.kind === 'sleep');
    const child = detail.steps.find((s) => s.kind === 'child');
    expect(sleep?.wake_at).toEqual(expect.any(String));
    expect(child?.child_id).toEqual(expect.any(String));

    const { page, errors } = await open(base, `#/workflows/${encodeURIComponent(id)}`);
    await page.getByRole('heading', { level: 1, name: id }).waitFor();
    const steps = page.getByRole('list', { name: 'Steps' }).locator(':scope > li');
    await expect.poll(() => steps.count()).toBe(5);
    const names = await steps.locator('.step-name').allTextContents();
    expect(names).toEqual(['validate', 'charge', sleep!.name, child!.name, 'finish']);
    expect(await steps.locator('.badge.kind').allTextContents()).toEqual([
      'step',
      'activity',
      'sleep',
      'child',
      'step',
    ]);
    expect(await steps.locator('.step-head .badge:not(.kind)').allTextContents()).toEqual(Array(5).fill('completed'));
    // The activity failed twice before it succeeded.
    expect(await steps.nth(1).locator('.retried').textContent()).toBe('3 (2 retries)');
    expect(await steps.nth(0).locator('.retried').count()).toBe(0);
    // The sleep shows when it woke.
    expect(await steps.nth(2).locator('.wake time').getAttribute('datetime')).toBe(sleep!.wake_at);
    // Input and output as JSON.
    expect(JSON.parse((await page.getByLabel('Input', { exact: true }).textContent())!)).toEqual(['order-7']);
    expect(JSON.parse((await page.getByLabel('Output', { exact: true }).textContent())!)).toEqual({
      orderId: 'order-7',
      greeting: 'Hello, order-7!',
    });
    expect(await page.getByTestId('workflow-state').textContent()).toBe('COMPLETED');
    // No Cancel button on a finished workflow.
    expect(await page.getByRole('button', { name: 'Cancel workflow' }).count()).toBe(0);
    await noSideScroll(page, 1280);
    await screenshot(page, 'workflow-detail');

    // The child links to its own page, which links back to the parent.
    await steps.nth(3).getByRole('link', { name: child!.child_id! }).click();
    await page.getByRole('heading', { level: 1, name: child!.child_id! }).waitFor();
    expect(await page.getByTestId('workflow-state').textContent()).toBe('COMPLETED');
    expect(await page.getByRole('link', { name: id, exact: true }).getAttribute('href')).toBe(
      `#/workflows/${encodeURIComponent(id)}`,
    );

    const small = await open(base, `#/workflows/${encodeURIComponent(id)}`, { width: 390, height: 844 });
    await small.page.getByRole('list', { name: 'Steps' }).waitFor();
    await noSideScroll(small.page, 390);
    expect(errors).toEqual([]);
    expect(small.errors).toEqual([]);
  });

  it('cancels a sleeping workflow after a confirmation, and its page shows CANCELLED from the event stream', async () => {
    const { base, client, longSleep } = await setup();
    const id = await longSleep.start();
    const { page, errors } = await open(base, `#/workflows/${encodeURIComponent(id)}`);
    // The sleep appears (live, or from the first read) with its wake time 10 minutes on.
    const sleepStep = page
      .getByRole('list', { name: 'Steps' })
      .locator('li', { has: page.locator('.badge.kind', { hasText: 'sleep' }) });
    await sleepStep.locator('.wake time').waitFor();
    const wake = Date.parse((await sleepStep.locator('.wake time').getAttribute('datetime'))!);
    expect(wake - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(await sleepStep.locator('.step-head .badge:not(.kind)').textContent()).toBe('waiting');
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();

    // "No" keeps it running.
    await page.getByRole('button', { name: 'Cancel workflow' }).click();
    await page.getByRole('group', { name: 'Confirm cancellation' }).getByText(`Cancel workflow ${id}?`).waitFor();
    await page.getByRole('button', { name: 'No', exact: true }).click();
    await page.getByRole('button', { name: 'Cancel workflow' }).waitFor();
    expect(await apiState(base, id)).toBe('RUNNING');

    // "Yes" cancels it; keyboard only.
    await page.getByRole('button', { name: 'Cancel workflow' }).focus();
    await page.keyboard.press('Enter');
    const yes = page.getByRole('button', { name: 'Yes, cancel it' });
    await yes.waitFor();
    expect(await yes.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByTestId('workflow-state').getByText('CANCELLED', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Cancel workflow' }).waitFor({ state: 'detached' });
    expect(await apiState(base, id)).toBe('CANCELLED');
    await expect(client.getHandle(id).result()).rejects.toMatchObject({ code: 'AETHER_E_WF_CANCELLED' });
    expect(errors).toEqual([]);
  });

  it('another tab sees a cancellation through the event stream alone', async () => {
    const { base, longSleep } = await setup();
    const id = await longSleep.start();
    const { page, errors } = await open(base, `#/workflows/${encodeURIComponent(id)}`);
    await page.getByRole('button', { name: 'Cancel workflow' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    const res = await fetch(`${base}/api/workflows/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    await page.getByTestId('workflow-state').getByText('CANCELLED', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Cancel workflow' }).waitFor({ state: 'detached' });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    expect(errors).toEqual([]);
  });

  it('filters by type and state (live updates respect them) and searches by exact id', async () => {
    const { base, client, greet, order } = await setup();
    const greetings = [await greet.start('a'), await greet.start('b')];
    const orderId = await order.start('order-1');
    await client.getHandle(orderId).result();
    for (const id of greetings) await client.getHandle(id).result();

    const { page, errors } = await open(base, '#/workflows');
    await waitForState(page, orderId, 'COMPLETED');
    const ids = () =>
      page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-workflow-id')));
    // order-1's child is a greet too.
    await expect.poll(async () => (await ids()).length).toBe(4);

    // Type filter: only "order" rows.
    await page.getByLabel('Type').fill('order');
    await page.getByLabel('Type').press('Enter');
    await expect.poll(ids).toEqual([orderId]);

    // Live updates keep to the filter: a new greet stays out, a new order comes in.
    const hiddenGreet = await greet.start('hidden');
    const liveOrder = await order.start('order-2');
    await waitForState(page, liveOrder, 'COMPLETED');
    await client.getHandle(hiddenGreet).result();
    expect(await row(page, hiddenGreet).count()).toBe(0);
    expect(await ids()).toEqual([liveOrder, orderId]);

    // State filter: nothing failed.
    await page.getByLabel('State').selectOption('FAILED');
    await page.getByText('No workflows match these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(async () => (await ids()).length).toBe(7);

    // Search: an unknown id says so; a known one opens its page.
    await page.getByLabel('Workflow id').fill('no-such-workflow');
    await page.getByRole('button', { name: 'Go to workflow' }).click();
    await page.getByRole('alert').getByText('No workflow with id').waitFor();
    await page.getByLabel('Workflow id').fill(orderId);
    await page.getByLabel('Workflow id').press('Enter');
    await page.getByRole('heading', { level: 1, name: orderId }).waitFor();
    expect(page.url()).toBe(`${base}/#/workflows/${encodeURIComponent(orderId)}`);

    // A detail URL of an unknown id says the workflow is not found.
    await page.goto(`${base}/#/workflows/no-such-workflow`);
    await page.getByRole('heading', { level: 1, name: 'Workflow not found' }).waitFor();

    // Only the two expected 404 answers reached the console.
    expect(errors.filter((e) => !e.includes('404'))).toEqual([]);
  });
});

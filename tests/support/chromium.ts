/**
 * Real headless Chromium for the dashboard's tests: Debian's /usr/bin/chromium
 * (installed by scripts/setup-system.sh) driven by playwright-core, with the
 * flags these machines need (notes/PLATFORM.md). Screenshots go to
 * test-artifacts/dashboard/ (kept by CI as artifacts, copied into docs/ for the README).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { defaultServerConfig, type ResolvedServerConfig } from '@aether/core';
import { startServer, type RunningServer } from '@aether/server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ROOT } from './processes.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'dashboard');

/** Launches Chromium headless; close it with `browser.close()`. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** A page of `size` (desktop 1280x800 unless told) with console errors collected in `errors`. */
export async function openPage(
  browser: Browser,
  size: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: size });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  return { page, errors };
}

/** Saves a full-page screenshot as test-artifacts/dashboard/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** One Chromium for the calling test file (launched before its tests, closed after them). */
export function useChromium(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => browser!;
}

/**
 * Starts in-process nodes for the calling test file: the memory tier on free
 * ports, changed by `adjust`; each is closed after its test (after the file's
 * own afterEach hooks registered later, e.g. SDK clients).
 */
export function useNodes(): (
  adjust?: (config: ResolvedServerConfig) => void,
) => Promise<{ node: RunningServer; base: string }> {
  const nodes: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });
  return async (adjust) => {
    const config = defaultServerConfig();
    config.server.grpcPort = 0;
    config.server.httpPort = 0;
    config.persistence.mode = 'memory';
    adjust?.(config);
    const node = await startServer(config);
    nodes.push(node);
    return { node, base: `http://127.0.0.1:${node.httpPort}` };
  };
}

/**
 * The dashboard in real headless Chromium (Debian's, driven by playwright-core):
 * served by the node at /, its frame, keyboard navigation between pages,
 * both viewport sizes, and no script errors. Page-specific checks live
 * beside this file (dashboard-*.test.ts).
 */
import { expect, describe, it } from 'vitest';
import { openPage, screenshot, useChromium, useNodes } from './support/chromium.js';

const chrome = useChromium();
const startNode = useNodes();

async function node(): Promise<string> {
  return (await startNode()).base;
}

describe('dashboard', () => {
  it('asks for the [auth] token when the node has one, then sends it with every call', async () => {
    const { base } = await startNode((c) => (c.auth.token = 's3cret'));
    const { page } = await openPage(chrome());
    const sent: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) sent.push(r.headers().authorization);
    });
    await page.goto(`${base}/`);
    // The page and its assets load without a token; the API refuses, so the page asks.
    const token = page.getByLabel('Token');
    await token.waitFor();
    await token.fill('wrong');
    await token.press('Enter');
    await page.getByText('The stored token was refused.').waitFor();
    await page.getByLabel('Token').fill('s3cret');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('No workflows yet').waitFor();
    expect(sent).toContain('Bearer s3cret');
    expect(sent.filter((h) => h !== undefined && h !== 'Bearer s3cret' && h !== 'Bearer wrong')).toEqual([]);
    await page.context().close();
  });

  it('is served at / and moves between its pages by keyboard, at 1280x800 and 390x844', async () => {
    const base = await node();
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const { page, errors } = await openPage(chrome(), size);
      await page.goto(`${base}/`);
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Workflows');
      // Tab to the "Functions" link and follow it with Enter.
      const link = page.getByRole('link', { name: 'Functions' });
      for (let i = 0; i < 10 && !(await link.evaluate((el) => el === document.activeElement)); i++) {
        await page.keyboard.press('Tab');
      }
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Functions' }).waitFor();
      expect(page.url()).toBe(`${base}/#/functions`);
      expect(await link.getAttribute('aria-current')).toBe('page');
      // Nothing overflows the viewport sideways.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.width);
      if (size.width === 390) await screenshot(page, 'frame-390x844');
      expect(errors).toEqual([]);
      await page.context().close();
    }
  });
});

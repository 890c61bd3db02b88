/**
 * The web dashboard (packages/dashboard, built by `npm run build` into its
 * dist/) served at `/` on the HTTP port: `GET /` is its page, `GET
 * /assets/<file>` its content-hashed scripts and styles (cached for good).
 * Routes inside the dashboard are hash routes, so no other path is needed.
 * Both are open without a token (they hold no data); the page asks for the
 * token when the API answers 401.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aetherError } from '@aether/core';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the built dashboard is, from this file in src/http or dist/http. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};
const ASSET = /^[A-Za-z0-9_.-]+$/;

/** The paths the dashboard needs without a token. */
export function isDashboardPath(urlPath: string): boolean {
  return urlPath === '/' || urlPath === '/index.html' || urlPath.startsWith('/assets/');
}

/** Registers `GET /` and `GET /assets/*` from `dir`. */
export function registerDashboardRoutes(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const notBuilt = () =>
    aetherError(
      'AETHER_E_UNAVAILABLE',
      `the dashboard is not built (${path.join(dir, 'index.html')} is missing): run npm run build`,
    );
  const index = async (_request: unknown, reply: FastifyReply) => {
    const file = path.join(dir, 'index.html');
    if (!existsSync(file)) throw notBuilt();
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(await readFile(file));
  };
  app.get('/', index);
  app.get('/index.html', index);
  app.get('/assets/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    const type = TYPES[path.extname(file)];
    const full = path.join(dir, 'assets', file);
    if (!ASSET.test(file) || type === undefined || !existsSync(full)) {
      throw aetherError('AETHER_E_NOT_FOUND', `no dashboard asset ${JSON.stringify(file)}`);
    }
    return reply
      .type(type)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .send(await readFile(full));
  });
}

/**
 * Tests of the node-function runner with real processes: `node runner.mjs
 * <fixture>` with a Unix socket that must receive exactly `READY` and a free
 * port; the handler shapes, streaming both ways, handler failures, start-up
 * failures (exit 1 before READY), SIGTERM draining and the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../process/free-port.js';

const RUNNER = fileURLToPath(new URL('./runner.mjs', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const FN = 'fn-test';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Runner {
  child: ChildProcess;
  port: number;
  /** Every byte received on AETHER_SOCKET. */
  received(): Buffer;
  /** Resolves once exactly `READY` arrived; rejects on other bytes or an exit before it. */
  ready: Promise<void>;
  /** Resolves once the process exited and its output is closed. */
  exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
  /** Resolves once `text` appears on stdout. */
  untilStdout(text: string): Promise<void>;
}

const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aether-runner-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startRunner(codeDir: string, options: { env?: Record<string, string>; port?: number } = {}) {
  const sockDir = tempDir();
  const socketPath = join(sockDir, 'ready.sock');
  let bytes = Buffer.alloc(0);
  let onBytes: () => void = () => undefined;
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      onBytes();
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [RUNNER, codeDir], {
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: '',
      AETHER_SOCKET: socketPath,
      AETHER_TRIGGER_PORT: String(port),
      AETHER_FUNCTION_ID: FN,
      AETHER_INSTANCE_ID: `${FN}.i1`,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of watchers) if (stdout.includes(w.text)) w.resolve();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise<void>((resolve, reject) => {
    onBytes = () => {
      const want = Buffer.from('READY');
      if (bytes.equals(want)) resolve();
      else if (bytes.length >= want.length || !want.subarray(0, bytes.length).equals(bytes)) {
        reject(new Error(`expected READY, got ${JSON.stringify(bytes.toString('latin1'))}`));
      }
    };
    void exited.then((e) => reject(new Error(`runner exited (${e.code ?? e.signal}) before READY:\n${stderr}`)));
  });
  ready.catch(() => undefined); // tests that expect no READY never await it
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    server.close();
  });
  const runner: Runner = {
    child,
    port,
    received: () => bytes,
    ready,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    untilStdout: (text) =>
      new Promise<void>((resolve) => {
        if (stdout.includes(text)) resolve();
        else watchers.push({ text, resolve });
      }),
  };
  return runner;
}

async function startReady(codeDir: string, options: { env?: Record<string, string> } = {}): Promise<Runner> {
  const r = await startRunner(codeDir, options);
  await r.ready;
  return r;
}

interface Reply {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function collect(res: IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
    res.on('end', () =>
      resolve({
        status: res.statusCode ?? 0,
        statusMessage: res.statusMessage ?? '',
        headers: res.headers,
        body: Buffer.concat(chunks),
      }),
    );
  });
}

function send(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => void collect(res).then(resolve, reject),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (reply: Reply): any => JSON.parse(reply.body.toString());

describe('handler shapes', () => {
  it.each([
    ['node-cjs', 'module.exports'],
    ['node-esm-default', 'export default function'],
    ['cjs-exports-handler', 'exports.handler'],
    ['node-esm-named', 'export const handler'],
    ['fetch-cjs', 'module.exports = { fetch }'],
  ])('%s (%s) answers', async (name, shape) => {
    const r = await startReady(fixture(name));
    const reply = await send(r.port, '/shape?x=1');
    expect(reply.status).toBe(200);
    expect(json(reply).shape).toBe(shape);
    expect(r.received().toString()).toBe('READY');
  });

  it('node-style CJS: method, path and query; the env_vars are visible', async () => {
    const r = await startReady(fixture('node-cjs'), { env: { GREETING: 'hello from env' } });
    const reply = await send(r.port, '/users/42?sort=name&limit=5', { method: 'DELETE' });
    expect(reply.status).toBe(200);
    expect(json(reply)).toEqual({
      shape: 'module.exports',
      method: 'DELETE',
      path: '/users/42',
      query: { sort: 'name', limit: '5' },
      greeting: 'hello from env',
      functionId: FN,
    });
  });

  it('a CJS handler.js without a package.json of its own (as in a zip) loads as CommonJS', async () => {
    const dir = tempDir(); // under the OS temp dir, no package.json above it
    writeFileSync(
      join(dir, 'handler.js'),
      `module.exports = (req, res) => res.end(require('node:path').sep + req.url);`,
    );
    const r = await startReady(dir);
    expect((await send(r.port, '/p')).body.toString()).toBe('//p');
  });
});

describe('web-standard fetch handler (ESM, export default { fetch })', () => {
  it('echoes method, URL, headers and a 1 MB body, streamed both ways', async () => {
    const r = await startReady(fixture('fetch-esm'));
    const chunks = Array.from({ length: 16 }, () => randomBytes(64 * 1024));
    const sent = Buffer.concat(chunks);
    const req = request({
      host: '127.0.0.1',
      port: r.port,
      method: 'POST',
      path: '/echo/here?a=1&b=two',
      headers: { 'content-type': 'application/octet-stream', 'x-custom': 'yes' },
      agent: false,
    });
    req.on('error', () => undefined);
    const response = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
    req.write(chunks[0]);
    // The first bytes come back before the rest of the body is sent: no buffering on either side.
    const res = await response;
    const received: Buffer[] = [];
    await new Promise<void>((resolve) =>
      res.on('data', (c: Buffer) => {
        received.push(c);
        resolve();
      }),
    );
    for (const c of chunks.slice(1)) req.write(c);
    req.end();
    await new Promise<void>((resolve, reject) => {
      res.on('end', resolve);
      res.on('error', reject);
    });
    const body = Buffer.concat(received);
    expect(body.length).toBe(sent.length);
    expect(body.equals(sent)).toBe(true);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-echo-method']).toBe('POST');
    expect(res.headers['x-echo-url']).toBe(`http://127.0.0.1:${r.port}/echo/here?a=1&b=two`);
    const headers = JSON.parse(String(res.headers['x-echo-headers']));
    expect(headers).toMatchObject({
      host: `127.0.0.1:${r.port}`,
      'content-type': 'application/octet-stream',
      'x-custom': 'yes',
      'transfer-encoding': 'chunked',
    });
  });

  it('keeps status, statusText and multiple set-cookie headers', async () => {
    const r = await startReady(fixture('fetch-esm'));
    const reply = await send(r.port, '/cookies');
    expect(reply.status).toBe(201);
    expect(reply.statusMessage).toBe('Made Cookies');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(reply.body.toString()).toBe('cookies');
  });

  it('a return value that is not a Response -> 500 saying so', async () => {
    const r = await startReady(fixture('fetch-esm'));
    const reply = await send(r.port, '/not-a-response');
    expect(reply.status).toBe(500);
    expect(json(reply).error.code).toBe('AETHER_E_FN_HANDLER_ERROR');
    expect(json(reply).error.message).toMatch(/returned an object with keys \[status\], not a Response/);
  });

  it('a rejected fetch -> 500 with the message', async () => {
    const r = await startReady(fixture('fetch-esm'));
    const reply = await send(r.port, '/reject', { method: 'POST', body: 'x' });
    expect(reply.status).toBe(500);
    expect(json(reply)).toEqual({ error: { code: 'AETHER_E_FN_HANDLER_ERROR', message: 'fetch boom' } });
    expect(r.stderr()).toContain(`[${FN}] handler error: Error: fetch boom`);
    expect((await send(r.port, '/cookies')).status).toBe(201);
  });

  it('a request body the handler leaves unread does not stall the kept-alive connection', async () => {
    const r = await startReady(fixture('fetch-esm'));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const first = await send(r.port, '/ignore-body', { method: 'POST', body: randomBytes(4 << 20), agent });
    expect(first.body.toString()).toBe('ignored');
    expect((await send(r.port, '/cookies', { agent })).status).toBe(201);
  }, 10_000);

  it('fetch gets env (process.env) as its second argument', async () => {
    const r = await startReady(fixture('fetch-esm'), { env: { GREETING: 'hi' } });
    expect(json(await send(r.port, '/env'))).toEqual({ greeting: 'hi', sameEnv: true });
  });

  it('a Host that would change the URL path -> 400', async () => {
    const r = await startReady(fixture('fetch-esm'));
    const reply = await send(r.port, '/a', { headers: { host: 'evil.example/x?' } });
    expect(reply.status).toBe(400);
    expect(json(reply).error.code).toBe('AETHER_E_INVALID_ARGUMENT');
  });
});

describe('handler failures keep the instance running', () => {
  it('a sync throw -> 500 with the code, the stack on stderr, and the next request is answered', async () => {
    const r = await startReady(fixture('node-esm-named'));
    const reply = await send(r.port, '/throw');
    expect(reply.status).toBe(500);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json(reply)).toEqual({ error: { code: 'AETHER_E_FN_HANDLER_ERROR', message: 'sync boom' } });
    expect(r.stderr()).toMatch(new RegExp(`\\[${FN}\\] handler error: Error: sync boom\\n\\s+at handler`));
    const next = await send(r.port, '/next');
    expect(next.status).toBe(200);
    expect(json(next).path).toBe('/next');
  });

  it('an async rejection -> 500', async () => {
    const r = await startReady(fixture('node-esm-named'));
    const reply = await send(r.port, '/reject');
    expect(reply.status).toBe(500);
    expect(json(reply)).toEqual({ error: { code: 'AETHER_E_FN_HANDLER_ERROR', message: 'async boom' } });
    expect((await send(r.port, '/')).status).toBe(200);
  });

  it('a failure after the headers were sent cuts the response', async () => {
    const r = await startReady(fixture('node-esm-named'));
    await expect(send(r.port, '/throw-after-headers')).rejects.toThrow();
    expect(r.stderr()).toContain('late boom');
    expect((await send(r.port, '/')).status).toBe(200);
  });

  it('a node-style handler returning a Response -> 500 naming the fetch shape', async () => {
    const r = await startReady(fixture('node-esm-named'));
    const reply = await send(r.port, '/returns-response');
    expect(reply.status).toBe(500);
    expect(json(reply).error.message).toMatch(/node-style.*export default \{ fetch \}/);
  });

  it('an unhandled rejection outside the request is logged, the instance keeps running', async () => {
    const r = await startReady(fixture('node-esm-named'));
    expect((await send(r.port, '/stray-rejection')).body.toString()).toBe('ok');
    expect((await send(r.port, '/')).status).toBe(200);
    expect(r.stderr()).toContain('unhandled rejection (the instance keeps running): Error: stray');
  });

  it('process.exit() in a handler exits', async () => {
    const r = await startReady(fixture('node-esm-named'));
    await expect(send(r.port, '/exit')).rejects.toThrow();
    expect((await r.exited).code).toBe(3);
  });
});

describe('start-up failures exit 1 before READY', () => {
  async function expectFailedStart(r: Runner): Promise<string> {
    const exit = await r.exited;
    expect(exit.code).toBe(1);
    expect(r.received().length).toBe(0);
    return r.stderr();
  }

  it('a module that throws at import', async () => {
    const stderr = await expectFailedStart(await startRunner(fixture('throws-at-import')));
    expect(stderr).toContain(`[${FN}] cannot load`);
    expect(stderr).toContain('Error: DATABASE_URL is not set');
  });

  it('a module without an accepted export, with the accepted shapes', async () => {
    const stderr = await expectFailedStart(await startRunner(fixture('no-handler')));
    expect(stderr).toContain('exports no handler: its default export is an object with keys [greeting]');
    expect(stderr).toContain('module.exports = (req, res) => {...}');
    expect(stderr).toContain('export const handler = (req, res) => {...}');
    expect(stderr).toContain('export default { fetch(request) {...} }');
  });

  it('a syntax error', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'handler.js'), 'module.exports = (req, res) => {\n  res.end("x";\n};\n');
    const stderr = await expectFailedStart(await startRunner(dir));
    expect(stderr).toContain(`[${FN}] cannot load ${join(dir, 'handler.js')}`);
    expect(stderr).toContain(`${join(dir, 'handler.js')}:2\n  res.end("x";`);
    expect(stderr).toContain('SyntaxError: missing ) after argument list');
  });

  it('a syntax error in a module handler.js imports names that file and line', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    writeFileSync(
      join(dir, 'handler.js'),
      'import { x } from "./lib.js";\nexport default { fetch: () => new Response(x) };\n',
    );
    writeFileSync(join(dir, 'lib.js'), 'export const x = ;\n');
    const stderr = await expectFailedStart(await startRunner(dir));
    expect(stderr).toContain(`lib.js:1\nexport const x = ;`);
    expect(stderr).toContain('SyntaxError');
  });

  it('a module that installs its own uncaughtException handler and then throws', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'handler.js'),
      `process.on('uncaughtException', () => {}); setInterval(() => {}, 1000); throw new Error('init failed');`,
    );
    const stderr = await expectFailedStart(await startRunner(dir));
    expect(stderr).toContain(`[${FN}] Error: init failed`);
  });

  it('no handler.js', async () => {
    const dir = tempDir();
    const stderr = await expectFailedStart(await startRunner(dir));
    expect(stderr).toContain(join(dir, 'handler.js'));
  });

  it('CJS code under a "type": "module" package.json it does not own says where its module type came from', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'package.json'), '{ "type": "module" }');
    mkdirSync(join(root, 'code'));
    writeFileSync(join(root, 'code', 'handler.js'), 'module.exports = (req, res) => res.end("x");');
    const stderr = await expectFailedStart(await startRunner(join(root, 'code')));
    expect(stderr).toContain('is not defined in ES module scope');
    expect(stderr).toContain(`the code has no package.json, so Node loads handler.js as "type": "module" from ${root}`);
  });

  it('the port in use', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => taken.close());
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const stderr = await expectFailedStart(await startRunner(fixture('node-cjs'), { port }));
    expect(stderr).toContain('EADDRINUSE');
  });
});

describe('SIGTERM', () => {
  it('lets the in-flight request finish, then exits 0', async () => {
    const r = await startReady(fixture('node-cjs'));
    const slow = send(r.port, '/slow?ms=300');
    await r.untilStdout('slow request started');
    r.child.kill('SIGTERM');
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toBe('slow done');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  it('waits for ctx.waitUntil promises of a fetch handler', async () => {
    const r = await startReady(fixture('fetch-esm'));
    expect((await send(r.port, '/wait-until')).status).toBe(202);
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stdout()).toContain('waitUntil done');
  });

  it('exits 0 at once when idle', async () => {
    const r = await startReady(fixture('fetch-esm'));
    expect((await send(r.port, '/cookies')).status).toBe(201);
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });
});

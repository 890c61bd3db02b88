/**
 * The gateway relay between real sockets: a client (undici or raw bytes),
 * the relay installed on a node:http "API" server, and a node:http upstream
 * standing for an instance; the pool is a small fake that counts slots.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { aetherError } from '@aether/core';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProcessInstance } from '../process/instance.js';
import { createHttpRelay, installHttpRelay, type HttpRelay, type RelaySlot } from './http-relay.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Harness {
  port: number;
  relay: HttpRelay;
  /** Connections the upstream accepted. */
  upstreamConnections(): number;
  /** Slots held now. */
  held(): number;
  statuses: number[];
  apiRequests: string[];
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

async function harness(
  handler: Handler,
  options: {
    sync?: boolean;
    timeoutMs?: number;
    acquireError?: Error;
    onUpgrade?: (req: IncomingMessage, socket: Socket) => void;
  } = {},
): Promise<Harness> {
  const upstream = createServer(handler);
  let upstreamConnections = 0;
  upstream.on('connection', () => upstreamConnections++);
  if (options.onUpgrade) upstream.on('upgrade', (req, socket) => options.onUpgrade!(req, socket as Socket));
  const upPort = await listen(upstream);

  const apiRequests: string[] = [];
  const api = createServer((req, res) => {
    apiRequests.push(`${req.method} ${req.url}`);
    res.end(`api ${req.method} ${req.url}`);
  });
  const instance = { id: 'i-1', exit: null, whenExited: async () => {} } as unknown as ProcessInstance;
  const idle: Socket[] = [];
  let held = 0;
  const slot = (): RelaySlot => {
    held++;
    let released = false;
    return {
      instance,
      connect: () => {
        const s = idle.pop() ?? connect({ port: upPort, host: '127.0.0.1' });
        s.on('error', () => {});
        return s;
      },
      keep: (s) => void idle.push(s),
      release: () => {
        if (!released) held--;
        released = true;
      },
    };
  };
  const statuses: number[] = [];
  const relay = createHttpRelay({
    route: (head) =>
      head.target.startsWith('/functions/f/')
        ? { functionId: 'f', path: head.target.slice('/functions/f'.length) }
        : null,
    tryAcquire: () => (options.sync === false || options.acquireError ? null : slot()),
    acquire: async () => {
      if (options.acquireError) throw options.acquireError;
      await new Promise((r) => setTimeout(r, 5));
      return slot();
    },
    timeoutMs: () => options.timeoutMs ?? 10_000,
    onRequest: (_fn, status) => statuses.push(status),
  });
  installHttpRelay(api, relay);
  const port = await listen(api);
  closers.push(async () => {
    relay.destroy();
    for (const s of idle) s.destroy();
  });
  return {
    port,
    relay,
    upstreamConnections: () => upstreamConnections,
    held: () => held,
    statuses,
    apiRequests,
  };
}

/** An undici agent with one connection, so requests share it. */
function oneConnection(): Agent {
  const agent = new Agent({ connections: 1, pipelining: 1 });
  closers.push(() => agent.close());
  return agent;
}

/** Sends raw bytes on a new connection and collects what comes back until `done(text)` or the close. */
async function raw(
  port: number,
  chunks: (string | Buffer)[],
  done: (text: string) => boolean = () => false,
): Promise<{ text: string; closed: boolean }> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  let text = '';
  let closed = false;
  const finished = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) resolve();
    });
    socket.on('close', () => {
      closed = true;
      resolve();
    });
  });
  for (const c of chunks) {
    socket.write(c);
    await new Promise((r) => setImmediate(r));
  }
  await finished;
  socket.destroy();
  return { text, closed };
}

const count = (text: string, what: string) => text.split(what).length - 1;
const echo: Handler = (req, res) => {
  const hash = createHash('sha256');
  let size = 0;
  req.on('data', (d: Buffer) => {
    hash.update(d);
    size += d.length;
  });
  req.on('end', () => {
    const body = JSON.stringify({
      method: req.method,
      url: req.url,
      host: req.headers.host,
      size,
      sha: hash.digest('hex'),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

describe('http relay', () => {
  it.each([
    ['a free slot', true],
    ['a slot after a wait', false],
  ])('relays a request with %s: sub-path, query, Host, x-aether-instance', async (_what, sync) => {
    const h = await harness(echo, { sync });
    const res = await request(`http://127.0.0.1:${h.port}/functions/f/a/b?x=1&y=%20`, {
      headers: { host: 'example.test' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-aether-instance']).toBe('i-1');
    expect(await res.body.json()).toMatchObject({
      method: 'GET',
      url: '/a/b?x=1&y=%20',
      host: 'example.test',
      size: 0,
    });
    expect(h.statuses).toEqual([200]);
    expect(h.apiRequests).toEqual([]);
    expect(h.held()).toBe(0);
  });

  it('keeps the client connection and its upstream connection across requests', async () => {
    const h = await harness(echo);
    const dispatcher = oneConnection();
    for (let i = 0; i < 5; i++) {
      const res = await request(`http://127.0.0.1:${h.port}/functions/f/${i}`, { dispatcher });
      expect(((await res.body.json()) as { url: string }).url).toBe(`/${i}`);
    }
    expect(h.upstreamConnections()).toBe(1);
    expect(h.relay.connections).toBe(1);
  });

  it('answers pipelined requests in order, bodies included', async () => {
    const h = await harness(echo);
    const { text } = await raw(
      h.port,
      [
        'GET /functions/f/1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /functions/f/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /functions/f/3 HTTP/1.1\r\nHost: a\r\n\r\n',
      ],
      (t) => count(t, '"url"') === 3,
    );
    const urls = [...text.matchAll(/"url":"([^"]+)","host":"a","size":(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(urls).toEqual(['/1:0', '/2:5', '/3:0']);
  });

  it('streams large bodies both ways intact: Content-Length and chunked requests, chunked responses', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const sha = createHash('sha256').update(big).digest('hex');
    const h = await harness((req, res) => {
      if (req.url === '/download') {
        res.writeHead(200);
        let i = 0;
        const step = 64 * 1024;
        const more = (): void => {
          while (i < big.length) {
            const ok = res.write(big.subarray(i, i + step));
            i += step;
            if (!ok) return void res.once('drain', more);
          }
          res.end();
        };
        more();
        return;
      }
      echo(req, res);
    });
    const dispatcher = oneConnection();
    const put = await request(`http://127.0.0.1:${h.port}/functions/f/up`, { method: 'PUT', body: big, dispatcher });
    expect(await put.body.json()).toMatchObject({ size: big.length, sha });
    async function* pieces() {
      for (let i = 0; i < big.length; i += 100_000) yield big.subarray(i, i + 100_000);
    }
    const chunked = await request(`http://127.0.0.1:${h.port}/functions/f/up`, {
      method: 'POST',
      body: Readable.from(pieces()),
      dispatcher,
    });
    expect(await chunked.body.json()).toMatchObject({ size: big.length, sha });
    const down = await request(`http://127.0.0.1:${h.port}/functions/f/download`, { dispatcher });
    expect(down.headers['transfer-encoding']).toBe('chunked');
    expect(
      createHash('sha256')
        .update(Buffer.from(await down.body.arrayBuffer()))
        .digest('hex'),
    ).toBe(sha);
    expect(h.upstreamConnections()).toBe(1);
  });

  it('relays a body that piles up while the request waits for a slot', async () => {
    const big = randomBytes(2 * 1024 * 1024);
    const h = await harness(echo, { sync: false });
    const res = await request(`http://127.0.0.1:${h.port}/functions/f/up`, { method: 'PUT', body: big });
    expect(await res.body.json()).toMatchObject({
      size: big.length,
      sha: createHash('sha256').update(big).digest('hex'),
    });
  });

  it('knows HEAD, 204 and 304 have no body, and keeps going on the same connection', async () => {
    const h = await harness((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end();
      else res.writeHead(200, { 'content-length': 10 }).end(req.method === 'HEAD' ? undefined : '0123456789');
    });
    const { text } = await raw(
      h.port,
      [
        'HEAD /functions/f/h HTTP/1.1\r\nHost: a\r\n\r\n',
        'GET /functions/f/204 HTTP/1.1\r\nHost: a\r\n\r\n',
        'GET /functions/f/304 HTTP/1.1\r\nHost: a\r\n\r\n',
        'GET /functions/f/last HTTP/1.1\r\nHost: a\r\n\r\n',
      ],
      (t) => t.includes('0123456789'),
    );
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 204', 'HTTP/1.1 304', 'HTTP/1.1 200']);
  });

  it('relays a response framed by the close, then closes the client connection', async () => {
    const h = await harness((_req, res) => {
      res.socket!.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close');
    });
    const { text, closed } = await raw(h.port, ['GET /functions/f/ HTTP/1.1\r\nHost: a\r\n\r\n']);
    expect(closed).toBe(true);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*x-aether-instance: i-1\r\n\r\nuntil the close$/);
    expect(h.held()).toBe(0);
  });

  it('passes 100 Continue through before the body', async () => {
    const h = await harness(echo);
    const socket = connect({ port: h.port, host: '127.0.0.1' });
    closers.push(async () => void socket.destroy());
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.write('POST /functions/f/c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    await waitUntil(() => text.includes('100 Continue'));
    expect(text).not.toContain('200 OK');
    socket.write('body');
    await waitUntil(() => text.includes('"size":4'));
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
  });

  it('hands other paths, unknown heads and later requests to node:http with the bytes already read', async () => {
    const h = await harness(echo);
    // Relayed first, then an API request on the same connection.
    const mixed = await raw(
      h.port,
      ['GET /functions/f/x HTTP/1.1\r\nHost: a\r\n\r\nGET /api/thing HTTP/1.1\r\nHost: a\r\n\r\n'],
      (t) => t.includes('api GET /api/thing'),
    );
    expect(mixed.text).toContain('"url":"/x"');
    // An API request first: the connection stays with node:http, which has no /functions route here.
    const api = await raw(
      h.port,
      ['GET /health HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /functions/f/y HTTP/1.1\r\nHost: a\r\n\r\n'],
      (t) => t.includes('api GET /functions/f/y'),
    );
    expect(api.text).toContain('api GET /health');
    // Ambiguous framing is node:http's to refuse.
    const bad = await raw(h.port, [
      'POST /functions/f/z HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    ]);
    expect(bad.text).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    // A head larger than 16 KiB too (431).
    const huge = await raw(h.port, [`GET /functions/f/ HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
    expect(huge.text).toMatch(/^HTTP\/1\.1 431/);
    expect(h.apiRequests).toEqual(['GET /api/thing', 'GET /health', 'GET /functions/f/y']);
  });

  it('answers 502 when the instance drops the connection without answering', async () => {
    const h = await harness((req) => req.socket.destroy());
    const res = await request(`http://127.0.0.1:${h.port}/functions/f/`);
    expect(res.statusCode).toBe(502);
    expect(res.headers['x-aether-error']).toBe('AETHER_E_FN_INSTANCE_CRASHED');
    expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('AETHER_E_FN_INSTANCE_CRASHED');
    expect(h.statuses).toEqual([502]);
    expect(h.held()).toBe(0);
  });

  it('answers 504 past timeout_ms', async () => {
    const h = await harness(() => {}, { timeoutMs: 300 });
    const res = await request(`http://127.0.0.1:${h.port}/functions/f/`);
    expect(res.statusCode).toBe(504);
    expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('AETHER_E_FN_TIMEOUT');
    expect(h.held()).toBe(0);
  });

  it("answers the pool's refusal with its status and Retry-After", async () => {
    const h = await harness(echo, {
      acquireError: aetherError('AETHER_E_FN_OVERLOADED', 'f: 100 requests already wait', { retryAfterMs: 1000 }),
    });
    const res = await request(`http://127.0.0.1:${h.port}/functions/f/`);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('AETHER_E_FN_OVERLOADED');
    expect(h.statuses).toEqual([503]);
  });

  it('turns an upgrade into a tunnel', async () => {
    const h = await harness(echo, {
      onUpgrade: (_req, socket) => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
        socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
        socket.on('end', () => socket.end());
      },
    });
    const socket = connect({ port: h.port, host: '127.0.0.1' });
    closers.push(async () => void socket.destroy());
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.write('GET /functions/f/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    await waitUntil(() => text.includes('\r\n\r\n'));
    expect(text).toMatch(/^HTTP\/1\.1 101 Switching Protocols/);
    socket.write('ping');
    await waitUntil(() => text.includes('echo:ping'));
    expect(h.statuses).toEqual([101]);
    expect(h.held()).toBe(1);
    socket.destroy();
    await waitUntil(() => h.held() === 0);
  });

  it('gives the slot back when the client goes away mid-request', async () => {
    let arrived = 0;
    const h = await harness(() => void arrived++);
    const socket = connect({ port: h.port, host: '127.0.0.1' });
    socket.write('POST /functions/f/ HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial');
    await waitUntil(() => arrived === 1);
    expect(h.held()).toBe(1);
    socket.destroy();
    await waitUntil(() => h.held() === 0 && h.relay.connections === 0);
  });

  it('ends idle connections on shutdown and the busy one after its answer', async () => {
    let answer: (() => void) | undefined;
    const h = await harness((req, res) => {
      if (req.url === '/slow') answer = () => res.end('late');
      else res.end('ok');
    });
    const idle = await raw(h.port, ['GET /functions/f/ HTTP/1.1\r\nHost: a\r\n\r\n'], (t) => t.endsWith('ok'));
    expect(idle.closed).toBe(false);
    const idleSocket = connect({ port: h.port, host: '127.0.0.1' });
    await once(idleSocket, 'connect');
    const busy = raw(h.port, ['GET /functions/f/slow HTTP/1.1\r\nHost: a\r\n\r\n']);
    await waitUntil(() => answer !== undefined && h.relay.connections === 2);
    h.relay.shutdown();
    await once(idleSocket, 'close');
    answer!();
    const late = await busy;
    expect(late.text).toMatch(/late$/);
    expect(late.closed).toBe(true);
  });
});

async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

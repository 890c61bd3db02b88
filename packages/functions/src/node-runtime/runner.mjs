/**
 * The main of every node-function instance: `node runner.mjs <codeDir>`.
 * Plain JavaScript on purpose (no build step, only node: builtins), run as is
 * by `node`, often under bubblewrap with <codeDir> read-only: it writes
 * nothing to disk.
 *
 * It loads `<codeDir>/handler.js` the way Node would for that package
 * (package.json "type" decides CJS or ESM; a CJS module's `module.exports`
 * arrives as the namespace's `default`), serves HTTP on
 * 127.0.0.1:$AETHER_TRIGGER_PORT (and on the Unix socket $AETHER_HTTP_SOCKET
 * when set: the gateway relay's way in, removed from process.env) and, once
 * listening, speaks seed 000's
 * protocol: connect to the Unix socket $AETHER_SOCKET and send exactly the 5
 * bytes `READY` (the connection stays open, unref'd). AETHER_FUNCTION_ID
 * prefixes its log lines; the function's env_vars are in process.env as set.
 *
 * Accepted handler shapes, first match wins:
 *
 *   Node-style, called as handler(req, res) with node:http's IncomingMessage
 *   and ServerResponse (Express/Connect apps fit, being such functions):
 *     module.exports = (req, res) => { res.end('hi') };            // CJS
 *     export default function (req, res) { res.end('hi') }         // ESM
 *     exports.handler = (req, res) => { res.end('hi') };           // CJS
 *     export const handler = async (req, res) => { res.end('hi') }; // ESM
 *
 *   Web-standard, as in Cloudflare Workers, Bun and Deno (Hono apps fit):
 *     export default { fetch(request) { return new Response('hi') } };       // ESM
 *     module.exports = { async fetch(request) { return Response.json({}) } }; // CJS
 *     export function fetch(request) { ... }                                 // ESM named
 *   fetch is called as obj.fetch(request, env, ctx), Workers-style: `request`
 *   is a Request (full URL http://<Host><path>, headers, a streamed body,
 *   and a signal aborted when the client goes away), `env` is process.env,
 *   `ctx.waitUntil(promise)` keeps the instance alive for the promise on
 *   SIGTERM. It returns a Response or a Promise of one; the body is streamed
 *   back, multiple set-cookie headers are kept.
 *
 *   A TypeScript/Babel-compiled CJS module (`exports.default = ...`) is
 *   looked into once more with the same rules.
 *
 * Failures:
 *   - handler.js missing, a syntax error, throwing at import, no accepted
 *     shape: the error goes to stderr and the process exits 1 BEFORE READY,
 *     so the orchestrator reports a failed start with the stderr tail.
 *   - the handler throws or rejects, or fetch returns something that is not
 *     a Response: 500 {"error":{"code":"AETHER_E_FN_HANDLER_ERROR","message"}}
 *     if the headers are not sent yet, else the response is cut (destroyed);
 *     the stack goes to stderr; the instance keeps serving.
 *   - uncaught exceptions and unhandled rejections outside a request are
 *     logged and the instance keeps running; an error of the HTTP server
 *     itself (port in use) exits 1. process.exit() in a handler exits.
 *
 * SIGTERM (and SIGINT): stop accepting, let in-flight requests (and
 * waitUntil promises) finish for up to 5 s, then exit 0.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, STATUS_CODES } from 'node:http';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';

const TAG = `[${process.env.AETHER_FUNCTION_ID || 'function'}]`;
const DRAIN_MS = 5_000;
const HANDLER_ERROR = 'AETHER_E_FN_HANDLER_ERROR';
const SHAPES = [
  'accepted shapes:',
  '  module.exports = (req, res) => {...}       export default function (req, res) {...}',
  '  exports.handler = (req, res) => {...}      export const handler = (req, res) => {...}',
  '  module.exports = { fetch(request) {...} }  export default { fetch(request) {...} }  (fetch returns a Response)',
].join('\n');

function log(message) {
  process.stderr.write(`${TAG} ${message}\n`);
}

function fatal(message) {
  log(message);
  process.exit(1);
}

function messageOf(err) {
  if (err !== null && typeof err === 'object' && typeof err.message === 'string')
    return err.message || String(err.name);
  try {
    return String(err);
  } catch {
    return 'a value that is not an Error was thrown';
  }
}

function describe(value) {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object') return `${typeof value} ${inspect(value)}`;
  const name = value.constructor?.name;
  return name && name !== 'Object'
    ? `an instance of ${name}`
    : `an object with keys [${Object.keys(value).join(', ')}]`;
}

// ---- start-up -------------------------------------------------------------

const codeDir = process.argv[2];
if (!codeDir) fatal('usage: node runner.mjs <codeDir>');
const port = Number(process.env.AETHER_TRIGGER_PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  fatal(`AETHER_TRIGGER_PORT must be a TCP port, got ${JSON.stringify(process.env.AETHER_TRIGGER_PORT)}`);
}
const socketPath = process.env.AETHER_SOCKET;
if (!socketPath) fatal('AETHER_SOCKET is not set (the Unix socket to send READY on)');

/**
 * Without a package.json of its own, handler.js takes its module type from the
 * nearest package.json above the code, which is not the user's: say so.
 */
function scopeNote(dir) {
  if (existsSync(join(dir, 'package.json'))) return null;
  for (let d = dir; d !== dirname(d);) {
    d = dirname(d);
    const pj = join(d, 'package.json');
    if (!existsSync(pj)) continue;
    let type;
    try {
      type = JSON.parse(readFileSync(pj, 'utf8')).type;
    } catch {
      return null;
    }
    return typeof type === 'string'
      ? `note: the code has no package.json, so Node loads handler.js as "type": ${JSON.stringify(type)} from ${pj}, outside the code; a package.json in the code with its own "type" decides instead`
      : null;
  }
  return null;
}

const dir = resolve(codeDir);
const file = join(dir, 'handler.js');
let ns;
try {
  ns = await import(pathToFileURL(file).href);
} catch (err) {
  log(`cannot load ${file}:`);
  const note = scopeNote(dir);
  if (note !== null) log(note);
  // Rethrown, the error is printed by Node as for `node handler.js` (with the
  // source line of a SyntaxError, which err.stack lacks in ESM) and the exit
  // code is 1. Should the module have installed an uncaughtException handler,
  // which would get it instead, print it here and exit 1 anyway.
  if (process.listenerCount('uncaughtException') > 0) log(inspect(err));
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
  throw err;
}

process.on('uncaughtException', (err) => log(`uncaught exception (the instance keeps running): ${inspect(err)}`));
process.on('unhandledRejection', (reason) =>
  log(`unhandled rejection (the instance keeps running): ${inspect(reason)}`),
);

/** The first accepted shape in `value`: a node-style function or an object with fetch. */
function shapeOf(value) {
  if (typeof value === 'function') return { kind: 'node', fn: value };
  if (value !== null && typeof value === 'object' && typeof value.fetch === 'function') {
    return { kind: 'fetch', target: value };
  }
  return null;
}

function findHandler(mod, depth) {
  const d = mod.default;
  const found =
    shapeOf(d) ??
    (typeof mod.handler === 'function' ? { kind: 'node', fn: mod.handler } : null) ??
    (d !== null && typeof d === 'object' && typeof d.handler === 'function' ? { kind: 'node', fn: d.handler } : null) ??
    (typeof mod.fetch === 'function' ? { kind: 'fetch', target: mod } : null);
  if (found !== null || depth > 0 || d === null || typeof d !== 'object' || d.default === undefined) return found;
  return findHandler(d, depth + 1); // CJS compiled from ESM: exports.default = ...
}

const handler = findHandler(ns, 0);
if (handler === null) {
  const names = Object.keys(ns).filter((k) => k !== 'default');
  fatal(
    `${file} exports no handler: its default export is ${describe(ns.default)}` +
      (names.length > 0 ? ` and its named exports are [${names.join(', ')}]` : '') +
      `; ${SHAPES}`,
  );
}

// ---- requests -------------------------------------------------------------

/** Responses not yet closed (for the SIGTERM drain). */
const active = new Set();
/** ctx.waitUntil promises not yet settled. */
const pending = new Set();
let draining = false;

function sendError(res, status, code, message) {
  const body = JSON.stringify({ error: { code, message } });
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(status, STATUS_CODES[status], {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The handler failed: 500 if nothing was sent, else cut the response. */
function failed(res, err, detail = inspect(err)) {
  log(`handler error: ${detail}`);
  if (!res.headersSent) sendError(res, 500, HANDLER_ERROR, messageOf(err));
  else if (!res.writableEnded) res.destroy();
}

/** A node-style handler that returns a Response was meant to be a fetch handler: say so rather than hang. */
function checkReturned(res, value) {
  if (value instanceof Response && !res.headersSent) {
    const err = new TypeError(
      'the handler is node-style, called as (req, res), but returned a Response; export { fetch(request) } (e.g. export default { fetch }) to answer with Responses',
    );
    failed(res, err, err.message);
  }
}

function runNode(fn, req, res) {
  let ret;
  try {
    ret = fn(req, res);
  } catch (err) {
    failed(res, err);
    return;
  }
  if (ret !== null && (typeof ret === 'object' || typeof ret === 'function') && typeof ret.then === 'function') {
    ret.then(
      (value) => checkReturned(res, value),
      (err) => failed(res, err),
    );
  } else checkReturned(res, ret);
}

// A Host a URL cannot be built on without changing its path (no /, ?, #, @, \ or spaces).
const HOST = /^[\w.~!$&'()*+,;=:%[\]-]+$/;

function toRequest(req, signal) {
  let url = req.url;
  if (url.startsWith('/')) {
    const host = req.headers.host ?? `127.0.0.1:${port}`;
    if (!HOST.test(host)) throw new TypeError(`invalid Host header ${JSON.stringify(host)}`);
    url = `http://${host}${url}`;
  }
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const init = { method: req.method, headers, signal };
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  if (hasBody && req.method !== 'GET' && req.method !== 'HEAD') {
    init.body = Readable.toWeb(req);
    init.duplex = 'half';
  }
  return new Request(url, init);
}

function isResponse(value) {
  return (
    value instanceof Response ||
    (value !== null &&
      typeof value === 'object' &&
      typeof value.status === 'number' &&
      typeof value.headers?.[Symbol.iterator] === 'function' &&
      'body' in value)
  );
}

function writeResponse(req, res, response) {
  const headers = {};
  for (const [name, value] of response.headers) if (name !== 'set-cookie') headers[name] = value;
  const cookies = response.headers.getSetCookie?.() ?? [];
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  if (response.statusText) res.writeHead(response.status, response.statusText, headers);
  else res.writeHead(response.status, headers);
  const body = response.body;
  if (body === null || req.method === 'HEAD' || response.status === 204 || response.status === 304) {
    body?.cancel().catch(() => {});
    res.end();
    return;
  }
  pipeline(Readable.fromWeb(body), res, (err) => {
    // A client that went away is not the handler's fault.
    if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') log(`response body error: ${inspect(err)}`);
  });
}

const ctx = {
  waitUntil(promise) {
    const p = Promise.resolve(promise)
      .catch((err) => log(`waitUntil promise rejected: ${inspect(err)}`))
      .finally(() => {
        pending.delete(p);
        maybeExit();
      });
    pending.add(p);
  },
  passThroughOnException() {},
};

async function runFetch(target, req, res) {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new Error('the client closed the connection'));
  });
  let request;
  try {
    request = toRequest(req, abort.signal);
  } catch (err) {
    sendError(res, 400, 'AETHER_E_INVALID_ARGUMENT', `cannot make a Request of this request: ${messageOf(err)}`);
    return;
  }
  if (request.body !== null) {
    // A body the handler left unread would stall the next request on this
    // connection: discard the rest once the response is complete.
    res.once('finish', () => {
      if (!req.complete) {
        req.removeAllListeners('data');
        req.resume();
      }
    });
  }
  let response;
  try {
    response = await target.fetch(request, process.env, ctx);
  } catch (err) {
    failed(res, err);
    return;
  }
  if (!isResponse(response)) {
    const err = new TypeError(`the fetch handler returned ${describe(response)}, not a Response`);
    failed(res, err, err.message);
    return;
  }
  try {
    writeResponse(req, res, response);
  } catch (err) {
    failed(res, err);
  }
}

function onRequest(req, res) {
  active.add(res);
  res.once('close', () => {
    active.delete(res);
    maybeExit();
  });
  if (draining) res.shouldKeepAlive = false;
  if (handler.kind === 'node') runNode(handler.fn, req, res);
  else runFetch(handler.target, req, res).catch((err) => failed(res, err));
}

// ---- server, READY, shutdown ---------------------------------------------

/** An HTTP server of the handler on `where` (a port or a Unix socket path). */
function serve(where) {
  const s = createServer(onRequest);
  // Above the idle timeout of the usual proxies and clients, so the server is never the side that closes first.
  s.keepAliveTimeout = 65_000;
  s.headersTimeout = 66_000;
  s.on('error', (err) => fatal(`HTTP server error on ${where}: ${messageOf(err)}`));
  return s;
}

// The gateway reaches the instance on a Unix socket when it names one (cheaper than loopback
// TCP per request); the trigger port serves everyone else. READY once both listen.
const httpSocketPath = process.env.AETHER_HTTP_SOCKET;
delete process.env.AETHER_HTTP_SOCKET;
const servers = [serve(`127.0.0.1:${port}`)];
if (httpSocketPath) servers.push(serve(httpSocketPath));
let listening = 0;
const onListening = () => {
  if (++listening < servers.length) return;
  let sent = false;
  const socket = connect(socketPath);
  socket.on('error', (err) => {
    if (!sent) fatal(`cannot send READY on AETHER_SOCKET ${socketPath}: ${messageOf(err)}`);
  });
  socket.write('READY', () => (sent = true));
  socket.unref();
};
servers[0].listen(port, '127.0.0.1', onListening);
if (httpSocketPath) servers[1].listen(httpSocketPath, onListening);

function maybeExit() {
  if (draining && active.size === 0 && pending.size === 0) process.exit(0);
}

function shutdown(signal) {
  if (draining) return;
  draining = true;
  for (const s of servers) {
    s.close();
    s.closeIdleConnections();
  }
  // Responses not started yet tell their client not to reuse the connection.
  for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
  setTimeout(() => {
    log(
      `${signal}: ${active.size} request(s) and ${pending.size} waitUntil promise(s) still running after ${DRAIN_MS} ms; exiting`,
    );
    process.exit(0);
  }, DRAIN_MS);
  maybeExit();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

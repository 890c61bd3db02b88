/**
 * `aether function create|upload|invoke|list|delete` run in-process against a
 * node started in-process (real sandboxed instances): the whole cycle with a
 * folder zipped by the CLI, failing statuses, binary bodies, and the usage
 * errors that stop a command before it reaches the node.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultServerConfig } from '@aether/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../serve.js';
import { directoryEntries, invokePath, parseEnv, writeZip, type ByteCliIo } from './function-commands.js';
import { runCli } from './main.js';

let node: RunningServer;
let server: string;
let work: string;

beforeAll(async () => {
  const config = defaultServerConfig();
  config.server.grpcPort = 0;
  config.server.httpPort = 0;
  config.persistence.mode = 'memory';
  node = await startServer(config);
  server = `http://127.0.0.1:${node.httpPort}`;
  work = mkdtempSync(path.join(tmpdir(), 'aether-fn-cli-'));
});

afterAll(async () => {
  await node.close();
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `aether <args> --server <the test node>` in-process. */
async function aether(args: string[], io: Partial<ByteCliIo> = {}): Promise<Run> {
  const run = { code: 0, out: '', err: '' };
  const cli: ByteCliIo = {
    env: {},
    cwd: work,
    stdout: (t) => void (run.out += t),
    stderr: (t) => void (run.err += t),
    ...io,
  };
  run.code = await runCli(['node', 'aether', ...args, '--server', server], cli);
  return run;
}

/** Writes `files` (path -> text) under a new folder of the work dir. */
function folder(name: string, files: Record<string, string>): string {
  const dir = path.join(work, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

const ECHO = `const fs = require('node:fs');
const path = require('node:path');
const { greeting } = require('./lib/greeting.js');
module.exports = (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-answer', 'yes');
    res.end(JSON.stringify({
      method: req.method,
      url: req.url,
      test: req.headers['x-test'] ?? null,
      type: req.headers['content-type'] ?? null,
      body: Buffer.concat(chunks).toString(),
      secret: process.env.SECRET ?? null,
      greeting,
      git: fs.existsSync(path.join(__dirname, '.git')),
    }));
  });
};`;

describe('aether function', () => {
  it('creates a function, uploads a folder zipped by the CLI, invokes it, lists it and deletes it', async () => {
    const dir = folder('hello-fn', {
      'handler.js': ECHO,
      'lib/greeting.js': `exports.greeting = 'hello from lib';`,
      '.git/HEAD': 'ref: refs/heads/main\n',
    });
    symlinkSync('handler.js', path.join(dir, 'link.js'));

    const created = await aether([
      'function',
      'create',
      'hello',
      '--env',
      'SECRET=123',
      '--env',
      'EMPTY=',
      '--memory',
      '128',
      '--timeout',
      '5000',
    ]);
    expect(created).toEqual({ code: 0, out: 'hello\n', err: '' });
    const record = (await (await fetch(`${server}/api/functions/hello`)).json()) as Record<string, unknown>;
    expect(record).toMatchObject({
      runtime: 'node',
      env_vars: { SECRET: '123', EMPTY: '' },
      memory_limit_mb: 128,
      timeout_ms: 5000,
    });

    const uploaded = await aether(['function', 'upload', 'hello', 'hello-fn']);
    expect(uploaded.code).toBe(0);
    expect(uploaded.out).toMatch(
      /^id: +hello\nversion: +2\nhash: +[0-9a-f]{64}\nsize: +\d+(\.\d)? (B|KiB) \(2 files, zipped by the CLI\)\n$/,
    );
    expect(uploaded.err).toBe(
      'warning: skipped symlink link.js: zips of function code may not hold links; copy the target in instead\n',
    );

    const invoked = await aether([
      'function',
      'invoke',
      'hello',
      'users/7?x=1&y=2',
      '--data',
      '{"a":1}',
      '--header',
      'X-Test: yes',
      '-H',
      'content-type: application/json',
    ]);
    expect(invoked.code).toBe(0);
    expect(invoked.err).toBe('');
    expect(JSON.parse(invoked.out)).toEqual({
      method: 'POST',
      url: '/users/7?x=1&y=2',
      test: 'yes',
      type: 'application/json',
      body: '{"a":1}',
      secret: '123',
      greeting: 'hello from lib',
      git: false,
    });

    writeFileSync(path.join(work, 'payload.txt'), 'from a file');
    const included = await aether(['function', 'invoke', 'hello', '/', '-X', 'put', '-d', '@payload.txt', '-i']);
    expect(included.code).toBe(0);
    const [head = '', body = ''] = included.out.split('\n\n');
    expect(head.split('\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(head.split('\n')).toContain('content-type: application/json');
    expect(head.split('\n')).toContain('x-answer: yes');
    expect(JSON.parse(body)).toMatchObject({ method: 'PUT', url: '/', body: 'from a file', test: null });

    const listed = await aether(['function', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(
      /^ID +RUNTIME +VERSION +SIZE +UPDATED\nhello +node +2 +\d+(\.\d)? (B|KiB) +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n$/,
    );
    const json = JSON.parse((await aether(['function', 'list', '--json'])).out) as { functions: { id: string }[] };
    expect(json.functions.map((f) => f.id)).toEqual(['hello']);

    expect(await aether(['function', 'delete', 'hello'])).toEqual({ code: 0, out: 'deleted hello\n', err: '' });
    expect((await aether(['function', 'list'])).out).toBe(
      'No functions. Create one with `aether function create <name>`.\n',
    );
    const gone = await aether(['function', 'delete', 'hello']);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/^error\[AETHER_E_FN_NOT_FOUND\]: /);
  });

  it('exits 1 on a 4xx or 5xx answer and still prints its body', async () => {
    await aether(['function', 'create', 'teapot']);
    folder('teapot-fn', {
      'handler.js': `module.exports = (req, res) => {
        if (req.url === '/throw') throw new Error('boom in handler');
        res.statusCode = 418;
        res.end('short and stout');
      };`,
    });
    expect((await aether(['function', 'upload', 'teapot', 'teapot-fn'])).code).toBe(0);

    const teapot = await aether(['function', 'invoke', 'teapot', 'brew']);
    expect(teapot).toEqual({
      code: 1,
      out: 'short and stout',
      err: "\nerror: GET /functions/teapot/brew answered 418 I'm a Teapot\n",
    });

    const thrown = await aether(['function', 'invoke', 'teapot', 'throw', '--include']);
    expect(thrown.code).toBe(1);
    expect(thrown.out).toMatch(/^HTTP\/1\.1 500 Internal Server Error\n/);
    expect(thrown.out).toContain('"code":"AETHER_E_FN_HANDLER_ERROR"');
    expect(thrown.out).toContain('boom in handler');

    const missing = await aether(['function', 'invoke', 'no-such-function']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.out)).toMatchObject({ error: { code: 'AETHER_E_FN_NOT_FOUND' } });
    await aether(['function', 'delete', 'teapot']);
  });

  it('uploads a zip file as it is and writes binary bodies unchanged', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const handler = `module.exports = (req, res) => res.end(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));`;
    writeFileSync(
      path.join(work, 'bytes.zip'),
      writeZip([{ name: 'handler.js', data: Buffer.from(handler), mode: 0o644 }]),
    );
    await aether(['function', 'create', 'bytes']);
    const uploaded = await aether(['function', 'upload', 'bytes', 'bytes.zip', '--json']);
    expect(uploaded.code).toBe(0);
    expect(JSON.parse(uploaded.out)).toMatchObject({ id: 'bytes', version: 2 });

    expect((await aether(['function', 'invoke', 'bytes', '--output', 'out.bin'])).code).toBe(0);
    expect(readFileSync(path.join(work, 'out.bin'))).toEqual(bytes);

    const sunk: Uint8Array[] = [];
    const raw = await aether(['function', 'invoke', 'bytes'], { stdoutBytes: (b) => void sunk.push(b) });
    expect(raw).toEqual({ code: 0, out: '', err: '' });
    expect(Buffer.concat(sunk)).toEqual(bytes);

    const lossy = await aether(['function', 'invoke', 'bytes']);
    expect(lossy.code).toBe(0);
    expect(lossy.err).toContain('is not UTF-8 text');
    await aether(['function', 'delete', 'bytes']);
  });

  it('reports an upload path that does not exist or is not a zip as a usage error', async () => {
    const missing = await aether(['function', 'upload', 'anything', 'nope']);
    expect(missing).toEqual({
      code: 2,
      out: '',
      err:
        'error[AETHER_E_USAGE]: nope does not exist; upload a .zip file or a folder with handler.js at its root\n' +
        'hint: see `aether --help`\n',
    });
    writeFileSync(path.join(work, 'handler.js'), 'module.exports = () => {};');
    const notZip = await aether(['function', 'upload', 'anything', 'handler.js']);
    expect(notZip.code).toBe(2);
    expect(notZip.err).toMatch(/^error\[AETHER_E_USAGE\]: handler\.js is not a zip file/);
  });

  it('creates a function with its scaling from --min, --max, --target-concurrency and --idle-timeout', async () => {
    const created = await aether([
      'function',
      'create',
      'scaled',
      '--min',
      '0',
      '--max',
      '2',
      '--target-concurrency',
      '3',
      '--idle-timeout',
      '1.5',
    ]);
    expect(created).toEqual({ code: 0, out: 'scaled\n', err: '' });
    const record = (await (await fetch(`${server}/api/functions/scaled`)).json()) as Record<string, unknown>;
    expect(record.scaling).toEqual({ min: 0, max: 2, target_concurrency: 3, idle_timeout_s: 1.5 });
    // min above the node's max is the node's to refuse (its defaults fill in what the flags leave out).
    const refused = await aether(['function', 'create', 'too-many', '--min', '999']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/AETHER_E_FN_INVALID.*scaling\.min \(999\) must not be above the node's default max/);
    expect(await aether(['function', 'delete', 'scaled'])).toMatchObject({ code: 0 });
  });

  it('rejects bad flags with AETHER_E_USAGE and exit code 2 before calling the node', async () => {
    const cases: [string[], RegExp][] = [
      [['function', 'create', 'x', '--env', 'NOEQUALS'], /--env "NOEQUALS": expected KEY=VALUE/],
      [['function', 'create', 'x', '--env', '=v'], /--env "=v": expected KEY=VALUE/],
      [['function', 'create', 'x', '--env', 'A=1', '--env', 'A=2'], /--env A is given more than once/],
      [['function', 'create', 'x', '--memory', '0'], /--memory "0": expected a whole number from 1 to 16384/],
      [['function', 'create', 'x', '--timeout', '1.5'], /--timeout "1.5": expected a whole number/],
      [['function', 'create', 'x', '--max', '0'], /--max "0": expected a whole number from 1 to 1000/],
      [['function', 'create', 'x', '--min', 'one'], /--min "one": expected a whole number from 0 to 1000/],
      [
        ['function', 'create', 'x', '--target-concurrency', '2.5'],
        /--target-concurrency "2.5": expected a whole number from 1 to 10000/,
      ],
      [['function', 'create', 'x', '--idle-timeout', '5m'], /--idle-timeout "5m": expected seconds from 0 to 86400/],
      [['function', 'invoke', 'x', '--header', 'no colon'], /--header "no colon": expected 'Name: value'/],
      [['function', 'invoke', 'x', '--data', 'a', '--method', 'GET'], /--data cannot be sent with GET/],
      [['function', 'invoke', 'x', '--data', '@missing.json'], /--data @missing.json: no such file/],
      [['function', 'invoke', 'x', '--method', 'NO PE'], /--method "NO PE": not an HTTP method/],
    ];
    for (const [args, message] of cases) {
      const run = await aether(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err, args.join(' ')).toMatch(/^error\[AETHER_E_USAGE\]: /);
      expect(run.err, args.join(' ')).toMatch(message);
    }
    expect((await fetch(`${server}/api/functions/x`)).status).toBe(404);
  });
});

describe('aether function against a node with a token', () => {
  it('sends --token on the API and on invocations, and fails without it', async () => {
    const config = defaultServerConfig();
    config.server.grpcPort = 0;
    config.server.httpPort = 0;
    config.persistence.mode = 'memory';
    config.auth.token = 's3cret';
    const locked = await startServer(config);
    try {
      const url = `http://127.0.0.1:${locked.httpPort}`;
      const io = (run: Run): ByteCliIo => ({
        env: { AETHER_SERVER: url },
        cwd: work,
        stdout: (t) => void (run.out += t),
        stderr: (t) => void (run.err += t),
      });
      const cli = async (args: string[]): Promise<Run> => {
        const run = { code: 0, out: '', err: '' };
        run.code = await runCli(['node', 'aether', ...args], io(run));
        return run;
      };
      const denied = await cli(['function', 'create', 'locked']);
      expect(denied.code).toBe(1);
      expect(denied.err).toMatch(/^error\[AETHER_E_UNAUTHENTICATED\]: /);
      expect((await cli(['function', 'create', 'locked', '--token', 's3cret'])).out).toBe('locked\n');
      folder('locked-fn', { 'handler.js': `module.exports = (req, res) => res.end('open');` });
      expect((await cli(['function', 'upload', 'locked', 'locked-fn', '--token', 's3cret'])).code).toBe(0);
      expect(await cli(['function', 'invoke', 'locked', '--token', 's3cret'])).toEqual({
        code: 0,
        out: 'open',
        err: '',
      });
      const unauthenticated = await cli(['function', 'invoke', 'locked']);
      expect(unauthenticated.code).toBe(1);
      expect(JSON.parse(unauthenticated.out)).toMatchObject({ error: { code: 'AETHER_E_UNAUTHENTICATED' } });
    } finally {
      await locked.close();
    }
  });
});

describe('function command pieces', () => {
  it('keeps the invoked path inside the function', () => {
    expect(invokePath('f')).toBe('/functions/f/');
    expect(invokePath('f', 'a/b?x=1&y=2')).toBe('/functions/f/a/b?x=1&y=2');
    expect(invokePath('f', '/../../api/functions')).toBe('/functions/f/api/functions');
    expect(invokePath('f', '//evil.example/x')).toBe('/functions/f//evil.example/x');
    expect(invokePath('a b', '?q=1')).toBe('/functions/a%20b/?q=1');
  });

  it('parses env pairs whose values hold "="', () => {
    expect(parseEnv(['A=1', 'B=x=y', 'C='])).toEqual({ A: '1', B: 'x=y', C: '' });
  });

  it('zips a folder the same way every time, sorted, without .git', () => {
    const dir = folder('stable', { 'b.js': 'b', 'a/z.js': 'z', '.git/HEAD': 'x', 'handler.js': 'h'.repeat(1000) });
    const warnings: string[] = [];
    const entries = directoryEntries(dir, (m) => warnings.push(m));
    expect(entries.map((e) => e.name)).toEqual(['a/', 'a/z.js', 'b.js', 'handler.js']);
    expect(warnings).toEqual([]);
    const zip = writeZip(entries);
    expect(writeZip(directoryEntries(dir, () => {}))).toEqual(zip);
    // End of central directory: 4 entries, the central directory right after the file data.
    const end = zip.subarray(zip.length - 22);
    expect(end.readUInt32LE(0)).toBe(0x06054b50);
    expect(end.readUInt16LE(10)).toBe(4);
    expect(end.readUInt32LE(16) + end.readUInt32LE(12)).toBe(zip.length - 22);
  });
});

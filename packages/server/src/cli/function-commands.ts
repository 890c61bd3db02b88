/**
 * `aether function create|upload|invoke|list|delete`: shortcuts for the node
 * function routes of a running node's HTTP API (seed 001), so that deploying
 * and calling a function needs neither curl nor the zip tool. `upload` zips a
 * folder in memory with a small deterministic zip writer.
 */
import { readdirSync, readFileSync, statSync, writeFileSync, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { aetherError, type AetherError } from '@aether/core';
import type { CliIo } from './io.js';
import { formatFields, formatTable, formatTime } from './table.js';
import { clientFor, type RemoteOptions } from './workflow-commands.js';

/** Options of `aether function create`. */
export interface FunctionCreateOptions extends RemoteOptions {
  /** `KEY=VALUE` pairs, one per `--env`. */
  env?: string[] | undefined;
  memory?: string | undefined;
  timeout?: string | undefined;
  /** Scaling overrides (`--min`, `--max`, `--target-concurrency`, `--idle-timeout` seconds). */
  min?: string | undefined;
  max?: string | undefined;
  targetConcurrency?: string | undefined;
  idleTimeout?: string | undefined;
}

/** Options of `aether function invoke`. */
export interface FunctionInvokeOptions extends RemoteOptions {
  method?: string | undefined;
  /** The request body, or `@file` for a file's bytes. */
  data?: string | undefined;
  /** `Name: value` lines, one per `--header`. */
  header?: string[] | undefined;
  include?: boolean | undefined;
  /** Write the body to this file instead of standard output. */
  output?: string | undefined;
}

/**
 * A CliIo that can also write bytes as they are. Without `stdoutBytes`, bodies
 * that are UTF-8 text still reach standard output unchanged through `stdout`.
 */
export interface ByteCliIo extends CliIo {
  stdoutBytes?(bytes: Uint8Array): void;
}

/** As JSON from `GET /api/functions`. */
interface FunctionJson {
  id: string;
  name: string;
  runtime: string;
  version: number;
  hash: string;
  size_bytes: number;
  deployed_at: string;
}

/** Collects a repeatable option (`--env A=1 --env B=2`) into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function usage(message: string, details: Record<string, unknown> = {}): AetherError {
  return aetherError('AETHER_E_USAGE', message, details);
}

function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

function functionPath(id: string): string {
  return `/api/functions/${encodeURIComponent(id)}`;
}

/** `1234` -> `1.2 KiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Parses `--env KEY=VALUE` pairs.
 * @throws TerminalError AETHER_E_USAGE on a pair without `=`, an empty key or a key given twice
 */
export function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usage(`--env ${JSON.stringify(pair)}: expected KEY=VALUE`, { flag: '--env' });
    const key = pair.slice(0, eq);
    if (Object.hasOwn(env, key)) throw usage(`--env ${key} is given more than once`, { flag: '--env' });
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

function parseWhole(flag: string, text: string | undefined, max: number, min = 1): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw usage(`${flag} ${JSON.stringify(text)}: expected a whole number from ${min} to ${max}`, { flag });
  }
  return Number(text);
}

/**
 * The `scaling` of `POST /api/functions` from the create flags (undefined when
 * none is given); the node checks min against max, its defaults filled in.
 * @throws TerminalError AETHER_E_USAGE on a value out of range
 */
export function parseScaling(options: FunctionCreateOptions): Record<string, number> | undefined {
  const scaling: Record<string, number> = {};
  const min = parseWhole('--min', options.min, 1000, 0);
  const max = parseWhole('--max', options.max, 1000);
  const target = parseWhole('--target-concurrency', options.targetConcurrency, 10_000);
  if (min !== undefined) scaling.min = min;
  if (max !== undefined) scaling.max = max;
  if (target !== undefined) scaling.target_concurrency = target;
  const idle = options.idleTimeout;
  if (idle !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(idle) || Number(idle) > 86_400) {
      throw usage(`--idle-timeout ${JSON.stringify(idle)}: expected seconds from 0 to 86400`, {
        flag: '--idle-timeout',
      });
    }
    scaling.idle_timeout_s = Number(idle);
  }
  return Object.keys(scaling).length === 0 ? undefined : scaling;
}

/** `aether function create <name>`: prints the new function's id. */
export async function createFunction(name: string, options: FunctionCreateOptions, io: CliIo): Promise<number> {
  const env = parseEnv(options.env ?? []);
  const memory = parseWhole('--memory', options.memory, 16_384);
  const timeout = parseWhole('--timeout', options.timeout, 3_600_000);
  const scaling = parseScaling(options);
  const created = await clientFor(options, io).post<{ id: string }>('/api/functions', {
    name,
    runtime: 'node',
    ...(Object.keys(env).length > 0 && { env_vars: env }),
    ...(memory !== undefined && { memory_limit_mb: memory }),
    ...(timeout !== undefined && { timeout_ms: timeout }),
    ...(scaling !== undefined && { scaling }),
  });
  if (options.json === true) printJson(io, created);
  else io.stdout(`${created.id}\n`);
  return 0;
}

// --- zip writer -------------------------------------------------------------

/** One entry of a zip: a file with its bytes, or a folder (name ending in `/`). */
export interface ZipEntry {
  name: string;
  data?: Uint8Array | undefined;
  /** Unix permission bits. */
  mode: number;
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const FLAG_UTF8 = 0x0800;
// Entries carry a fixed time (1980-01-01 00:00, the first DOS date), so the
// same files always make the same zip and thus the same code hash.
const DOS_TIME = 0;
const DOS_DATE = (1 << 5) | 1;
const VERSION_NEEDED = 20;
const MADE_BY_UNIX = (3 << 8) | VERSION_NEEDED;

/**
 * Writes a zip (stored or deflate entries, UTF-8 names, Unix modes) without zip64.
 * @throws TerminalError AETHER_E_CODE_TOO_LARGE past 65535 entries or 4 GiB
 */
export function writeZip(entries: readonly ZipEntry[]): Buffer {
  const tooLarge = (): AetherError =>
    aetherError('AETHER_E_CODE_TOO_LARGE', 'the code is too large for a zip: more than 65535 files or 4 GiB');
  if (entries.length > 0xffff) throw tooLarge();
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const isDir = entry.data === undefined;
    const data = Buffer.from(entry.data ?? new Uint8Array(0));
    const deflated = data.length > 0 ? deflateRawSync(data) : data;
    const stored = deflated.length >= data.length;
    const body = stored ? data : deflated;
    const method = stored ? 0 : 8;
    const crc = crc32(data);
    if (offset + 30 + name.length + body.length > 0xffffffff) throw tooLarge();

    // The local header and the central directory share these fields, at different offsets.
    const shared = (buf: Buffer, at: number): void => {
      buf.writeUInt16LE(VERSION_NEEDED, at);
      buf.writeUInt16LE(FLAG_UTF8, at + 2);
      buf.writeUInt16LE(method, at + 4);
      buf.writeUInt16LE(DOS_TIME, at + 6);
      buf.writeUInt16LE(DOS_DATE, at + 8);
      buf.writeUInt32LE(crc, at + 10);
      buf.writeUInt32LE(body.length, at + 14);
      buf.writeUInt32LE(data.length, at + 18);
      buf.writeUInt16LE(name.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    shared(local, 4);

    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(MADE_BY_UNIX, 4);
    shared(header, 6);
    // Extra field, comment, disk number and internal attributes stay 0. The
    // external attributes hold the Unix mode (high 16 bits) and the MS-DOS
    // directory flag; arithmetic, not bit operators, keeps them unsigned.
    header.writeUInt32LE(((isDir ? S_IFDIR : S_IFREG) | (entry.mode & 0o7777)) * 0x10000 + (isDir ? 0x10 : 0), 38);
    header.writeUInt32LE(offset, 42);

    parts.push(local, name, body);
    central.push(header, name);
    offset += local.length + name.length + body.length;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  if (offset + centralSize > 0xffffffff) throw tooLarge();
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}

const byName = (a: Dirent, b: Dirent): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The files and folders under `root` as zip entries, in a stable order: `.git`
 * is left out, and symlinks and special files are skipped with a warning.
 */
export function directoryEntries(root: string, warn: (message: string) => void): ZipEntry[] {
  const entries: ZipEntry[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const dirent of readdirSync(dir, { withFileTypes: true }).sort(byName)) {
      if (dirent.name === '.git') continue;
      const full = path.join(dir, dirent.name);
      const name = `${prefix}${dirent.name}`;
      if (dirent.isSymbolicLink()) {
        warn(`skipped symlink ${name}: zips of function code may not hold links; copy the target in instead`);
      } else if (dirent.isDirectory()) {
        entries.push({ name: `${name}/`, mode: 0o755 });
        walk(full, `${name}/`);
      } else if (dirent.isFile()) {
        const executable = (statSync(full).mode & 0o111) !== 0;
        entries.push({ name, data: readFileSync(full), mode: executable ? 0o755 : 0o644 });
      } else {
        warn(`skipped ${name}: not a regular file or folder`);
      }
    }
  };
  walk(root, '');
  return entries;
}

/** The zip to upload for `<path>`: a zip file as it is, or a folder zipped here. */
function readCode(arg: string, io: CliIo): { zip: Buffer; files?: number } {
  const full = path.resolve(io.cwd, arg);
  let stat: Stats;
  try {
    stat = statSync(full);
  } catch (err) {
    const why = (err as { code?: unknown }).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${String(err)}`;
    throw usage(`${arg} ${why}; upload a .zip file or a folder with handler.js at its root`, { path: full });
  }
  if (!stat.isDirectory() && !stat.isFile()) throw usage(`${arg} is neither a .zip file nor a folder`, { path: full });
  if (stat.isDirectory()) {
    const entries = directoryEntries(full, (message) => io.stderr(`warning: ${message}\n`));
    return { zip: writeZip(entries), files: entries.filter((e) => e.data !== undefined).length };
  }
  const zip = readFileSync(full);
  // A zip starts with a local file header, or with the end record when empty.
  const magic = zip.subarray(0, 4).toString('latin1');
  if (magic !== 'PK\u0003\u0004' && magic !== 'PK\u0005\u0006') {
    throw usage(`${arg} is not a zip file; upload a .zip file or a folder with handler.js at its root`, {
      path: full,
    });
  }
  return { zip };
}

/** `aether function upload <id> <path>`: a new version; prints its number and hash. */
export async function uploadFunction(id: string, file: string, options: RemoteOptions, io: CliIo): Promise<number> {
  const { zip, files } = readCode(file, io);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(zip)], { type: 'application/zip' }), 'code.zip');
  // The answer comes once the new version's first instance is up.
  const answer = await clientFor(options, io).postForm<{ id: string; version: number; hash: string }>(
    `${functionPath(id)}/code`,
    form,
    { timeoutMs: 120_000 },
  );
  if (options.json === true) {
    printJson(io, answer);
    return 0;
  }
  const fields: [string, string][] = [
    ['id', answer.id],
    ['version', String(answer.version)],
    ['hash', answer.hash],
    [
      'size',
      `${formatBytes(zip.length)}${files === undefined ? '' : ` (${files} ${files === 1 ? 'file' : 'files'}, zipped by the CLI)`}`,
    ],
  ];
  io.stdout(formatFields(fields));
  return 0;
}

// --- invoke ------------------------------------------------------------------

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `/functions/{id}` + the sub-path and query, which cannot climb out of the function with `..`. */
export function invokePath(id: string, sub = '/'): string {
  const url = new URL(`http://function.invalid${sub.startsWith('/') ? '' : '/'}${sub}`);
  return `/functions/${encodeURIComponent(id)}${url.pathname}${url.search}`;
}

/** Parses `--header 'Name: value'` lines. */
export function parseHeaders(lines: readonly string[]): [string, string][] {
  return lines.map((line) => {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    if (!TOKEN.test(name))
      throw usage(`--header ${JSON.stringify(line)}: expected 'Name: value'`, { flag: '--header' });
    return [name, line.slice(colon + 1).trim()];
  });
}

function requestBody(data: string | undefined, io: CliIo): Uint8Array | undefined {
  if (data === undefined) return undefined;
  if (!data.startsWith('@')) return Buffer.from(data, 'utf8');
  const file = data.slice(1);
  try {
    return readFileSync(path.resolve(io.cwd, file));
  } catch (err) {
    const why = (err as { code?: unknown }).code === 'ENOENT' ? 'no such file' : String(err);
    throw usage(`--data @${file}: ${why}`, { flag: '--data' });
  }
}

function writeBody(io: ByteCliIo, body: Uint8Array): void {
  if (body.length === 0) return;
  if (io.stdoutBytes !== undefined) return io.stdoutBytes(body);
  try {
    io.stdout(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    io.stdout(new TextDecoder('utf-8').decode(body));
    io.stderr(
      `warning: the body (${body.length} bytes) is not UTF-8 text and was printed with replacement characters; save it unchanged with --output FILE\n`,
    );
  }
}

/**
 * `aether function invoke <id> [path]`: one request through the gateway. The
 * body goes to standard output whatever the status; exit code 1 from 400 up.
 */
export async function invokeFunction(
  id: string,
  sub: string | undefined,
  options: FunctionInvokeOptions,
  io: ByteCliIo,
): Promise<number> {
  const body = requestBody(options.data, io);
  const method = (options.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!TOKEN.test(method)) throw usage(`--method ${JSON.stringify(options.method)}: not an HTTP method`);
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
    throw usage(`--data cannot be sent with ${method}; use --method POST (or PUT, PATCH)`, { flag: '--data' });
  }
  const headers = parseHeaders(options.header ?? []);
  const target = invokePath(id, sub);
  // The gateway applies the function's timeout_ms and its queue bound: the CLI adds no deadline of its own.
  const res = await clientFor(options, io).request({ method, path: target, headers, body, timeoutMs: 0 });
  if (options.include === true) {
    const head = [`HTTP/1.1 ${res.status} ${res.statusText}`.trimEnd(), ...res.headers.map(([k, v]) => `${k}: ${v}`)];
    io.stdout(`${head.join('\n')}\n\n`);
  }
  if (options.output !== undefined) writeFileSync(path.resolve(io.cwd, options.output), res.body);
  else writeBody(io, res.body);
  if (res.status < 400) return 0;
  // On a terminal the body and this line share the screen: start it on a line of its own.
  const printed = options.output === undefined && res.body.length > 0;
  const newline = printed && res.body[res.body.length - 1] !== 0x0a ? '\n' : '';
  io.stderr(`${newline}error: ${method} ${target} answered ${res.status} ${res.statusText}`.trimEnd() + '\n');
  return 1;
}

// --- list, delete --------------------------------------------------------------

/** `aether function list`: every function of the node (node and WASM). */
export async function listFunctions(options: RemoteOptions, io: CliIo): Promise<number> {
  const answer = await clientFor(options, io).get<{ functions: FunctionJson[] }>('/api/functions');
  if (options.json === true) {
    printJson(io, answer);
    return 0;
  }
  if (answer.functions.length === 0) {
    io.stdout('No functions. Create one with `aether function create <name>`.\n');
    return 0;
  }
  const rows = answer.functions.map((f) => [
    f.id,
    f.runtime,
    String(f.version),
    f.hash === '' ? '-' : formatBytes(f.size_bytes),
    formatTime(f.deployed_at),
  ]);
  io.stdout(formatTable(['ID', 'RUNTIME', 'VERSION', 'SIZE', 'UPDATED'], rows));
  return 0;
}

/** `aether function delete <id>`. */
export async function deleteFunction(id: string, options: RemoteOptions, io: CliIo): Promise<number> {
  const answer = await clientFor(options, io).delete<{ status: string; id: string }>(functionPath(id));
  if (options.json === true) printJson(io, answer);
  else io.stdout(`deleted ${answer.id}\n`);
  return 0;
}

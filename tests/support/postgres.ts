/**
 * A real, throw-away PostgreSQL server for tests and benchmarks: initdb into a
 * fresh temp dir (as the `postgres` OS user when running as root, since initdb
 * refuses root), started on a free loopback port with its unix socket in that
 * dir and fsync off, ready once a connection succeeds, removed by stop().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './processes.js';

/** A running PostgreSQL server. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication, any password works). */
  url: string;
  host: string;
  port: number;
  /** The temp dir holding the cluster (`data/`), the unix socket and `postgres.log`. */
  dir: string;
  /** Creates a new empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** The URL of database `name` on this server. */
  urlOf(name: string): string;
  /** Stops the server (fast shutdown) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of startPostgres. */
export interface StartPostgresOptions {
  /** Keep fsync on (slower; only for tests of PostgreSQL's own durability). @default false */
  fsync?: boolean;
  /** Extra server settings (`-c key=value`). */
  settings?: Record<string, string>;
  /** How long to wait for the server to accept connections. @default 30000 */
  readyTimeoutMs?: number;
}

const BINARIES = ['initdb', 'postgres'] as const;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directory holding initdb and postgres (PATH, /usr/local/bin, /usr/lib/postgresql/<newest>/bin). */
export function findPostgresBinDir(): string {
  const candidates = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  candidates.push('/usr/local/bin');
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).sort((a, b) => Number(b) - Number(a) || b.localeCompare(a));
    for (const v of versions) candidates.push(path.join(debian, v, 'bin'));
  }
  for (const dir of candidates) {
    if (BINARIES.every((b) => isExecutable(path.join(dir, b)))) return dir;
  }
  throw new Error(
    `PostgreSQL binaries (${BINARIES.join(', ')}) not found in PATH, /usr/local/bin or /usr/lib/postgresql/*/bin; ` +
      'install them (apt-get install postgresql)',
  );
}

/** uid/gid of the `postgres` OS user, to run initdb and the server when we are root. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (fields === undefined || fields.length < 4) {
    throw new Error('running as root, but there is no `postgres` OS user to run initdb and postgres as');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

let databaseCounter = 0;

/** Starts a fresh PostgreSQL server; call stop() when done. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = findPostgresBinDir();
  const user = postgresUser();
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const owner = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: 'C', LC_ALL: 'C' };
  if (user !== undefined) chownSync(dir, user.uid, user.gid);

  const init = spawnSync(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync', '--no-instructions'],
    { ...owner, env, cwd: dir, encoding: 'utf8' },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr || init.error?.message}`);
  }

  const port = await freePort();
  const host = '127.0.0.1';
  const settings: Record<string, string> = {
    listen_addresses: host,
    max_connections: '200',
    fsync: options.fsync === true ? 'on' : 'off',
    ...(options.fsync === true ? {} : { synchronous_commit: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };
  const args = ['-D', dataDir, '-p', String(port), '-k', dir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const logFd = openSync(logFile, 'a');
  if (user !== undefined) chownSync(logFile, user.uid, user.gid);
  let child: ChildProcess;
  try {
    child = spawn(path.join(bin, 'postgres'), args, { ...owner, env, cwd: dir, stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  let exited = false;
  const exit = once(child, 'exit').then(() => {
    exited = true;
  });

  // If the test process ends without stop(), do not leave a server behind.
  const onExit = (): void => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const urlOf = (name: string): string => `postgres://postgres@${host}:${port}/${encodeURIComponent(name)}`;
  const url = urlOf('postgres');

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    if (!exited) {
      child.kill('SIGINT'); // fast shutdown: disconnects clients
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const log = tail(logFile);
      await stop();
      throw new Error(`postgres exited during start-up:\n${log}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        const log = tail(logFile);
        await stop();
        throw new Error(`postgres did not accept connections in time (${String(err)}):\n${log}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    url,
    host,
    port,
    dir,
    urlOf,
    stop,
    async createDatabase(name = `test_${process.pid}_${++databaseCounter}`): Promise<string> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      } finally {
        await client.end();
      }
      return urlOf(name);
    },
  };
}

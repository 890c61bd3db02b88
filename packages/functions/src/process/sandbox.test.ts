/**
 * Tests of `isolation: sandbox` with the real bubblewrap: what a sandboxed
 * handler can see and change, how its exit comes back, and that it runs inside
 * the instance's memory cgroup when wrapped by cgroupWrap.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { cgroupWrap, detectCgroups, type CgroupSupport, type InstanceCgroup } from './cgroup.js';
import { findBubblewrap, requireBubblewrap, sandboxCommand } from './sandbox.js';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[]): { pid: number; exit: Promise<Exit>; ready: Promise<void> } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('ready\n')) onReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  return { pid: child.pid, exit, ready };
}

let bwrap: string;
let work: string;

beforeAll(() => {
  const found = findBubblewrap();
  if (found === null) throw new Error('these tests need bubblewrap: apt-get install bubblewrap');
  bwrap = found;
});

beforeEach(() => {
  // under /tmp on purpose: binds must stay visible on top of the sandbox's private /tmp
  work = mkdtempSync('/tmp/aether-sandbox-');
});

afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Runs a shell script in a sandbox with `work` writable and cwd `/`. */
function sandboxed(script: string, options: { writable?: string[]; readOnly?: string[]; cwd?: string } = {}) {
  const { command, args } = sandboxCommand({
    bwrap,
    command: '/bin/sh',
    args: ['-c', script],
    cwd: options.cwd ?? '/',
    writable: options.writable ?? [work],
    readOnly: options.readOnly ?? [],
  });
  return run(command, args).exit;
}

describe('findBubblewrap', () => {
  it('finds bwrap on PATH, and /usr/bin/bwrap when PATH has none', () => {
    expect(bwrap).toMatch(/\/bwrap$/);
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'bwrap'), '#!/bin/sh\n');
    chmodSync(join(bin, 'bwrap'), 0o755);
    expect(findBubblewrap({ path: `relative/dir:${bin}:/usr/bin` })).toBe(join(bin, 'bwrap'));
    expect(findBubblewrap({ path: '' })).toBe(existsSync('/usr/bin/bwrap') ? '/usr/bin/bwrap' : null);
    expect(requireBubblewrap({ path: bin })).toBe(join(bin, 'bwrap'));
  });
});

describe('sandboxCommand', () => {
  it('unshares pid, ipc and uts, drops capabilities, mounts / read-only with a private /tmp, then binds the dirs', () => {
    const { command, args } = sandboxCommand({
      bwrap: '/usr/bin/bwrap',
      command: '/srv/fn/handler.py',
      args: ['--port', '8080'],
      cwd: '/srv/fn',
      writable: ['/tmp/aether/run/fn-1/i-1', '/var/lib/aether'],
      readOnly: ['/tmp/aether'],
    });
    expect(command).toBe('/usr/bin/bwrap');
    expect(args).toEqual([
      ...['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session'],
      ...['--cap-drop', 'ALL', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'],
      ...['--ro-bind', '/tmp/aether', '/tmp/aether'],
      ...['--bind', '/var/lib/aether', '/var/lib/aether'],
      ...['--bind', '/tmp/aether/run/fn-1/i-1', '/tmp/aether/run/fn-1/i-1'],
      ...['--chdir', '/srv/fn', '--', '/srv/fn/handler.py', '--port', '8080'],
    ]);
    expect(args).not.toContain('--unshare-net');
  });
});

describe('a sandboxed process', () => {
  it('runs in its own pid namespace with a low pid', async () => {
    const exit = await sandboxed('echo $$');
    expect(exit.code).toBe(0);
    expect(Number(exit.stdout.trim())).toBeLessThanOrEqual(2);
  });

  it('has its own pid, ipc and uts namespaces and shares the host network', async () => {
    const kinds = ['pid', 'ipc', 'uts', 'net'] as const;
    const exit = await sandboxed(kinds.map((kind) => `readlink /proc/self/ns/${kind}`).join('; '));
    const inside = exit.stdout.trim().split('\n');
    const host = kinds.map((kind) => readlinkSync(`/proc/self/ns/${kind}`));
    expect(inside).toHaveLength(4);
    expect(inside[0]).not.toBe(host[0]);
    expect(inside[1]).not.toBe(host[1]);
    expect(inside[2]).not.toBe(host[2]);
    expect(inside[3]).toBe(host[3]);
  });

  it('has no capabilities, so it can neither set the hostname nor remount / read-write', async () => {
    const exit = await sandboxed(
      'grep CapEff /proc/self/status; hostname aether-sandbox-test || echo hostname-failed; ' +
        'mount -o remount,rw,bind / / || echo mount-failed',
    );
    expect(exit.stdout).toContain('CapEff:\t0000000000000000');
    expect(exit.stdout).toContain('hostname-failed');
    expect(exit.stdout).toContain('mount-failed');
    expect(hostname()).not.toBe('aether-sandbox-test');
  });

  it('cannot write under /', async () => {
    const file = `/usr/aether-sandbox-test-${process.pid}`;
    const exit = await sandboxed(`echo x > ${file}`);
    expect(exit.code).not.toBe(0);
    expect(exit.stderr).toContain('Read-only file system');
    expect(existsSync(file)).toBe(false);
  });

  it('gets an empty private /tmp: host files are hidden and its own files stay inside', async () => {
    writeFileSync(join(work, 'host-file'), 'host');
    const inside = `/tmp/aether-sandbox-inside-${process.pid}`;
    const exit = await sandboxed(`ls -A /tmp; echo sandbox > ${inside} && cat ${inside}`, { writable: [] });
    expect(exit).toMatchObject({ code: 0, stdout: 'sandbox\n' });
    expect(existsSync(inside)).toBe(false);
  });

  it('can write its writable dirs, even under /tmp, and shares them with the host', async () => {
    writeFileSync(join(work, 'from-host'), 'host');
    const exit = await sandboxed(`cat ${work}/from-host; echo sandbox > ${work}/from-sandbox; ls -A /tmp`);
    expect(exit.code).toBe(0);
    expect(exit.stdout).toBe(`host${work.split('/')[2]}\n`);
    expect(readFileSync(join(work, 'from-sandbox'), 'utf8')).toBe('sandbox\n');
  });

  it('can read but not write its read-only dirs, and starts in its cwd', async () => {
    const handlerDir = join(work, 'handler');
    mkdirSync(handlerDir);
    writeFileSync(join(handlerDir, 'handler.sh'), 'echo "handler in $(pwd)"\n');
    const exit = await sandboxed('sh ./handler.sh; echo x > ./new || echo write-failed', {
      writable: [],
      readOnly: [handlerDir],
      cwd: handlerDir,
    });
    expect(exit.stdout).toBe(`handler in ${handlerDir}\nwrite-failed\n`);
    expect(existsSync(join(handlerDir, 'new'))).toBe(false);
  });

  it('passes its exit code back through bwrap, and a death by signal as 128 + n', async () => {
    expect(await sandboxed('exit 42')).toMatchObject({ code: 42, signal: null });
    expect(await sandboxed('kill -9 $$')).toMatchObject({ code: 137, signal: null });
  });
});

describe('a sandboxed process in a memory cgroup', () => {
  const group = `aether-test-sandbox-${process.pid}`;
  let cgroups: CgroupSupport;
  let cg: InstanceCgroup | undefined;

  beforeAll(() => {
    cgroups = detectCgroups({ group });
    if (cgroups.kind === 'none') {
      throw new Error(`these tests need a writable memory cgroup (run as root): ${cgroups.detail}`);
    }
  });

  afterEach(() => {
    if (cg === undefined) return;
    for (const pid of cg.pids()) process.kill(pid, 'SIGKILL');
    cg.remove();
    cg = undefined;
  });

  afterAll(() => {
    if (cgroups.parentPath !== null) rmdirSync(cgroups.parentPath);
  });

  function start(script: string) {
    cg = cgroups.create('sandboxed', 64 * 1024 * 1024);
    const inner = sandboxCommand({ bwrap, command: '/bin/sh', args: ['-c', script], cwd: '/', writable: [work] });
    const { command, args } = cgroupWrap(cg.procsFile, inner.command, inner.args);
    return { cg, ...run(command, args) };
  }

  it('runs inside the cgroup with bubblewrap, and its exit code comes back', async () => {
    const { cg, pid, exit } = start('cat /proc/self/cgroup; exit 7');
    const relative = cg.path.slice(cg.path.indexOf(group) - 1);
    const result = await exit;
    expect(result.code).toBe(7);
    const membership = cg.kind === 'v1' ? expect.stringMatching(`^\\d+:memory:${relative}$`) : `0::${relative}`;
    expect(result.stdout.split('\n')).toEqual(expect.arrayContaining([membership]));
    expect(pid).toBeGreaterThan(0);
  });

  it('puts bubblewrap and every process of the sandbox in the cgroup, and all die with bubblewrap', async () => {
    const { cg, pid, exit, ready } = start('echo ready; exec sleep 600');
    await ready;
    // bubblewrap, its init in the new pid namespace, and the handler
    expect(cg.pids()).toContain(pid);
    expect(cg.pids().length).toBeGreaterThanOrEqual(3);
    process.kill(pid, 'SIGKILL');
    expect(await exit).toMatchObject({ signal: 'SIGKILL' });
    await vi.waitFor(() => expect(cg.pids()).toEqual([]), { timeout: 5000, interval: 10 });
  });

  it('reports an OOM kill of the sandboxed handler as exit code 137 of bubblewrap', async () => {
    const program = "import sys; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])";
    const { cg, exit } = start(`exec /usr/bin/python3 -c "${program}"`);
    expect(await exit).toMatchObject({ code: 137, signal: null });
    expect(cg.oomKills()).toBeGreaterThanOrEqual(1);
  });
});

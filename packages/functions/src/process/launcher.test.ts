/**
 * Tests of the launcher with real processes: what a launched handler gets
 * (environment, cwd, arguments, its memory group), and the spares that wait
 * inside a bubblewrap sandbox: taken by a launch through the same sandbox,
 * started again after, killed on close and with the process that started them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { detectCgroups } from './cgroup.js';
import { createLauncher, type Launcher } from './launcher.js';
import { findBubblewrap, sandboxPrefix } from './sandbox.js';

const LAUNCHER_MODULE = fileURLToPath(new URL('./launcher.ts', import.meta.url));
const bwrap = findBubblewrap();

let runDir: string;
let launcher: Launcher | undefined;

beforeEach(() => {
  // under /tmp on purpose: the sandbox shows it read-write on top of its private /tmp
  runDir = mkdtempSync('/tmp/aether-launcher-');
});

afterEach(async () => {
  await launcher?.close();
  launcher = undefined;
  rmSync(runDir, { recursive: true, force: true });
});

/** Resolves with the child's stdout and exit code once it has closed. */
function outcome(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function isRunning(pid: number): boolean {
  try {
    // a zombie still has /proc/<pid>, but state Z
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** `root` and its descendants, from /proc (across pid namespaces: host pids). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

/** The sandbox of these tests: `runDir` writable (where long launch lines go), cwd `/`. */
function sandboxWrap(): string[] {
  return sandboxPrefix({ bwrap: bwrap!, cwd: '/', writable: [runDir] });
}

/** The spare's stub once it waits inside bubblewrap (its pid runs bwrap, with the shell below). */
async function waitingSpare(spare: { pid: number | null }): Promise<number> {
  let pid: number | null = null;
  await vi.waitFor(
    () => {
      pid = spare.pid;
      expect(pid).not.toBeNull();
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe(bwrap);
      // bwrap, its init in the new pid namespace, and the waiting shell
      expect(processTree(pid!).length).toBeGreaterThanOrEqual(3);
    },
    { timeout: 5000, interval: 10 },
  );
  return pid!;
}

describe('launch', () => {
  it("runs the command in the instance's cwd with its arguments and environment, quotes and newlines intact", async () => {
    launcher = createLauncher(null, runDir, { PATH: process.env['PATH'], GONE: 'base only', KEPT: 'same' });
    const { child } = launcher.launch({
      name: 'env.i1',
      command: '/bin/sh',
      args: ['-c', 'printf "%s|%s|%s|%s|%s" "$PWD" "$1" "$QUOTED" "$LINES" "${GONE-unset}"', 'sh', "an 'arg'"],
      cwd: runDir,
      env: { PATH: process.env['PATH'], KEPT: 'same', QUOTED: `it's "quoted" $HOME \\`, LINES: 'one\ntwo\n' },
      limitBytes: 64 << 20,
    });
    const out = await outcome(child);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.stdout).toBe(`${runDir}|an 'arg'|it's "quoted" $HOME \\|one\ntwo\n|unset`);
  });

  it('passes an environment too long for one line through a script file that it removes', async () => {
    launcher = createLauncher(null, runDir, { PATH: process.env['PATH'] });
    const big = 'x'.repeat(20_000);
    const { child } = launcher.launch({
      name: 'big.i1',
      command: '/bin/sh',
      args: ['-c', 'printf "%s" "${#BIG}"'],
      cwd: runDir,
      env: { PATH: process.env['PATH'], BIG: big },
      limitBytes: 64 << 20,
    });
    expect(await outcome(child)).toMatchObject({ code: 0, stdout: '20000' });
    expect(readdirSync(runDir)).toEqual([]);
  });

  it("starts the handler inside the stub's memory group with the instance's limit", async () => {
    const cgroups = detectCgroups({ group: `aether-test/launcher-${process.pid}` });
    if (cgroups.kind === 'none')
      throw new Error(`this test needs a writable memory cgroup (run as root): ${cgroups.detail}`);
    launcher = createLauncher(cgroups, runDir);
    await launcher.ready();
    const { child, cgroup } = launcher.launch({
      name: 'cg.i1',
      command: '/bin/sh',
      args: ['-c', 'cat /proc/self/cgroup'],
      cwd: runDir,
      env: { PATH: process.env['PATH'] },
      limitBytes: 96 << 20,
    });
    const out = await outcome(child);
    expect(out.code).toBe(0);
    expect(cgroup).not.toBeNull();
    expect(out.stdout).toContain(`/${cgroup!.name}\n`);
    expect(cgroup!.limitBytes).toBe(96 << 20);
    cgroup!.remove();
    await launcher.close();
    launcher = undefined;
    rmdirSync(cgroups.parentPath!);
  });
});

describe('spares', () => {
  beforeAll(() => {
    if (bwrap === null) throw new Error('these tests need bubblewrap: apt-get install bubblewrap');
  });

  it('takes the spare for a launch through the same sandbox, which then runs sandboxed, and starts another', async () => {
    launcher = createLauncher(null, runDir);
    const wrap = sandboxWrap();
    const spare = launcher.spare(wrap);
    const first = await waitingSpare(spare);
    const { child } = launcher.launch({
      name: 'spare.i1',
      command: '/bin/sh',
      // a private /tmp (runDir is bound on top of it), a read-only /, a pid namespace whose init is bwrap's
      args: ['-c', 'ls /tmp; touch /usr/x 2>/dev/null && echo writable; readlink /proc/1/exe'],
      cwd: '/',
      env: { PATH: process.env['PATH'] },
      limitBytes: 64 << 20,
      wrap,
      spare,
    });
    expect(child.pid).toBe(first);
    const out = await outcome(child);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`${path.basename(runDir)}\n${bwrap}\n`);
    const second = await waitingSpare(spare);
    expect(second).not.toBe(first);
    await spare.close();
  });

  it('leaves the spare waiting for a launch through another sandbox, which runs through its own', async () => {
    launcher = createLauncher(null, runDir);
    const spare = launcher.spare(sandboxWrap());
    const waiting = await waitingSpare(spare);
    const other = sandboxPrefix({ bwrap: bwrap!, cwd: runDir, writable: [runDir] });
    const { child } = launcher.launch({
      name: 'other.i1',
      command: '/bin/sh',
      args: ['-c', 'pwd'],
      cwd: runDir,
      env: { PATH: process.env['PATH'] },
      limitBytes: 64 << 20,
      wrap: other,
      spare,
    });
    expect(child.pid).not.toBe(waiting);
    expect(await outcome(child)).toMatchObject({ code: 0, stdout: `${runDir}\n` });
    expect(spare.pid).toBe(waiting);
    await spare.close();
  });

  it('kills the spare and everything inside its sandbox on close, and starts no more', async () => {
    launcher = createLauncher(null, runDir);
    const spare = launcher.spare(sandboxWrap());
    const tree = processTree(await waitingSpare(spare));
    await spare.close();
    expect(spare.pid).toBeNull();
    await vi.waitFor(() => expect(tree.filter(isRunning)).toEqual([]), { timeout: 5000, interval: 10 });
  });

  it('kills the spares when the launcher closes', async () => {
    launcher = createLauncher(null, runDir);
    const spare = launcher.spare(sandboxWrap());
    const tree = processTree(await waitingSpare(spare));
    await launcher.close();
    launcher = undefined;
    await vi.waitFor(() => expect(tree.filter(isRunning)).toEqual([]), { timeout: 5000, interval: 10 });
  });

  it('dies with the process that started it, even on SIGKILL', async () => {
    const script = `
      const [mod, runDir, wrap] = process.argv.slice(1);
      const { createLauncher } = await import(mod);
      const spare = createLauncher(null, runDir).spare(JSON.parse(wrap));
      const timer = setInterval(() => {
        if (spare.pid !== null) { console.log(spare.pid); clearInterval(timer); setInterval(() => {}, 60_000); }
      }, 5);`;
    const owner = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, LAUNCHER_MODULE, runDir, JSON.stringify(sandboxWrap())],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const closed = new Promise((resolve) => owner.on('close', resolve));
    let out = '';
    owner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await vi.waitFor(() => expect(out).toMatch(/^\d+\n/), { timeout: 10_000, interval: 10 });
      const tree = processTree(await waitingSpare({ pid: Number(out.trim()) }));
      owner.kill('SIGKILL');
      await closed;
      await vi.waitFor(() => expect(tree.filter(isRunning)).toEqual([]), { timeout: 5000, interval: 10 });
    } finally {
      owner.kill('SIGKILL');
    }
  });
});

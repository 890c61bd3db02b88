/**
 * Tests of instance memory cgroups: detection and file writes against fake
 * cgroup roots in temp dirs, then real limits and OOM kills on this host's
 * cgroup (v1 on the test VMs, whose v2 has no memory controller).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AetherError } from '@aether/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cgroupWrap, cleanupStaleCgroups, detectCgroups, type CgroupSupport, type InstanceCgroup } from './cgroup.js';

const MB = 1024 * 1024;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns a command and resolves when it has exited and its output is closed. */
function run(command: string, args: string[], onStdout?: (text: string) => void): { pid: number; exit: Promise<Exit> } {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onStdout?.(stdout);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  return { pid: child.pid, exit };
}

function getError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('cgroup detection and limits on fake cgroup roots', () => {
  let dir: string;
  let v2Root: string;
  let v1Root: string;

  function fakeV2(controllers: string): void {
    mkdirSync(v2Root);
    writeFileSync(join(v2Root, 'cgroup.controllers'), controllers);
    writeFileSync(join(v2Root, 'cgroup.subtree_control'), '');
  }

  function fakeV1(): void {
    mkdirSync(v1Root);
    writeFileSync(join(v1Root, 'memory.limit_in_bytes'), '9223372036854771712\n');
  }

  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aether-cgroup-'));
    v2Root = join(dir, 'v2');
    v1Root = join(dir, 'v1');
  });

  it('picks v2 when its controllers list memory and enables memory down to the parent group', () => {
    fakeV2('cpu memory pids\n');
    fakeV1();
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root, group: 'aether' });
    expect(cgroups.kind).toBe('v2');
    expect(cgroups.detail).toBe(`cgroup v2 memory controller at ${v2Root}`);
    expect(cgroups.parentPath).toBe(join(v2Root, 'aether'));
    expect(readFileSync(join(v2Root, 'cgroup.subtree_control'), 'utf8')).toBe('+memory');
    expect(readFileSync(join(v2Root, 'aether', 'cgroup.subtree_control'), 'utf8')).toBe('+memory');
  });

  it('does not rewrite a subtree_control that already has memory, and enables every level of a nested group', () => {
    fakeV2('memory\n');
    writeFileSync(join(v2Root, 'cgroup.subtree_control'), 'cpu memory\n');
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root, group: 'aether/node-1' });
    expect(cgroups.kind).toBe('v2');
    expect(readFileSync(join(v2Root, 'cgroup.subtree_control'), 'utf8')).toBe('cpu memory\n');
    expect(readFileSync(join(v2Root, 'aether', 'cgroup.subtree_control'), 'utf8')).toBe('+memory');
    expect(readFileSync(join(v2Root, 'aether', 'node-1', 'cgroup.subtree_control'), 'utf8')).toBe('+memory');
    expect(cgroups.parentPath).toBe(join(v2Root, 'aether', 'node-1'));
  });

  it('creates a v2 leaf with memory.max, no swap and group OOM kills, and reads memory.current and memory.events', () => {
    fakeV2('cpu memory pids\n');
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root });
    // the kernel creates these files with the directory; the fake creates them beforehand
    const leaf = join(v2Root, 'aether', 'i-1');
    mkdirSync(leaf);
    writeFileSync(join(leaf, 'memory.swap.max'), 'max\n');
    writeFileSync(join(leaf, 'memory.oom.group'), '0\n');

    const cg = cgroups.create('i-1', 64 * MB);
    expect(cg).toMatchObject({ kind: 'v2', name: 'i-1', path: leaf, procsFile: join(leaf, 'cgroup.procs') });
    expect(cg.limitBytes).toBe(64 * MB);
    expect(readFileSync(join(leaf, 'memory.max'), 'utf8')).toBe(String(64 * MB));
    expect(readFileSync(join(leaf, 'memory.swap.max'), 'utf8')).toBe('0');
    expect(readFileSync(join(leaf, 'memory.oom.group'), 'utf8')).toBe('1');

    expect(cg.memoryBytes()).toBeNull();
    expect(cg.oomKills()).toBe(0);
    writeFileSync(join(leaf, 'memory.current'), '12345678\n');
    writeFileSync(join(leaf, 'memory.events'), 'low 0\nhigh 0\nmax 40\noom 3\noom_kill 2\noom_group_kill 1\n');
    writeFileSync(join(leaf, 'cgroup.procs'), '101\n102\n');
    expect(cg.memoryBytes()).toBe(12345678);
    expect(cg.oomKills()).toBe(2);
    expect(cg.pids()).toEqual([101, 102]);
  });

  it('writes no memory.swap.max or memory.oom.group where the kernel has none', () => {
    fakeV2('memory');
    const cg = detectCgroups({ v2Root, v1MemoryRoot: v1Root }).create('i-2', 32 * MB);
    expect(readFileSync(join(cg.path, 'memory.max'), 'utf8')).toBe(String(32 * MB));
    expect(existsSync(join(cg.path, 'memory.swap.max'))).toBe(false);
    expect(existsSync(join(cg.path, 'memory.oom.group'))).toBe(false);
  });

  it('falls back to v1 when v2 has no memory controller, and says why', () => {
    fakeV2('cpu pids\n');
    fakeV1();
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root });
    expect(cgroups.kind).toBe('v1');
    expect(cgroups.detail).toBe(
      `cgroup v1 memory controller at ${v1Root} (cgroup v2 at ${v2Root} has no memory controller)`,
    );
    expect(cgroups.parentPath).toBe(join(v1Root, 'aether'));
    // v2 was left untouched
    expect(readFileSync(join(v2Root, 'cgroup.subtree_control'), 'utf8')).toBe('');
  });

  it('falls back to v1 when memory cannot be enabled in the v2 subtree_control chain', () => {
    fakeV2('memory\n');
    fakeV1();
    // a directory where subtree_control should be: the write fails as EBUSY would on a real group with processes
    mkdirSync(join(v2Root, 'aether', 'cgroup.subtree_control'), { recursive: true });
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root });
    expect(cgroups.kind).toBe('v1');
    expect(cgroups.detail).toContain(`cgroup v2 at ${v2Root} cannot enable the memory controller for ${v2Root}/aether`);
  });

  it('creates a v1 leaf with memory.limit_in_bytes and the same memsw limit, and reads usage and oom_control', () => {
    fakeV1();
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root });
    expect(cgroups.kind).toBe('v1');
    expect(cgroups.detail).toBe(`cgroup v1 memory controller at ${v1Root} (no cgroup v2 at ${v2Root})`);
    const leaf = join(v1Root, 'aether', 'i-3');
    mkdirSync(leaf);
    writeFileSync(join(leaf, 'memory.memsw.limit_in_bytes'), '9223372036854771712\n');

    const cg = cgroups.create('i-3', 48 * MB);
    expect(readFileSync(join(leaf, 'memory.limit_in_bytes'), 'utf8')).toBe(String(48 * MB));
    expect(readFileSync(join(leaf, 'memory.memsw.limit_in_bytes'), 'utf8')).toBe(String(48 * MB));
    writeFileSync(join(leaf, 'memory.usage_in_bytes'), '2097152\n');
    writeFileSync(join(leaf, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 5\n');
    expect(cg.memoryBytes()).toBe(2 * MB);
    expect(cg.oomKills()).toBe(5);
  });

  it("reports 'none' with both reasons, and create() throws AETHER_E_FN_LIMIT_UNAVAILABLE", () => {
    fakeV2('cpu io\n');
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root });
    expect(cgroups.kind).toBe('none');
    expect(cgroups.parentPath).toBeNull();
    expect(cgroups.detail).toBe(
      `no cgroup can limit memory: cgroup v2 at ${v2Root} has no memory controller; no cgroup v1 memory controller at ${v1Root}`,
    );
    const error = getError(() => cgroups.create('i-4', 64 * MB));
    expect(error).toBeInstanceOf(AetherError);
    expect(error).toMatchObject({ name: 'TerminalError', code: 'AETHER_E_FN_LIMIT_UNAVAILABLE' });
    expect(cleanupStaleCgroups(cgroups)).toEqual({ removed: [], kept: [] });
  });

  it('rejects instance names that are not one path segment and limits that are not positive integers', () => {
    fakeV2('memory');
    const cgroups = detectCgroups({ v2Root, v1MemoryRoot: v1Root });
    for (const name of ['', '..', '../escape', 'a/b', 'a b']) {
      expect(getError(() => cgroups.create(name, MB))).toMatchObject({ code: 'AETHER_E_INVALID_ARGUMENT' });
    }
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(getError(() => cgroups.create('ok', limit))).toMatchObject({ code: 'AETHER_E_INVALID_ARGUMENT' });
    }
    expect(getError(() => detectCgroups({ v2Root, group: '../x' }))).toMatchObject({
      code: 'AETHER_E_INVALID_ARGUMENT',
    });
  });
});

describe('cgroupWrap', () => {
  it('builds a shell that writes its own pid to the procs file and execs the command', () => {
    expect(cgroupWrap('/sys/fs/cgroup/memory/aether/i-1/cgroup.procs', '/usr/bin/env', ['a b', ''])).toEqual({
      command: '/bin/sh',
      args: [
        '-c',
        'echo $$ > "$0" && exec "$@"',
        '/sys/fs/cgroup/memory/aether/i-1/cgroup.procs',
        '/usr/bin/env',
        'a b',
        '',
      ],
    });
  });

  it('does not run the command when the pid cannot be written', async () => {
    const { command, args } = cgroupWrap('/nonexistent/cgroup.procs', '/bin/echo', ['ran']);
    const exit = await run(command, args).exit;
    expect(exit.code).not.toBe(0);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).toContain('/nonexistent/cgroup.procs');
  });
});

describe("this host's memory cgroup", () => {
  const group = `aether-test-cgroup-${process.pid}`;
  let cgroups: CgroupSupport;
  const created: InstanceCgroup[] = [];

  function create(name: string, limitBytes: number): InstanceCgroup {
    const cg = cgroups.create(name, limitBytes);
    created.push(cg);
    return cg;
  }

  beforeAll(() => {
    cgroups = detectCgroups({ group });
    if (cgroups.kind === 'none') {
      throw new Error(`these tests need a writable memory cgroup (run as root): ${cgroups.detail}`);
    }
  });

  afterEach(() => {
    for (const cg of created.splice(0)) {
      for (const pid of cg.pids()) process.kill(pid, 'SIGKILL');
      cg.remove();
    }
  });

  afterAll(() => {
    if (cgroups.parentPath !== null) rmdirSync(cgroups.parentPath);
  });

  it('is detected as v1 where cgroup v2 has no memory controller, and as v2 where it has one', () => {
    const v2Root = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
    let controllers: string | null = null;
    try {
      controllers = readFileSync(join(v2Root, 'cgroup.controllers'), 'utf8');
    } catch {
      // no cgroup v2 at all
    }
    if (controllers?.split(/\s+/).includes('memory')) {
      expect(cgroups.kind).toBe('v2');
      expect(cgroups.detail).toBe(`cgroup v2 memory controller at ${v2Root}`);
    } else {
      expect(cgroups.kind).toBe('v1');
      const why =
        controllers === null ? `no cgroup v2 at ${v2Root}` : `cgroup v2 at ${v2Root} has no memory controller`;
      // on the test VMs: cgroup v1 memory controller at /sys/fs/cgroup/memory (cgroup v2 at /sys/fs/cgroup/unified has no memory controller)
      expect(cgroups.detail).toBe(`cgroup v1 memory controller at /sys/fs/cgroup/memory (${why})`);
    }
  });

  it('SIGKILLs a process that allocates past the limit and counts the OOM kill', async () => {
    const cg = create('oom', 32 * MB);
    if (cg.kind === 'v1') {
      expect(readFileSync(join(cg.path, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(32 * MB));
      const memsw = join(cg.path, 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) expect(readFileSync(memsw, 'utf8').trim()).toBe(String(32 * MB));
    }
    expect(cg.oomKills()).toBe(0);
    const program = [
      'chunks = []',
      'for i in range(200):',
      '    b = bytearray(1024 * 1024)',
      "    b[::4096] = b'x' * len(b[::4096])",
      '    chunks.append(b)',
      "print('allocated 200 MB')",
    ].join('\n');
    const { command, args } = cgroupWrap(cg.procsFile, '/usr/bin/python3', ['-c', program]);
    const exit = await run(command, args).exit;
    // the shell exec'd python, so Node sees python's own death: a signal, not exit code 137
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL', stdout: '' });
    expect(cg.oomKills()).toBeGreaterThanOrEqual(1);
    expect(cg.pids()).toEqual([]);
    expect(cg.remove()).toBe(true);
    expect(existsSync(cg.path)).toBe(false);
  });

  it('runs a process under the limit inside the group, charges its memory there, and passes exit 0 through', async () => {
    const cg = create('fits', 64 * MB);
    const program = [
      'import sys',
      'b = bytearray(8 * 1024 * 1024)',
      "b[::4096] = b'x' * len(b[::4096])",
      "print('ready', flush=True)",
      'sys.stdin.read()',
    ].join('\n');
    const { command, args } = cgroupWrap(cg.procsFile, '/usr/bin/python3', ['-c', program]);
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && onReady());
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await ready;

    const pid = child.pid!;
    expect(cg.pids()).toEqual([pid]);
    const relative = cg.path.slice(cg.path.indexOf(group) - 1);
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const membership = cg.kind === 'v1' ? expect.stringMatching(`^\\d+:memory:${relative}$`) : `0::${relative}`;
    expect(lines).toEqual(expect.arrayContaining([membership]));
    const bytes = cg.memoryBytes();
    expect(bytes).toBeGreaterThan(8 * MB);
    expect(bytes).toBeLessThanOrEqual(64 * MB);

    child.stdin.end();
    expect(await exited).toBe(0);
    expect(cg.oomKills()).toBe(0);
  });

  it('passes argv and the exit code through unchanged', async () => {
    const cg = create('argv', 64 * MB);
    const argv = ['a b', '', '$HOME', "it's", '"q"', 'line\nbreak', '-c', '*'];
    const program = 'import sys, json; print(json.dumps(sys.argv[1:])); sys.exit(42)';
    const { command, args } = cgroupWrap(cg.procsFile, '/usr/bin/python3', ['-c', program, ...argv]);
    const exit = await run(command, args).exit;
    expect(exit.code).toBe(42);
    expect(JSON.parse(exit.stdout)).toEqual(argv);
  });

  it('removes empty leftover groups and keeps those with processes', async () => {
    create('leftover', 16 * MB);
    const busy = create('busy', 16 * MB);
    const { command, args } = cgroupWrap(busy.procsFile, '/bin/sh', ['-c', 'echo ready; exec sleep 600']);
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const sleeper = run(command, args, () => onReady());
    await ready;

    expect(cleanupStaleCgroups(cgroups)).toEqual({ removed: ['leftover'], kept: ['busy'] });
    expect(existsSync(join(cgroups.parentPath!, 'leftover'))).toBe(false);
    expect(busy.remove()).toBe(false);

    process.kill(sleeper.pid, 'SIGKILL');
    await sleeper.exit;
    expect(busy.remove()).toBe(true);
  });
});

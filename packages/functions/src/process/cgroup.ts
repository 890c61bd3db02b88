/**
 * Memory limits for process-function instances (memory_limit_mb). The kernel
 * enforces them through a memory cgroup per instance: cgroup v2 on most hosts,
 * cgroup v1 where v2 has no memory controller (as on our test VMs). Which one is
 * usable is decided once at start and reported; without either, a limit cannot
 * be honoured and creating one fails instead of running the instance unlimited.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { TerminalError } from '@aether/core';

/** Which cgroup version limits memory on this host. */
export type CgroupKind = 'v2' | 'v1' | 'none';

/** Where to look for cgroups and which parent group to use. */
export interface DetectCgroupsOptions {
  /**
   * The cgroup v2 mount.
   * @default '/sys/fs/cgroup' when it is a cgroup2 mount (has cgroup.controllers), else '/sys/fs/cgroup/unified'
   */
  v2Root?: string;
  /**
   * The cgroup v1 memory hierarchy.
   * @default '/sys/fs/cgroup/memory'
   */
  v1MemoryRoot?: string;
  /**
   * The parent group created under the root; instances are leaf groups below it.
   * A relative path (`aether`, `aether/test-1`) without `.` or `..` segments.
   * @default 'aether'
   */
  group?: string;
}

/** {@link DetectCgroupsOptions} with every default filled in. */
export interface ResolvedDetectCgroupsOptions {
  v2Root: string;
  v1MemoryRoot: string;
  group: string;
}

/** The memory cgroup of one instance. */
export interface InstanceCgroup {
  readonly kind: 'v1' | 'v2';
  /** The instance's name, the leaf directory's name. */
  readonly name: string;
  /** The leaf group's directory, `<root>/<group>/<name>`. */
  readonly path: string;
  /** Write a pid here to move that process into the group (see {@link cgroupWrap}). */
  readonly procsFile: string;
  /** The limit written, in bytes (the kernel rounds it to pages). */
  readonly limitBytes: number;
  /** Writes another limit (e.g. when a pre-started group is given to an instance). */
  setLimit(limitBytes: number): void;
  /** Memory charged to the group now (v1 memory.usage_in_bytes, v2 memory.current); null once it is gone. */
  memoryBytes(): number | null;
  /** Processes the kernel OOM-killed in the group (the `oom_kill` line of v1 memory.oom_control, kernel >= 4.13, or of v2 memory.events); 0 when unknown. */
  oomKills(): number;
  /** The pids in the group now (e.g. to signal a sandboxed handler past bubblewrap); empty once it is gone. */
  pids(): number[];
  /**
   * Removes the group (rmdir), retrying once when it is still busy.
   * @returns true when the group is gone, false when it still had processes
   */
  remove(): boolean;
}

/** What {@link detectCgroups} found. */
export interface CgroupSupport {
  readonly kind: CgroupKind;
  /** One sentence for logs and `aether list`, e.g. `cgroup v1 memory controller at /sys/fs/cgroup/memory (cgroup v2 at /sys/fs/cgroup/unified has no memory controller)`. */
  readonly detail: string;
  /** The parent group's directory instances are created under; null for 'none'. */
  readonly parentPath: string | null;
  /**
   * Creates the leaf group `<parent>/<name>` with a memory limit.
   * @throws TerminalError AETHER_E_FN_LIMIT_UNAVAILABLE when no cgroup can limit memory or the limit cannot be written
   * @throws TerminalError AETHER_E_INVALID_ARGUMENT on a bad name or limit
   */
  create(name: string, limitBytes: number): InstanceCgroup;
}

/** What {@link cleanupStaleCgroups} did, by leaf group name. */
export interface StaleCgroupCleanup {
  removed: string[];
  /** Groups that still hold processes (or children) and were left alone. */
  kept: string[];
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** Fills the defaults of {@link DetectCgroupsOptions}. */
export function resolveDetectCgroupsOptions(options: DetectCgroupsOptions = {}): ResolvedDetectCgroupsOptions {
  const group = options.group ?? 'aether';
  if (group.split('/').some((segment) => !NAME.test(segment))) {
    throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid cgroup group name ${JSON.stringify(group)}`, {
      group,
    });
  }
  return {
    v2Root:
      options.v2Root ?? (existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified'),
    v1MemoryRoot: options.v1MemoryRoot ?? '/sys/fs/cgroup/memory',
    group,
  };
}

/**
 * Decides which cgroup version can limit the memory of instances, creating the
 * parent group on the way: v2 when its memory controller exists and can be
 * enabled down to the parent group, else v1 when its memory hierarchy is
 * writable, else 'none' with the reasons in `detail`.
 * @example
 * const cgroups = detectCgroups();
 * log.info(cgroups.detail);
 * const cg = cgroups.create(instanceId, fn.memoryLimitMb * 1024 * 1024);
 * const { command, args } = cgroupWrap(cg.procsFile, handlerPath, []);
 */
export function detectCgroups(options?: DetectCgroupsOptions): CgroupSupport {
  const resolved = resolveDetectCgroupsOptions(options);
  const v2 = prepareV2(resolved);
  if ('parent' in v2) {
    return support('v2', `cgroup v2 memory controller at ${resolved.v2Root}`, v2.parent);
  }
  const v1 = prepareV1(resolved);
  if ('parent' in v1) {
    return support('v1', `cgroup v1 memory controller at ${resolved.v1MemoryRoot} (${v2.reason})`, v1.parent);
  }
  return support('none', `no cgroup can limit memory: ${v2.reason}; ${v1.reason}`, null);
}

/**
 * Removes the empty leaf groups left under the parent group by an orchestrator
 * that died without cleaning up (SIGKILL); groups with processes are kept.
 * Call it at start, before creating instances: a group created by another live
 * orchestrator with the same parent group, not yet joined by its process, looks
 * empty too.
 */
export function cleanupStaleCgroups(support: CgroupSupport): StaleCgroupCleanup {
  const result: StaleCgroupCleanup = { removed: [], kept: [] };
  if (support.parentPath === null) return result;
  for (const entry of readdirSync(support.parentPath, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(support.parentPath, entry.name);
    if (readPids(join(path, 'cgroup.procs')).length > 0 || !removeDir(path)) result.kept.push(entry.name);
    else result.removed.push(entry.name);
  }
  return result;
}

/**
 * Wraps a command so that its process joins a cgroup before it runs: a shell
 * writes its own pid to `procsFile`, then execs the command, so the handler (and
 * every process it starts) is limited from its first allocation. The pid, argv
 * and exit status are the command's own; if the pid cannot be written, the
 * command never runs and the shell exits non-zero with the error on stderr.
 * @example
 * const { command, args } = cgroupWrap(cg.procsFile, '/usr/bin/python3', ['handler.py']);
 * spawn(command, args, { stdio: 'pipe' });
 */
export function cgroupWrap(procsFile: string, command: string, args: string[]): { command: string; args: string[] } {
  // "$0" is procsFile and "$@" the command and its arguments: nothing is re-parsed by the shell
  return { command: '/bin/sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', procsFile, command, ...args] };
}

type Prepared = { parent: string } | { reason: string };

function prepareV2({ v2Root, group }: ResolvedDetectCgroupsOptions): Prepared {
  const controllers = readText(join(v2Root, 'cgroup.controllers'));
  if (controllers === null) return { reason: `no cgroup v2 at ${v2Root}` };
  if (!controllers.split(/\s+/).includes('memory')) {
    return { reason: `cgroup v2 at ${v2Root} has no memory controller` };
  }
  // v2 forbids processes in a non-root group that delegates controllers, so
  // memory is enabled in every subtree_control from the root down to the parent
  // group, and instances live in leaves below it.
  let dir = v2Root;
  for (const segment of ['', ...group.split('/')]) {
    dir = segment === '' ? dir : join(dir, segment);
    try {
      mkdirSync(dir, { recursive: true });
      const subtree = join(dir, 'cgroup.subtree_control');
      if (!(readText(subtree) ?? '').split(/\s+/).includes('memory')) writeFileSync(subtree, '+memory');
    } catch (error) {
      return { reason: `cgroup v2 at ${v2Root} cannot enable the memory controller for ${dir} (${describe(error)})` };
    }
  }
  return { parent: dir };
}

function prepareV1({ v1MemoryRoot, group }: ResolvedDetectCgroupsOptions): Prepared {
  const limitFile = join(v1MemoryRoot, 'memory.limit_in_bytes');
  if (!existsSync(limitFile)) return { reason: `no cgroup v1 memory controller at ${v1MemoryRoot}` };
  const parent = join(v1MemoryRoot, group);
  try {
    accessSync(limitFile, constants.W_OK);
    mkdirSync(parent, { recursive: true });
  } catch (error) {
    return { reason: `cgroup v1 memory controller at ${v1MemoryRoot} is not writable (${describe(error)})` };
  }
  return { parent };
}

function support(kind: CgroupKind, detail: string, parentPath: string | null): CgroupSupport {
  return {
    kind,
    detail,
    parentPath,
    create(name, limitBytes) {
      if (!NAME.test(name)) {
        throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid cgroup name ${JSON.stringify(name)}`, { name });
      }
      if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) {
        throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid memory limit ${limitBytes} bytes`, {
          name,
          limitBytes,
        });
      }
      if (kind === 'none' || parentPath === null) {
        throw new TerminalError('AETHER_E_FN_LIMIT_UNAVAILABLE', `cannot limit the memory of ${name}: ${detail}`, {
          name,
          limitBytes,
        });
      }
      const path = join(parentPath, name);
      try {
        mkdirSync(path, { recursive: true });
        if (kind === 'v2') limitV2(path, limitBytes);
        else limitV1(path, limitBytes);
      } catch (error) {
        tryRemove(path);
        throw new TerminalError(
          'AETHER_E_FN_LIMIT_UNAVAILABLE',
          `cannot limit the memory of ${name} to ${limitBytes} bytes in ${path}: ${describe(error)}`,
          { name, limitBytes, path },
          { cause: error },
        );
      }
      return instance(kind, name, path, limitBytes);
    },
  };
}

function limitV2(path: string, limitBytes: number): void {
  writeFileSync(join(path, 'memory.max'), String(limitBytes));
  // swap would let the instance exceed its limit instead of being OOM-killed
  const swapMax = join(path, 'memory.swap.max');
  if (existsSync(swapMax)) writeFileSync(swapMax, '0');
  // kill the whole instance (handler and its children) rather than one process of it
  const oomGroup = join(path, 'memory.oom.group');
  if (existsSync(oomGroup)) writeFileSync(oomGroup, '1');
}

function limitV1(path: string, limitBytes: number): void {
  // memsw (memory + swap) must stay >= limit_in_bytes: writing it before and after
  // the limit works whether the group's previous limits were higher or lower
  const memsw = join(path, 'memory.memsw.limit_in_bytes');
  const hasMemsw = existsSync(memsw);
  if (hasMemsw) ignoreErrors(() => writeFileSync(memsw, String(limitBytes)));
  writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
  if (hasMemsw) ignoreErrors(() => writeFileSync(memsw, String(limitBytes)));
  // without swap accounting, swappiness 0 keeps the group from swapping instead of being OOM-killed
  else ignoreErrors(() => writeFileSync(join(path, 'memory.swappiness'), '0'));
}

function instance(kind: 'v1' | 'v2', name: string, path: string, initialLimit: number): InstanceCgroup {
  const procsFile = join(path, 'cgroup.procs');
  let limitBytes = initialLimit;
  return {
    kind,
    name,
    path,
    procsFile,
    get limitBytes() {
      return limitBytes;
    },
    setLimit(bytes) {
      if (kind === 'v2') limitV2(path, bytes);
      else limitV1(path, bytes);
      limitBytes = bytes;
    },
    memoryBytes() {
      const text = readText(join(path, kind === 'v2' ? 'memory.current' : 'memory.usage_in_bytes'));
      const bytes = text === null ? NaN : Number.parseInt(text, 10);
      return Number.isFinite(bytes) ? bytes : null;
    },
    oomKills() {
      const text = readText(join(path, kind === 'v2' ? 'memory.events' : 'memory.oom_control')) ?? '';
      const match = /^oom_kill\s+(\d+)\s*$/m.exec(text);
      return match?.[1] === undefined ? 0 : Number.parseInt(match[1], 10);
    },
    pids: () => readPids(procsFile),
    remove: () => removeDir(path),
  };
}

/** rmdir, retrying once on EBUSY (a process that just exited may still be charged to the group). */
function removeDir(path: string): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(path);
      return true;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw error;
      if (attempt > 0) return false;
      // synchronous so that remove() can run in exit handlers; only on this rare path
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

function tryRemove(path: string): void {
  ignoreErrors(() => rmdirSync(path));
}

function readPids(procsFile: string): number[] {
  return (readText(procsFile) ?? '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Number.parseInt(line, 10));
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function ignoreErrors(fn: () => void): void {
  try {
    fn();
  } catch {
    // optional settings (memsw, swappiness): the limit itself was written
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

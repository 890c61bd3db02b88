/**
 * `isolation: sandbox` for process-function instances, through bubblewrap: the
 * handler runs in its own pid, IPC and UTS namespaces with a read-only view of
 * the host, a private empty /tmp, no capabilities, and write access only to the
 * directories Aether gives it (its runtime dir with the Unix socket). The
 * network is shared on purpose: the instance serves HTTP on a host loopback port.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { TerminalError } from '@aether/core';

/** The sandbox of {@link sandboxPrefix}. */
export interface SandboxOptions {
  /** The bubblewrap binary, from {@link findBubblewrap}. */
  bwrap: string;
  /** The working directory inside the sandbox. */
  cwd: string;
  /** Directories bound read-write at the same path, e.g. the runtime dir holding the Unix socket. */
  writable: string[];
  /**
   * Directories bound read-only at the same path on top of the private /tmp:
   * needed when the handler or its cwd lives under /tmp, which the sandbox hides.
   * @default []
   */
  readOnly?: string[];
}

/** What {@link sandboxCommand} runs and how. */
export interface SandboxCommandOptions extends SandboxOptions {
  /** The handler to run inside the sandbox (a path visible inside it). */
  command: string;
  args: string[];
}

/** The flags every sandbox gets, before its binds. */
const BASE_ARGS = [
  '--unshare-pid',
  '--unshare-ipc',
  '--unshare-uts',
  '--die-with-parent',
  '--new-session',
  // bwrap started by root keeps every capability (CAP_SYS_ADMIN could remount / read-write)
  '--cap-drop',
  'ALL',
  '--ro-bind',
  '/',
  '/',
  '--dev',
  '/dev',
  '--proc',
  '/proc',
  '--tmpfs',
  '/tmp',
] as const;

/**
 * Finds the bubblewrap binary: `bwrap` on PATH, else /usr/bin/bwrap.
 * @returns its absolute path, or null when it is not installed
 */
export function findBubblewrap(options: { path?: string } = {}): string | null {
  const dirs = (options.path ?? process.env['PATH'] ?? '').split(delimiter).filter((dir) => isAbsolute(dir));
  for (const candidate of [...dirs.map((dir) => join(dir, 'bwrap')), '/usr/bin/bwrap']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * {@link findBubblewrap} for functions that ask for `isolation: sandbox`.
 * @throws TerminalError AETHER_E_SANDBOX_UNAVAILABLE when bubblewrap is not installed
 */
export function requireBubblewrap(options: { path?: string } = {}): string {
  const bwrap = findBubblewrap(options);
  if (bwrap === null) {
    throw new TerminalError(
      'AETHER_E_SANDBOX_UNAVAILABLE',
      'isolation: sandbox needs bubblewrap, found neither bwrap on PATH nor /usr/bin/bwrap',
    );
  }
  return bwrap;
}

/**
 * The bubblewrap command line that runs `command args` in a sandbox. Run it
 * directly, or inside {@link cgroupWrap} to limit the whole sandbox's memory.
 *
 * Exits: bubblewrap exits with the handler's code, and with 128 + n when the
 * handler is killed by signal n (an OOM kill shows as code 137, not SIGKILL).
 * Signals sent to bubblewrap are not forwarded: on SIGTERM it dies and
 * --die-with-parent SIGKILLs the handler; signal the pids of the instance's
 * cgroup instead for a graceful stop.
 * @example
 * const sandboxed = sandboxCommand({ bwrap, command: handlerPath, args: [], cwd: handlerDir, writable: [runtimeDir] });
 * const { command, args } = cgroupWrap(cg.procsFile, sandboxed.command, sandboxed.args);
 */
export function sandboxCommand(options: SandboxCommandOptions): { command: string; args: string[] } {
  return { command: options.bwrap, args: [...sandboxPrefix(options).slice(1), options.command, ...options.args] };
}

/**
 * The argv that runs whatever follows it in the sandbox: bubblewrap, its flags
 * and binds, `--chdir <cwd>` and `--`. Equal options give equal prefixes, which
 * is how a stub waiting inside a sandbox is matched to a launch (launcher.ts).
 */
export function sandboxPrefix(options: SandboxOptions): string[] {
  const binds = [
    ...(options.readOnly ?? []).map((dir) => ({ flag: '--ro-bind', dir: resolve(dir) })),
    ...options.writable.map((dir) => ({ flag: '--bind', dir: resolve(dir) })),
  ];
  // bwrap mounts in order: binds come after --tmpfs /tmp so that dirs under /tmp
  // stay visible, and parents before children so a nested bind is not hidden
  binds.sort((a, b) => depth(a.dir) - depth(b.dir));
  return [
    options.bwrap,
    ...BASE_ARGS,
    ...binds.flatMap(({ flag, dir }) => [flag, dir, dir]),
    '--chdir',
    resolve(options.cwd),
    '--',
  ];
}

function depth(dir: string): number {
  return dir.split('/').filter((segment) => segment !== '').length;
}

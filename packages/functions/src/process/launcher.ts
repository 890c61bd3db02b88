/**
 * Starts instance processes, already inside their memory cgroup. Moving a
 * process into a cgroup costs a kernel RCU grace period (measured ~10-13 ms
 * here, whichever group), which would sit on every cold start if the handler
 * joined its group on the way in. So the launcher keeps a few stubs started
 * in advance: a shell that has already joined a fresh group and waits on its
 * stdin. Launching an instance sets the group's limit and writes one line of
 * shell to a stub (cd, the environment, `exec` the handler), which evaluates
 * it: the handler replaces the shell in the same process and group. Without
 * cgroups the stubs are the same minus the group. Every process is started
 * under `setpriv --pdeathsig KILL`, which survives the execs, so no instance
 * outlives the orchestrator, even on SIGKILL.
 *
 * A spare is a stub that went one step further: it exec'd a wrapper (a node
 * function version's bubblewrap sandbox, ~4-7 ms to set up) and waits inside
 * it, so a launch through the same wrapper only execs the handler. One spare
 * per owner (a version's pool), started again after each use.
 *
 * Stubs and spares are (re)started REFILL_DELAY_MS after the launch that used
 * them, not during it: a stub's start (a fork of this process, a cgroup mkdir,
 * the stub's move into its group) while the handler boots cost that cold
 * start ~4 ms on two cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CgroupSupport, InstanceCgroup } from './cgroup.js';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);
/** Stubs kept ready; each holds one shell (~1 MB). */
const STUBS = 2;
/** The limit of a stub's group until an instance takes it (the largest memory_limit_mb). */
const STUB_LIMIT = 16_384 * 1024 * 1024;
/** How long after a launch the stubs it took are replaced (see the file header). */
const REFILL_DELAY_MS = 100;
/**
 * The longest launch line sent as is. The shell's `read` takes one byte per
 * system call (~0.5 us each); a longer line (a large environment) goes through
 * a script file in the run directory, which the line sources and removes.
 */
const MAX_LINE = 2048;
/** What a stub runs once it is in its group (and its wrapper): wait for one line and evaluate it. */
const WAIT = `NL='\n'; read -r line || exit 0; eval "$line"`;

/** What to run. */
export interface LaunchSpec {
  /** Names the script file of a launch line too long to be sent as is. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The cgroup memory limit; ignored when cgroups are not available. */
  limitBytes: number;
  /**
   * An argv prefix the command runs under, e.g. a sandbox (sandboxPrefix in sandbox.ts).
   * @default []
   */
  wrap?: readonly string[] | undefined;
  /**
   * A spare whose stub waits inside `wrap` already: the launch takes it (when it waits
   * inside the same wrapper) and it is started again after.
   */
  spare?: Spare | null | undefined;
}

/** A started process and its group. */
export interface Launched {
  child: ChildProcess;
  cgroup: InstanceCgroup | null;
}

/** A stub kept waiting inside one wrapper (see {@link Launcher.spare}). */
export interface Spare {
  /** The pid of the stub waiting inside the wrapper, null while none waits. */
  readonly pid: number | null;
  /** Kills its waiting stub, if any, and starts no more. */
  close(): Promise<void>;
}

/** Starts instances (see the file header). */
export interface Launcher {
  launch(spec: LaunchSpec): Launched;
  /**
   * Keeps one stub waiting inside `wrap` (an argv prefix ending in what runs a command, e.g.
   * bubblewrap's `--`) for launches with the same `wrap` that pass this spare. Its first
   * stub starts after REFILL_DELAY_MS, so as not to slow a start under way.
   */
  spare(wrap: readonly string[]): Spare;
  /** Resolves once the waiting stubs have joined their groups (cold starts then skip the move). */
  ready(): Promise<void>;
  /** Kills the waiting stubs and spares and removes their groups. */
  close(): Promise<void>;
}

interface Stub {
  child: ChildProcess;
  /** Null where memory cannot be limited: the stub still takes setpriv and the shell off the cold start. */
  cgroup: InstanceCgroup | null;
  /** The environment the stub's shell has. */
  env: NodeJS.ProcessEnv;
  /** The wrapper it waits inside (empty: none). */
  wrap: readonly string[];
}

interface SpareState extends Spare {
  readonly wrap: readonly string[];
  stub: Stub | null;
  timer: NodeJS.Timeout | null;
  closed: boolean;
}

/** Names a POSIX shell can export (others cannot be passed through sh). */
const SH_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function withPdeathsig(command: string, args: string[]): { command: string; args: string[] } {
  return hasSetpriv ? { command: SETPRIV, args: ['--pdeathsig', 'KILL', '--', command, ...args] } : { command, args };
}

/** Single-quotes a word for sh, on one line: a newline is spliced in from $NL (set by WAIT). */
function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`).replace(/\n/g, `'"$NL"'`)}'`;
}

function alive(stub: Stub): boolean {
  return stub.child.exitCode === null && stub.child.signalCode === null;
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((word, i) => word === b[i]);
}

/** SIGKILLs a stub (its process group and, past a wrapper's new session, its group's pids), then removes its group. */
async function killStub(stub: Stub): Promise<void> {
  if (alive(stub)) {
    const exited = new Promise((resolve) => stub.child.once('exit', resolve));
    const pid = stub.child.pid;
    for (const target of [...(stub.cgroup?.pids() ?? []), ...(pid === undefined ? [] : [-pid])]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await exited;
  }
  await removeGroup(stub);
}

/** Removes a stub's group once its processes are gone (a wrapper's children die just after it). */
async function removeGroup(stub: Stub): Promise<void> {
  const cgroup = stub.cgroup;
  if (cgroup === null) return;
  for (let i = 0; i < 100 && cgroup.pids().length > 0; i++) await new Promise((r) => setTimeout(r, 5));
  cgroup.remove();
}

/**
 * Creates a launcher; `runDir` holds the script files of long launch lines.
 * @example
 * const launcher = createLauncher(detectCgroups(), runDir);
 * const { child, cgroup } = launcher.launch({ name: 'hello.i1', command: '/srv/hello.py', args: [], cwd: '/srv', env, limitBytes: 128 << 20 });
 */
export function createLauncher(
  cgroups: CgroupSupport | null,
  runDir: string,
  baseEnv: NodeJS.ProcessEnv = process.env,
): Launcher {
  const stubs: Stub[] = [];
  const spares = new Set<SpareState>();
  let counter = 0;
  let closed = false;
  let refillTimer: NodeJS.Timeout | null = null;

  const startStub = (wrap: readonly string[]): Stub => {
    const cgroup = cgroups?.create(`stub-${process.pid}-${++counter}`, STUB_LIMIT) ?? null;
    // "$0" is the group's procs file (or empty); "$@" the wrapper, which runs a shell that waits the same way.
    const { command, args } = withPdeathsig('/bin/sh', [
      '-c',
      `{ [ -z "$0" ] || echo $$ > "$0"; } || exit 125; [ $# -eq 0 ] || exec "$@"; ${WAIT}`,
      cgroup?.procsFile ?? '',
      ...(wrap.length > 0 ? [...wrap, '/bin/sh', '-c', WAIT] : []),
    ]);
    const env = { ...baseEnv };
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
    child.on('error', () => {});
    child.stdin.on('error', () => {});
    return { child, cgroup, env, wrap };
  };

  /** A generic stub, kept in `stubs` while it waits. */
  const startWaiting = (): void => {
    const stub = startStub([]);
    stub.child.once('exit', () => {
      const i = stubs.indexOf(stub);
      if (i >= 0) {
        // Died while waiting (killed from outside): drop it; the next launch refills.
        stubs.splice(i, 1);
        stub.cgroup?.remove();
      }
    });
    stubs.push(stub);
  };

  /**
   * Refills the stubs after REFILL_DELAY_MS, or at once when none waits any more: a burst of
   * starts may be under way, and one that finds no stub pays the group move (~12 ms), more
   * than a refill costs the starts under way.
   */
  const refillLater = (): void => {
    if (closed) return;
    const delay = stubs.length === 0 ? 0 : REFILL_DELAY_MS;
    if (refillTimer !== null) {
      if (delay > 0) return;
      clearTimeout(refillTimer);
    }
    refillTimer = setTimeout(() => {
      refillTimer = null;
      while (!closed && stubs.length < STUBS) startWaiting();
    }, delay);
    refillTimer.unref();
  };

  const fillLater = (spare: SpareState): void => {
    if (closed || spare.closed || spare.timer !== null) return;
    spare.timer = setTimeout(() => {
      spare.timer = null;
      if (closed || spare.closed || (spare.stub !== null && alive(spare.stub))) return;
      const stub = startStub(spare.wrap);
      spare.stub = stub;
      stub.child.once('exit', () => {
        // Died while waiting (its wrapper failed, or killed from outside): the next launch refills.
        if (spare.stub === stub) {
          spare.stub = null;
          void removeGroup(stub);
        }
      });
    }, REFILL_DELAY_MS);
    spare.timer.unref();
  };

  /** Takes a waiting stub of `spare` inside `wrap`, or null. */
  const takeSpare = (spare: Spare | null | undefined, wrap: readonly string[]): Stub | null => {
    const state = spare as SpareState | null | undefined;
    if (state === null || state === undefined || !spares.has(state)) return null;
    const stub = state.stub;
    fillLater(state);
    if (stub === null || !alive(stub) || !sameArgv(stub.wrap, wrap)) return null;
    state.stub = null;
    return stub;
  };

  const takeStub = (): Stub => {
    let stub = stubs.shift();
    while (stub !== undefined && !alive(stub)) {
      stub.cgroup?.remove();
      stub = stubs.shift();
    }
    if (stub === undefined) {
      // None waiting (a burst of starts): this launch pays the group move.
      startWaiting();
      stub = stubs.shift()!;
    }
    refillLater();
    return stub;
  };

  for (let i = 0; i < STUBS; i++) startWaiting();

  return {
    launch(spec) {
      const wrap = spec.wrap ?? [];
      const spare = takeSpare(spec.spare, wrap);
      const stub = spare ?? takeStub();
      stub.cgroup?.setLimit(spec.limitBytes);
      // The stub runs with the orchestrator's environment: unset what the instance must not
      // see, export the rest, then exec (no `env` in between: one exec less per cold start).
      const parts = [`cd ${shQuote(spec.cwd)} || exit 126`, 'exec </dev/null'];
      for (const name of Object.keys(stub.env)) {
        if (spec.env[name] === undefined && SH_NAME.test(name)) parts.push(`unset ${name}`);
      }
      for (const [name, value] of Object.entries(spec.env)) {
        if (value !== undefined && SH_NAME.test(name) && stub.env[name] !== value)
          parts.push(`export ${name}=${shQuote(value)}`);
      }
      // A spare is inside the wrapper already.
      const argv = [...(spare === null ? wrap : []), spec.command, ...spec.args];
      parts.push(`exec ${argv.map(shQuote).join(' ')}`);
      let line = parts.join('; ');
      if (line.length > MAX_LINE) {
        const script = path.join(runDir, `${spec.name}.launch.sh`);
        writeFileSync(script, `rm -f ${shQuote(script)}; ${line}\n`);
        line = `. ${shQuote(script)}`;
      }
      stub.child.stdin!.end(`${line}\n`);
      return stub;
    },
    spare(wrap) {
      const state: SpareState = {
        wrap: [...wrap],
        stub: null,
        timer: null,
        closed: false,
        get pid() {
          return state.stub !== null && alive(state.stub) ? (state.stub.child.pid ?? null) : null;
        },
        async close() {
          state.closed = true;
          spares.delete(state);
          if (state.timer !== null) clearTimeout(state.timer);
          state.timer = null;
          const stub = state.stub;
          state.stub = null;
          if (stub !== null) await killStub(stub);
        },
      };
      if (!closed) {
        spares.add(state);
        fillLater(state);
      }
      return state;
    },
    async ready() {
      const deadline = Date.now() + 2000;
      const joined = (s: Stub): boolean =>
        !alive(s) || s.child.pid === undefined || s.cgroup === null || s.cgroup.pids().includes(s.child.pid);
      while (!stubs.every(joined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    },
    async close() {
      closed = true;
      if (refillTimer !== null) clearTimeout(refillTimer);
      refillTimer = null;
      await Promise.all([...stubs.splice(0).map(killStub), ...[...spares].map((spare) => spare.close())]);
    },
  };
}

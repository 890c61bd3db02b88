/**
 * Starts instance processes, already inside their memory cgroup. Moving a
 * process into a cgroup costs a kernel RCU grace period (measured ~10-13 ms
 * here, whichever group), which would sit on every cold start if the handler
 * joined its group on the way in. So the launcher keeps a few stubs started
 * in advance: a shell that has already joined a fresh group and waits on its
 * stdin. Launching an instance sets the group's limit, writes a small script
 * (cd, the environment, `exec` the handler) and hands its path to a stub,
 * which sources it: the handler replaces the shell in the same process and
 * group. Without cgroups the stubs are the same minus the group. Every process is
 * started under `setpriv --pdeathsig KILL`, which survives the execs, so no
 * instance outlives the orchestrator, even on SIGKILL.
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

/** What to run. */
export interface LaunchSpec {
  /** Names the group (and the script). */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The cgroup memory limit; ignored when cgroups are not available. */
  limitBytes: number;
}

/** A started process and its group. */
export interface Launched {
  child: ChildProcess;
  cgroup: InstanceCgroup | null;
}

/** Starts instances (see the file header). */
export interface Launcher {
  launch(spec: LaunchSpec): Launched;
  /** Resolves once the waiting stubs have joined their groups (cold starts then skip the move). */
  ready(): Promise<void>;
  /** Kills the waiting stubs and removes their groups. */
  close(): Promise<void>;
}

interface Stub {
  child: ChildProcess;
  /** Null where memory cannot be limited: the stub still takes setpriv and the shell off the cold start. */
  cgroup: InstanceCgroup | null;
  /** The environment the stub's shell has. */
  env: NodeJS.ProcessEnv;
}

/** Names a POSIX shell can export (others cannot be passed through sh). */
const SH_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function withPdeathsig(command: string, args: string[]): { command: string; args: string[] } {
  return hasSetpriv ? { command: SETPRIV, args: ['--pdeathsig', 'KILL', '--', command, ...args] } : { command, args };
}

/** Single-quotes a word for sh. */
function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Creates a launcher; `runDir` holds the launch scripts.
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
  let counter = 0;
  let closed = false;

  const startStub = (): void => {
    if (closed) return;
    const cgroup = cgroups?.create(`stub-${process.pid}-${++counter}`, STUB_LIMIT) ?? null;
    // "$0" is the group's procs file (or empty); the script path arrives on stdin and is sourced (it ends in exec).
    const { command, args } = withPdeathsig('/bin/sh', [
      '-c',
      '{ [ -z "$0" ] || echo $$ > "$0"; } || exit 125; read -r script || exit 0; . "$script"',
      cgroup?.procsFile ?? '',
    ]);
    const env = { ...baseEnv };
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
    child.on('error', () => {});
    child.stdin.on('error', () => {});
    const stub = { child, cgroup, env };
    child.once('exit', () => {
      const i = stubs.indexOf(stub);
      if (i >= 0) {
        // Died while waiting (killed from outside): drop it; the next launch refills.
        stubs.splice(i, 1);
        cgroup?.remove();
      }
    });
    stubs.push(stub);
  };

  for (let i = 0; i < STUBS; i++) startStub();

  return {
    launch(spec) {
      let stub = stubs.shift();
      while (stub !== undefined && (stub.child.exitCode !== null || stub.child.signalCode !== null)) {
        stub.cgroup?.remove();
        stub = stubs.shift();
      }
      if (stub === undefined) {
        startStub();
        stub = stubs.shift()!;
      }
      stub.cgroup?.setLimit(spec.limitBytes);
      const script = path.join(runDir, `${spec.name}.launch.sh`);
      // The stub runs with the orchestrator's environment: unset what the instance must not
      // see, export the rest, then exec (no `env` in between: one exec less per cold start).
      const lines = [`rm -f ${shQuote(script)}`, `cd ${shQuote(spec.cwd)} || exit 126`, 'exec </dev/null'];
      for (const name of Object.keys(stub.env)) {
        if (spec.env[name] === undefined && SH_NAME.test(name)) lines.push(`unset ${name}`);
      }
      for (const [name, value] of Object.entries(spec.env)) {
        if (value !== undefined && SH_NAME.test(name) && stub.env[name] !== value)
          lines.push(`export ${name}=${shQuote(value)}`);
      }
      lines.push(`exec ${[spec.command, ...spec.args].map(shQuote).join(' ')}`);
      writeFileSync(script, `${lines.join('\n')}\n`);
      stub.child.stdin!.end(`${script}\n`);
      // Refill in the background: the next cold start finds a stub waiting.
      setImmediate(startStub);
      return stub;
    },
    async ready() {
      const deadline = Date.now() + 2000;
      const joined = (s: Stub): boolean =>
        s.child.exitCode !== null ||
        s.child.pid === undefined ||
        s.cgroup === null ||
        s.cgroup.pids().includes(s.child.pid);
      while (!stubs.every(joined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    },
    async close() {
      closed = true;
      await Promise.all(
        stubs.splice(0).map(async (stub) => {
          if (stub.child.exitCode === null && stub.child.signalCode === null) {
            const exited = new Promise((resolve) => stub.child.once('exit', resolve));
            stub.child.kill('SIGKILL');
            await exited;
          }
          stub.cgroup?.remove();
        }),
      );
    },
  };
}

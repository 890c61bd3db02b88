/**
 * Seed 000's orchestrator CLI as a user runs it, through the built bin:
 * the quick start (`up` in the background, curl the trigger port, `list`,
 * `down`), `up --foreground` with the banner, handler output and status
 * table, `deploy` hot-loading a changed file, and the failures a user meets
 * first: a trigger port already in use, a handler that never sends READY,
 * and a YAML error with its line.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AETHER_BIN,
  ROOT,
  childEnv,
  freeNamedPort,
  runCli,
  startProcess,
  waitFor,
  type Proc,
} from './support/processes.js';

const dirs: string[] = [];
const procs: Proc[] = [];
const servers: Server[] = [];
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((s) => s().catch(() => {})));
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  for (const s of servers.splice(0)) s.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ENV = { AETHER_TOKEN: undefined, AETHER_SERVER: undefined, AETHER_LOG_LEVEL: 'warn' };

/** A directory with seed 000's hello.py and a hello.yaml on `port`. */
function quickStartDir(port: number, extra = ''): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-up-'));
  dirs.push(dir);
  copyFileSync(path.join(ROOT, 'examples/handlers/hello.py'), path.join(dir, 'hello.py'));
  writeFileSync(
    path.join(dir, 'hello.yaml'),
    `${extra}functions:
  - id: hello-api
    memory_limit_mb: 128
    trigger_port: ${port}
    handler_path: ./hello.py
    timeout_ms: 30000
    environment:
      PYTHONUNBUFFERED: "1"
`,
  );
  return dir;
}

async function nodeArgs(): Promise<{ args: string[]; server: string }> {
  const http = await freeNamedPort();
  return {
    args: ['--http-port', String(http), '--grpc-port', String(await freeNamedPort()), '--persistence', 'memory'],
    server: `http://127.0.0.1:${http}`,
  };
}

describe('aether up / list / down (seed 000 quick start)', () => {
  it('starts in the background, serves the trigger port, lists the function and stops with down', async () => {
    const port = await freeNamedPort();
    const dir = quickStartDir(port, 'orchestrator:\n  warm_pool_size: 1\n');
    const { args, server } = await nodeArgs();
    const up = await runCli(['-c', 'hello.yaml', 'up', ...args], { cwd: dir, env: ENV });
    stops.push(() => runCli(['down', '--server', server], { env: ENV }));
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('AETHER ORCHESTRATOR');
    expect(up.stdout).toContain('▶ Spawning function: hello-api');
    expect(up.stdout).toMatch(new RegExp(`✓ hello-api started \\(PID: \\d+, Port: ${port}`));
    expect(up.stdout).toContain('Status: 1 functions running');
    expect(up.stdout).toContain(`● hello-api            → http://localhost:${port}  [Running]`);
    expect(up.stdout).toContain('Stop it with: aether down');

    const res = await fetch(`http://localhost:${port}/users`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'Hello from Aetherless! 🚀', function: 'hello-api', path: '/users' });

    const list = await runCli(['list', '--server', server], { env: ENV });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/FUNCTION\s+RUNTIME\s+ENDPOINT\s+INSTANCES/);
    expect(list.stdout).toMatch(new RegExp(`hello-api\\s+process\\s+http://localhost:${port}\\s+\\d+ ready`));

    const down = await runCli(['down', '--server', server], { env: ENV });
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('✓ Orchestrator stopped');
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    await expect(fetch(`${server}/health`)).rejects.toThrow();
  });

  it('up --foreground prints the banner, the handler output and the status table, and deploy hot-loads', async () => {
    const port = await freeNamedPort();
    const dir = quickStartDir(port, 'orchestrator:\n  warm_pool_size: 0\n');
    const { args, server } = await nodeArgs();
    const proc = startProcess(
      process.execPath,
      [AETHER_BIN, '-c', 'hello.yaml', 'up', '--foreground', ...args],
      childEnv(ENV),
      dir,
    );
    procs.push(proc);
    await waitFor(() => proc.output().includes('Press Ctrl+C to stop...'), 'the status table');
    const out = proc.output();
    expect(out).toMatch(/\[hello-api\] Starting on port \d+\.\.\./);
    expect(out).toContain('Status: 1 functions running');

    // A second function on its own port, through `aether deploy`.
    const port2 = await freeNamedPort();
    writeFileSync(
      path.join(dir, 'two.yaml'),
      `orchestrator:\n  warm_pool_size: 0\nfunctions:\n  - id: hello-api\n    memory_limit_mb: 128\n    trigger_port: ${port}\n    handler_path: ./hello.py\n    timeout_ms: 30000\n    environment:\n      PYTHONUNBUFFERED: "1"\n  - id: second\n    trigger_port: ${port2}\n    handler_path: ./hello.py\n`,
    );
    const deploy = await runCli(['deploy', 'two.yaml', '--server', server], { cwd: dir, env: ENV });
    expect(deploy.stderr).toBe('');
    expect(deploy.stdout).toContain('✓ Deployed two.yaml (added: second; unchanged: hello-api)');
    const second = (await (await fetch(`http://127.0.0.1:${port2}/x`)).json()) as { function: string };
    expect(second.function).toBe('second');

    await proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});

describe('aether up failures', () => {
  it('reports a trigger port already in use and exits 1', async () => {
    const port = await freeNamedPort();
    const blocker = createServer();
    servers.push(blocker);
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    const dir = quickStartDir(port);
    const { args } = await nodeArgs();
    const up = await runCli(['-c', 'hello.yaml', 'up', ...args], { cwd: dir, env: ENV });
    expect(up.code).toBe(1);
    expect(up.stderr).toContain(`error[AETHER_E_FN_PORT_IN_USE]: hello-api: trigger_port ${port} is already in use`);
  });

  it('reports a handler that never sends READY with its stderr, and exits 1', async () => {
    const dir = quickStartDir(await freeNamedPort());
    writeFileSync(
      path.join(dir, 'silent.yaml'),
      `orchestrator:\n  start_timeout_ms: 400\nfunctions:\n  - id: silent\n    trigger_port: ${await freeNamedPort()}\n    handler_path: ${path.join(ROOT, 'tests/fixtures/handlers/behave.py')}\n    environment:\n      MODE: no-ready\n`,
    );
    const { args } = await nodeArgs();
    const up = await runCli(['-c', 'silent.yaml', 'up', '--foreground', ...args], { cwd: dir, env: ENV });
    expect(up.code).toBe(1);
    expect(up.stderr).toContain('error[AETHER_E_FN_START_TIMEOUT]: silent: the handler did not send READY');
    expect(up.stderr).toContain('behave: waiting forever');
  });

  it('reports a YAML error with file, line and field before starting anything (exit 2)', async () => {
    const dir = quickStartDir(await freeNamedPort());
    writeFileSync(
      path.join(dir, 'bad.yaml'),
      'functions:\n  - id: a\n    trigger_port: 70000\n    handler_path: ./hello.py\n    colour: blue\n',
    );
    const up = await runCli(['-c', 'bad.yaml', 'up'], { cwd: dir, env: ENV });
    expect(up.code).toBe(2);
    expect(up.stderr).toContain('bad.yaml:3');
    expect(up.stderr).toContain('functions[0].trigger_port');
    expect(up.stderr).toContain('bad.yaml:5');
    expect(up.stderr).toContain('colour');
  });
});

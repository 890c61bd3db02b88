/**
 * End-to-end tests of the `aether` CLI, run as the built bin in child
 * processes: help, exit codes (0 ok, 1 failure, 2 usage/config), the
 * `error[AETHER_E_...]` + `hint:` format, `serve` (config precedence, bind
 * safety, taken ports, bad stores, graceful SIGTERM), `workflow list`,
 * `status`, `cancel` against a node, and `init`.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultServerConfig } from '@aether/core';
import type { WorkerSession } from '@aether/engine';
import { startServer, type RunningServer } from '@aether/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AETHER_BIN, ROOT, childEnv, freePort, runCli, startProcess, waitFor, type Proc } from './support/processes.js';

const dirs: string[] = [];
const procs: Proc[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'aether-cli-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Env without the variables that would change the CLI's behaviour. */
const CLEAN_ENV = { AETHER_TOKEN: undefined, AETHER_SERVER: undefined, AETHER_LOG_LEVEL: 'warn' };

/** Starts `aether serve` and resolves once it printed its banner (or exited). */
async function serve(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const proc = startProcess(
    process.execPath,
    [AETHER_BIN, 'serve', ...args],
    childEnv({ ...CLEAN_ENV, ...options.env }),
    options.cwd ?? tempDir(),
  );
  procs.push(proc);
  let exited: { code: number | null } | undefined;
  void proc.exited.then((e) => (exited = e));
  await waitFor(() => exited !== undefined || proc.output().includes('aether serve: gRPC'), 'the serve banner');
  return { proc, exited: () => exited };
}

describe('aether --help and usage errors', () => {
  it('lists every command and exits 0', async () => {
    const { code, stdout } = await runCli(['--help'], { env: CLEAN_ENV });
    expect(code).toBe(0);
    for (const text of ['serve', 'init', 'workflow list', 'status', 'cancel', '-c, --config', '-v, --verbose']) {
      expect(stdout).toContain(text);
    }
    for (const flag of ['--grpc-port', '--http-port', '--host', '--persistence', '--db', '--insecure', '--output']) {
      expect(stdout).toContain(flag);
    }
  });

  it('shows the options of a command', async () => {
    const { code, stdout } = await runCli(['serve', '--help'], { env: CLEAN_ENV });
    expect(code).toBe(0);
    expect(stdout).toContain('--persistence <mode>');
  });

  it('exits 2 with error[AETHER_E_USAGE] and a hint for an unknown command or option', async () => {
    const unknownCommand = await runCli(['deploi'], { env: CLEAN_ENV });
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("error[AETHER_E_USAGE]: unknown command 'deploi'");
    expect(unknownCommand.stderr).toContain('hint: see `aether --help`');
    const unknownOption = await runCli(['serve', '--grpc-prot', '1'], { env: CLEAN_ENV });
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toMatch(/^error\[AETHER_E_USAGE\]: unknown option '--grpc-prot'/);
    const missingArgument = await runCli(['status'], { env: CLEAN_ENV });
    expect(missingArgument.code).toBe(2);
    expect(missingArgument.stderr).toContain('error[AETHER_E_USAGE]');
  });

  it('exits 2 without a command', async () => {
    const { code, stderr } = await runCli([], { env: CLEAN_ENV });
    expect(code).toBe(2);
    expect(stderr).toContain('Usage: aether');
  });
});

describe('aether serve', () => {
  it('exits 2 naming the flag of an unknown persistence mode', async () => {
    const { code, stderr } = await runCli(['serve', '--persistence', 'disk'], { env: CLEAN_ENV, cwd: tempDir() });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error\[AETHER_E_CONFIG_INVALID\]: --persistence "disk": unknown persistence mode/);
  });

  it('exits 2 naming file, line and key of a bad aether.toml', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'aether.toml'), '[server]\nhttp_port = 7234\n\n[persistence]\nmode = "disk"\n');
    const { code, stderr } = await runCli(['serve'], { env: CLEAN_ENV, cwd });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error\[AETHER_E_CONFIG_INVALID\]: aether\.toml:5: persistence\.mode: must be one of/);

    writeFileSync(path.join(cwd, 'bad.toml'), '[server]\nhttp_port = = 3\n');
    const syntax = await runCli(['-c', 'bad.toml', 'serve'], { env: CLEAN_ENV, cwd });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(
      /^error\[AETHER_E_CONFIG_INVALID\]: bad\.toml:2:\d+: TOML syntax error near server\.http_port/,
    );
  });

  it('exits 2 when the -c file cannot be read', async () => {
    const { code, stderr } = await runCli(['-c', 'nope.toml', 'serve'], { env: CLEAN_ENV, cwd: tempDir() });
    expect(code).toBe(2);
    expect(stderr).toContain('error[AETHER_E_CONFIG_UNREADABLE]: cannot read config file nope.toml');
  });

  it('refuses a non-loopback host without a token (exit 2), and -v adds details and the stack', async () => {
    const { code, stderr } = await runCli(['-v', 'serve', '--host', '0.0.0.0', '--persistence', 'memory'], {
      env: CLEAN_ENV,
      cwd: tempDir(),
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error\[AETHER_E_INSECURE_BIND\]: refusing to listen on 0\.0\.0\.0 without a token/);
    expect(stderr).toContain('hint: set [auth] token (or AETHER_TOKEN), bind to 127.0.0.1, or pass --insecure');
    expect(stderr).toContain('details: {"host":"0.0.0.0"}');
    expect(stderr).toMatch(/\n\s+at /);
  });

  it('binds a non-loopback host when AETHER_TOKEN is set, and stops gracefully on SIGTERM', async () => {
    const { proc } = await serve(
      ['--host', '0.0.0.0', '--persistence', 'memory', '--grpc-port', '0', '--http-port', '0'],
      {
        env: { AETHER_TOKEN: 'tok' },
      },
    );
    expect(proc.output()).toMatch(
      /aether serve: gRPC 0\.0\.0\.0:\d+, HTTP http:\/\/0\.0\.0\.0:\d+, persistence memory \(memory\)/,
    );
    await proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(proc.output()).toContain('aether serve: stopped');
  });

  it('lets CLI flags override aether.toml, which overrides the defaults', async () => {
    const cwd = tempDir();
    const [filePort, flagPort] = [await freePort(), await freePort()];
    writeFileSync(
      path.join(cwd, 'aether.toml'),
      `[server]\nhttp_port = ${filePort}\ngrpc_port = 0\n[persistence]\nmode = "snapshot"\n`,
    );
    const { proc } = await serve(['--http-port', String(flagPort), '--db', 'state/x.db'], { cwd });
    expect(proc.output()).toContain(`HTTP http://127.0.0.1:${flagPort}, persistence snapshot (sqlite state/x.db)`);
    const health = (await (await fetch(`http://127.0.0.1:${flagPort}/health`)).json()) as { persistence: string };
    expect(health.persistence).toBe('snapshot');
    expect(existsSync(path.join(cwd, 'state/x.db'))).toBe(true);
    await proc.kill('SIGINT');
    expect((await proc.exited).code).toBe(0);
  });

  it('exits 1 with AETHER_E_PORT_IN_USE when a port is taken', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, stderr } = await runCli(
        ['serve', '--persistence', 'memory', '--grpc-port', '0', '--http-port', String(port)],
        {
          env: CLEAN_ENV,
          cwd: tempDir(),
        },
      );
      expect(code).toBe(1);
      expect(stderr).toContain(`error[AETHER_E_PORT_IN_USE]: HTTP port ${port} on 127.0.0.1 is already in use`);
      expect(stderr).toContain('hint: another process listens on that port');
    } finally {
      blocker.close();
    }
  });

  it('exits 1 with the store error when the database file is not a database', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'junk.db'), 'definitely not sqlite '.repeat(200));
    const { code, stderr } = await runCli(['serve', '--db', 'junk.db', '--grpc-port', '0', '--http-port', '0'], {
      env: CLEAN_ENV,
      cwd,
      timeoutMs: 20_000,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error\[AETHER_E_STORE_(CORRUPT|UNREADABLE)\]/);
    expect(stderr).toContain('hint:');
  });
});

describe("aether serve and aether edge with seed 002's config files", () => {
  it("serves with seed 002's control.toml as written, and an edge node with its edge.toml", async () => {
    const cwd = tempDir();
    const [cpPort, edgePort] = [await freePort(), await freePort()];
    writeFileSync(
      path.join(cwd, 'control.toml'),
      `[database]\npath = "./data/control.db"   # Sled DB location\n\n[server]\nhost = "127.0.0.1"\nport = ${cpPort}\ngrpc_port = 0\n\n[registry]\nnode_timeout = "30s"   # Node heartbeat timeout\n`,
    );
    writeFileSync(
      path.join(cwd, 'edge.toml'),
      `[runtime]\nexec_timeout = "3s"      # Maximum execution time\nmemory_limit = "16MB"    # Max memory per module\ncache_size = 100         # Number of cached modules\n\n[server]\nhost = "127.0.0.1"\nport = ${edgePort}\n`,
    );
    const { proc } = await serve(['-c', 'control.toml'], { cwd });
    expect(proc.output()).toContain(
      `HTTP http://127.0.0.1:${cpPort}, persistence state-action-log (sqlite ./data/control.db)`,
    );
    expect(existsSync(path.join(cwd, 'data/control.db'))).toBe(true);

    const edge = startProcess(
      process.execPath,
      [AETHER_BIN, 'edge', '-c', 'edge.toml', '--control-plane', `http://127.0.0.1:${cpPort}`, '--node-id', 'edge-01'],
      childEnv(CLEAN_ENV),
      cwd,
    );
    procs.push(edge);
    await waitFor(() => edge.output().includes('aether edge: node edge-01'), 'the edge banner');
    expect(edge.output()).toContain(`aether edge: node edge-01 at http://127.0.0.1:${edgePort}`);
    const nodes = (await (await fetch(`http://127.0.0.1:${cpPort}/api/nodes`)).json()) as { nodes: unknown[] };
    expect(nodes.nodes).toMatchObject([{ node_id: 'edge-01', url: `http://127.0.0.1:${edgePort}`, status: 'up' }]);
    await edge.kill('SIGTERM');
    expect((await edge.exited).code).toBe(0);
  });

  it('exits 2 when aether edge has no control plane, and names the key of a bad edge.toml', async () => {
    const cwd = tempDir();
    const none = await runCli(['edge'], { env: CLEAN_ENV, cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error[AETHER_E_USAGE]: aether edge needs the control plane');
    writeFileSync(path.join(cwd, 'edge.toml'), '[runtime]\nexec_timeout = "forever"\n');
    const bad = await runCli(['edge', '-c', 'edge.toml', '--control-plane', 'http://127.0.0.1:1'], {
      env: CLEAN_ENV,
      cwd,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error[AETHER_E_CONFIG_INVALID]: edge.toml:2: runtime.exec_timeout');
  });

  it('exits 1 with AETHER_E_CONTROL_PLANE_UNREACHABLE when no control plane answers', async () => {
    const port = await freePort();
    const { code, stderr } = await runCli(
      ['edge', '--control-plane', `http://127.0.0.1:${port}`, '--port', String(await freePort())],
      { env: CLEAN_ENV, cwd: tempDir() },
    );
    expect(code).toBe(1);
    expect(stderr).toContain('error[AETHER_E_CONTROL_PLANE_UNREACHABLE]');
    expect(stderr).toContain('hint: check --control-plane');
  });
});

describe('aether validate', () => {
  it("prints seed 000's summary for its quick-start file", async () => {
    const { code, stdout, stderr } = await runCli(['validate', 'examples/handlers/hello.yaml'], {
      env: { ...CLEAN_ENV, PATH: '/usr/bin:/bin' },
    });
    expect([code, stderr]).toEqual([0, '']);
    expect(stdout).toContain(
      [
        '',
        '✓ Configuration is valid',
        '',
        'Orchestrator Settings:',
        '  SHM Buffer Size:    4194304 bytes',
        '  Warm Pool Size:     10',
        '  Restore Timeout:    15ms',
        '',
        'Functions (1):',
        '  - hello-api (port: 8080, memory: 128MB, timeout: 30000ms)',
      ].join('\n'),
    );
    // Settings this host cannot honour are said, not ignored.
    expect(stdout).toContain('! restore_timeout_ms (15) and snapshot_dir (/dev/shm/aetherless) have no effect');
    expect(stdout).toContain('! shm_buffer_size (4194304 bytes) has no effect on process functions');
  });

  it('exits 2 naming file, line and field of every problem', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'handler.sh'), '#!/bin/sh\n', { mode: 0o644 });
    writeFileSync(
      path.join(cwd, 'bad.yaml'),
      [
        'functions:',
        '  - id: a',
        '    trigger_port: 8080',
        '    handler_path: ./handler.sh',
        '    memory_limit_mb: 20000',
        '    timeot_ms: 5',
        '  - id: a',
        '    trigger_port: 8080',
        '    handler_path: ./handler.sh',
      ].join('\n'),
    );
    const bad = await runCli(['validate', 'bad.yaml'], { env: CLEAN_ENV, cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'error[AETHER_E_CONFIG_INVALID]: bad.yaml:5: functions[0].memory_limit_mb: must be between 1 MB and 16 GB',
    );
    expect(bad.stderr).toContain(
      'bad.yaml:6: functions[0].timeot_ms: unknown key "timeot_ms" in functions[0]; did you mean "timeout_ms"?',
    );
    expect(bad.stderr).toContain('bad.yaml:7: functions[1].id: duplicate id "a" (also functions[0])');
    expect(bad.stderr).toContain(
      'bad.yaml:8: functions[1].trigger_port: duplicate trigger_port 8080 (also functions[0])',
    );

    writeFileSync(
      path.join(cwd, 'paths.yaml'),
      'functions:\n  - id: a\n    trigger_port: 1\n    handler_path: ./handler.sh\n  - id: b\n    trigger_port: 2\n    handler_path: ./missing.py\n',
    );
    const paths = await runCli(['validate', 'paths.yaml'], { env: CLEAN_ENV, cwd });
    expect(paths.code).toBe(2);
    expect(paths.stderr).toContain('paths.yaml:4: functions[0].handler_path: ./handler.sh is not an executable file');
    expect(paths.stderr).toContain('paths.yaml:7: functions[1].handler_path: ./missing.py does not exist');

    writeFileSync(path.join(cwd, 'syntax.yaml'), 'functions:\n  - id: a\n    id: b\n');
    const syntax = await runCli(['validate', 'syntax.yaml'], { env: CLEAN_ENV, cwd });
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(/^error\[AETHER_E_CONFIG_INVALID\]: syntax\.yaml:3:\d+: YAML syntax error/);
  });
});

describe('aether workflow list, status and cancel', () => {
  let node: RunningServer;
  let url: string;
  let session: WorkerSession;

  beforeAll(async () => {
    const config = defaultServerConfig();
    config.server.grpcPort = 0;
    config.server.httpPort = 0;
    config.persistence.mode = 'memory';
    config.auth.token = 'cli-token';
    node = await startServer(config);
    url = `http://127.0.0.1:${node.httpPort}`;
    session = node.engine.connectWorker({
      workerId: 'cli-test-worker',
      workflowTypes: ['greet', 'hang'],
      onTask: (task) => {
        if (task.kind !== 'run' || task.workflowType !== 'greet') return;
        void (async () => {
          await session.command(task.workflowId, task.leaseToken, {
            kind: 'step',
            stepId: '0',
            name: 'create-greeting',
            status: 'completed',
            result: '"Hello, World!"',
            attempts: 1,
            startedAt: Date.now(),
          });
          await session.command(task.workflowId, task.leaseToken, {
            kind: 'workflow_completed',
            result: '{"message":"Hello, World!"}',
          });
        })();
      },
    });
    await node.engine.startWorkflow({ type: 'greet', input: '["World"]', workflowId: 'greet-1' });
    await node.engine.startWorkflow({ type: 'hang', input: '[]', workflowId: 'hang-1' });
    await node.engine.awaitResult('greet-1', 10_000);
  });
  afterAll(async () => {
    session.close();
    await node.close();
  });

  const env = () => ({ ...CLEAN_ENV, AETHER_SERVER: url, AETHER_TOKEN: 'cli-token' });

  it('lists workflows as an aligned table', async () => {
    const { code, stdout } = await runCli(['workflow', 'list'], { env: env() });
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATE\s+CREATED \(UTC\)\s+DURATION$/);
    const rows = lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3));
    expect(
      rows.sort((a, b) => b[0]!.localeCompare(a[0]!)),
      stdout,
    ).toEqual([
      ['hang-1', 'hang', expect.stringMatching(/^(PENDING|RUNNING)$/)],
      ['greet-1', 'greet', 'COMPLETED'],
    ]);
    // Columns line up: every row has TYPE where the header has it.
    const typeColumn = lines[0]!.indexOf('TYPE');
    for (const line of lines.slice(1)) expect(line[typeColumn - 1]).toBe(' ');
  });

  it('filters by type and state, and prints JSON with --json', async () => {
    const { code, stdout } = await runCli(['workflow', 'list', '--state', 'completed', '--json'], { env: env() });
    expect(code).toBe(0);
    const page = JSON.parse(stdout) as { workflows: { id: string }[]; next_cursor: null };
    expect(page.workflows.map((w) => w.id)).toEqual(['greet-1']);
    const byType = await runCli(['workflow', 'list', '--type', 'hang', '--limit', '1'], { env: env() });
    expect(byType.stdout).toContain('hang-1');
    expect(byType.stdout).not.toContain('greet-1');
    const badState = await runCli(['workflow', 'list', '--state', 'SLEEPING'], { env: env() });
    expect(badState.code).toBe(2);
    expect(badState.stderr).toContain('error[AETHER_E_USAGE]: --state "SLEEPING"');
  });

  it('shows status with the step journal as a table', async () => {
    const { code, stdout } = await runCli(['status', 'greet-1', '--server', url, '--token', 'cli-token'], {
      env: CLEAN_ENV,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^id:\s+greet-1$/m);
    expect(stdout).toMatch(/^state:\s+COMPLETED$/m);
    expect(stdout).toMatch(/^input:\s+\["World"\]$/m);
    expect(stdout).toMatch(/^result:\s+\{"message":"Hello, World!"\}$/m);
    expect(stdout).toMatch(/^STEP\s+NAME\s+KIND\s+STATUS\s+ATTEMPTS\s+STARTED \(UTC\)\s+DURATION\s+RESULT$/m);
    expect(stdout).toMatch(/^0\s+create-greeting\s+step\s+completed\s+1\s+.*"Hello, World!"$/m);
  });

  it('cancels a workflow, then fails (exit 1) cancelling it again', async () => {
    const first = await runCli(['cancel', 'hang-1'], { env: env() });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('cancelled workflow hang-1 (hang): state CANCELLED');
    const second = await runCli(['cancel', 'hang-1'], { env: env() });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^error\[AETHER_E_/);
  });

  it('exits 1 with AETHER_E_WF_NOT_FOUND for an unknown id', async () => {
    const { code, stderr } = await runCli(['status', 'nope'], { env: env() });
    expect(code).toBe(1);
    expect(stderr).toContain('error[AETHER_E_WF_NOT_FOUND]: workflow nope not found');
  });

  it('exits 1 with AETHER_E_UNAUTHENTICATED without the token', async () => {
    const { code, stderr } = await runCli(['workflow', 'list'], { env: { ...CLEAN_ENV, AETHER_SERVER: url } });
    expect(code).toBe(1);
    expect(stderr).toContain('error[AETHER_E_UNAUTHENTICATED]');
    expect(stderr).toContain('hint: send "Authorization: Bearer <token>"');
  });

  it('exits 1 with AETHER_E_UNAVAILABLE when no server answers', async () => {
    const port = await freePort();
    const { code, stderr } = await runCli(['workflow', 'list', '--server', `http://127.0.0.1:${port}`], {
      env: CLEAN_ENV,
    });
    expect(code).toBe(1);
    expect(stderr).toContain(`error[AETHER_E_UNAVAILABLE]: cannot reach the Aether server at http://127.0.0.1:${port}`);
    expect(stderr).toContain('hint: is the server running? start it with `aether serve`');
  });
});

describe('aether init', () => {
  it('scaffolds a TypeScript project that uses the local SDK', async () => {
    const out = path.join(tempDir(), 'hello-app');
    const { code, stdout } = await runCli(['init', 'hello-app', '--output', out], { env: CLEAN_ENV });
    expect(code).toBe(0);
    expect(stdout).toContain('npm run dev');
    for (const file of ['package.json', 'tsconfig.json', 'src/index.ts', 'README.md', '.gitignore']) {
      expect(existsSync(path.join(out, file)), file).toBe(true);
    }
    const pkg = JSON.parse(readFileSync(path.join(out, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('hello-app');
    expect(pkg.scripts.dev).toBe('tsx src/index.ts');
    expect(pkg.dependencies['@aetherframework.ai/sdk']).toBe(`file:${path.join(ROOT, 'packages/sdk')}`);
    const index = readFileSync(path.join(out, 'src/index.ts'), 'utf8');
    expect(index).toContain("import { aether } from '@aetherframework.ai/sdk';");
    expect(index).toContain("client.workflow('greet'");
  });

  it('writes a project that type-checks against the SDK', async () => {
    const out = path.join(tempDir(), 'typed-app');
    expect((await runCli(['init', 'typed-app', '--output', out], { env: CLEAN_ENV })).code).toBe(0);
    // Stand in for `npm install`: link the SDK and the repository's type packages.
    mkdirSync(path.join(out, 'node_modules/@aetherframework.ai'), { recursive: true });
    symlinkSync(path.join(ROOT, 'packages/sdk'), path.join(out, 'node_modules/@aetherframework.ai/sdk'), 'dir');
    symlinkSync(path.join(ROOT, 'node_modules/@types'), path.join(out, 'node_modules/@types'), 'dir');
    const tsc = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', out],
      {
        encoding: 'utf8',
      },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it('exits 1 with AETHER_E_INIT_TARGET_EXISTS for a non-empty target', async () => {
    const out = tempDir();
    writeFileSync(path.join(out, 'keep.txt'), 'mine');
    const { code, stderr } = await runCli(['init', 'app', '--output', out], { env: CLEAN_ENV });
    expect(code).toBe(1);
    expect(stderr).toContain('error[AETHER_E_INIT_TARGET_EXISTS]');
    expect(stderr).toContain('hint: choose another --output directory');
    expect(readFileSync(path.join(out, 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('exits 2 for a name npm would reject', async () => {
    const { code, stderr } = await runCli(['init', 'Bad Name'], { env: CLEAN_ENV, cwd: tempDir() });
    expect(code).toBe(2);
    expect(stderr).toContain('error[AETHER_E_USAGE]: "Bad Name" is not a valid project name');
  });
});

/**
 * `aether stats --dashboard`: the ink app in ink's test renderer against an
 * in-test node whose numbers change, quitting through renderDashboard, and
 * the whole command in a real pseudo-terminal (util-linux `script`).
 */
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stripVTControlCharacters } from 'node:util';
import type { InstanceStatus, OrchestratorStatus, ProcessFunctionStatus } from '@aether/functions';
import { cleanup, render } from 'ink-testing-library';
import { createElement } from 'react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, ROOT, startProcess, waitFor } from '../../../../tests/support/processes.js';
import { createApiClient } from './api-client.js';
import { fetchOrchestratorStatus } from './stats-command.js';
import { renderDashboard, StatsDashboard } from './stats-dashboard.js';

const MiB = 1024 * 1024;
const AT = '2025-06-01T10:00:00.000Z';

function instance(id: string, pid: number, state: InstanceStatus['state']): InstanceStatus {
  return {
    id,
    pid,
    port: 40000 + (pid % 1000),
    state,
    inFlight: state === 'BUSY' ? 3 : 0,
    connections: 0,
    memoryBytes: 24 * MiB,
    startedAt: '2025-06-01T09:59:30.000Z',
    startMs: 15,
    exit: null,
  };
}

function fn(id: string, triggerPort: number, instances: InstanceStatus[], rps: number, p99Ms: number) {
  const f: ProcessFunctionStatus = {
    id,
    runtime: 'process',
    triggerPort,
    handlerPath: `/opt/handlers/${id}.py`,
    memoryLimitMb: 128,
    timeoutMs: 30_000,
    isolation: 'none',
    scaling: { min: 1, max: 4, targetConcurrency: 10, idleTimeoutS: 60 },
    warm: 0,
    generation: 1,
    instances,
    restarts: 0,
    lastExit: null,
    requests: { total: 100, errors: 0, timeouts: 0, rps, p50Ms: 4.5, p99Ms },
    memoryBytes: instances.length * 24 * MiB,
  };
  return f;
}

/** The node's answer; `step` 2 has other numbers than step 1. */
function status(step: 1 | 2): OrchestratorStatus {
  return {
    at: step === 1 ? AT : '2025-06-01T10:00:05.000Z',
    file: null,
    orchestrator: {
      shmBufferSize: MiB,
      warmPoolSize: 0,
      restoreTimeoutMs: 2000,
      snapshotDir: '/tmp/snapshots',
      startTimeoutMs: 10_000,
    },
    limits: { cgroup: 'none', detail: 'no writable cgroup v2 hierarchy' },
    notes: [],
    functions: [
      fn(
        'api',
        8080,
        step === 1
          ? [instance('api-1', 4101, 'READY'), instance('api-2', 4102, 'BUSY')]
          : [instance('api-1', 4101, 'BUSY'), instance('api-2', 4102, 'BUSY'), instance('api-3', 4103, 'STARTING')],
        step === 1 ? 12.5 : 87.5,
        step === 1 ? 48 : 130,
      ),
      fn('thumbs', 8081, [instance('thumbs-1', 4201, 'READY')], 0.5, 250),
    ],
  };
}

/** An in-test node: GET /api/orchestrator answers `answer`, or 503 while `failing`. */
interface TestNode {
  url: string;
  answer: OrchestratorStatus;
  failing: boolean;
  close(): Promise<void>;
}

async function startNode(): Promise<TestNode> {
  const server: Server = createServer((req, res) => {
    if (node.failing) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'AETHER_E_SHUTTING_DOWN', message: 'the node is shutting down' } }));
      return;
    }
    res.writeHead(req.url === '/api/orchestrator' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(node.answer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const node: TestNode = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answer: status(1),
    failing: false,
    async close() {
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    },
  };
  return node;
}

const DOWN = '\u001B[B';
const UP = '\u001B[A';

describe('the stats dashboard in ink’s test renderer', () => {
  let node: TestNode;

  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(() => node.close());
  afterEach(() => {
    cleanup();
    node.answer = status(1);
    node.failing = false;
  });

  function show(url = node.url) {
    const client = createApiClient({ serverUrl: url });
    return render(
      createElement(StatsDashboard, {
        fetchStatus: () => fetchOrchestratorStatus(client),
        intervalMs: 20,
        serverUrl: url,
      }),
    );
  }

  it('shows the numbers of the first answer, then the new numbers once the node’s change', async () => {
    const app = show();
    expect(app.frames[0]).toContain('connecting…');
    const first = await waitFor(() => app.frames.find((f) => f.includes('api')), 'a frame with data');
    expect(first).toContain(node.url);
    expect(first).toContain('2025-06-01 10:00:00 UTC');
    expect(first).toContain('memory limits: none (no writable cgroup v2 hierarchy)');
    expect(first).toMatch(/› api\s+8080\s+1 ready, 1 busy\s+12\.5\s+4\.5ms\s+48ms\s+0\s+48 MB\s+0/);
    expect(first).toMatch(/thumbs\s+8081\s+1 ready\s+0\.5\s+4\.5ms\s+250ms/);
    expect(first).toMatch(/api-2\s+4102\s+40102\s+BUSY\s+3\s+24 MB\s+30\.0s/);
    expect(first).toContain('q quit   ↑/↓ select   refreshing every 20ms');

    node.answer = status(2);
    const later = await waitFor(() => (app.lastFrame()?.includes('87.5') ? app.lastFrame() : undefined), 'new numbers');
    expect(later).toMatch(/› api\s+8080\s+1 starting, 2 busy\s+87\.5\s+4\.5ms\s+130ms/);
    expect(later).toMatch(/api-3\s+4103\s+40103\s+STARTING/);
    expect(later).not.toContain('12.5');
  });

  it('selects the next function with the down arrow and shows its instances, and goes back up', async () => {
    const app = show();
    await waitFor(() => app.lastFrame()?.includes('instances of api'), 'the instances of api');
    expect(app.lastFrame()).not.toContain('thumbs-1');

    app.stdin.write(DOWN);
    const selected = await waitFor(
      () => (app.lastFrame()?.includes('instances of thumbs') ? app.lastFrame() : undefined),
      'thumbs selected',
    );
    expect(selected).toMatch(/› thumbs\s+8081/);
    expect(selected).toMatch(/thumbs-1\s+4201\s+40201\s+READY/);
    expect(selected).not.toContain('api-1');

    // The bottom of the list holds; up goes back.
    app.stdin.write(DOWN);
    app.stdin.write(UP);
    await waitFor(() => app.lastFrame()?.includes('instances of api'), 'api selected again');
    expect(app.lastFrame()).toMatch(/› api\s+8080/);
  });

  it('keeps the last answer on screen with the error when a poll fails, and recovers', async () => {
    const app = show();
    await waitFor(() => app.lastFrame()?.includes('12.5'), 'the first answer');
    node.failing = true;
    const failed = await waitFor(
      () => (app.lastFrame()?.includes('AETHER_E_SHUTTING_DOWN') ? app.lastFrame() : undefined),
      'the error',
    );
    expect(failed).toContain('error[AETHER_E_SHUTTING_DOWN]: the node is shutting down');
    expect(failed).toContain('showing the answer of 2025-06-01 10:00:00 UTC');
    expect(failed).toContain('12.5');

    node.failing = false;
    node.answer = status(2);
    await waitFor(() => app.lastFrame()?.includes('87.5'), 'the recovery');
    expect(app.lastFrame()).not.toContain('AETHER_E_');
  });

  it('is never blank when the node cannot be reached: it says where it is connecting and why it failed', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const app = show(url);
    const frame = await waitFor(
      () => (app.lastFrame()?.includes('AETHER_E_UNAVAILABLE') ? app.lastFrame() : undefined),
      'the error',
    );
    expect(frame).toContain(`connecting…`);
    expect(frame).toContain(`error[AETHER_E_UNAVAILABLE]: cannot reach the Aether server at ${url}`);
    expect(frame).toContain('hint: is the server running?');
    expect(frame).toContain('q quit');
  });
});

/** A terminal's input as ink reads it: raw mode, 'readable' and read(). */
class FakeStdin extends EventEmitter {
  isTTY = true;
  rawMode: boolean | undefined;
  private chunks: string[] = [];
  write(data: string): void {
    this.chunks.push(data);
    this.emit('readable');
  }
  read = (): string | null => this.chunks.shift() ?? null;
  setRawMode(mode: boolean): void {
    this.rawMode = mode;
  }
  setEncoding(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

/** A terminal's output: everything ink wrote. */
class FakeStdout extends EventEmitter {
  columns = 120;
  rows = 40;
  text = '';
  write = (chunk: string): boolean => {
    this.text += chunk;
    return true;
  };
}

describe('renderDashboard', () => {
  it.each([
    ['q', 'q'],
    ['Ctrl+C', '\u0003'],
  ])('exits when %s is pressed: waitUntilExit resolves and the terminal leaves raw mode', async (_key, data) => {
    let polls = 0;
    const stdin = new FakeStdin();
    const stdout = new FakeStdout();
    const dashboard = renderDashboard({
      fetchStatus: () => {
        polls++;
        return Promise.resolve(status(1));
      },
      intervalMs: 10,
      stdin: stdin as unknown as NodeJS.ReadStream,
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr: new FakeStdout() as unknown as NodeJS.WriteStream,
    });
    await waitFor(() => stdin.rawMode === true && polls >= 2, 'raw mode and polling');
    stdin.write(data);
    await dashboard.waitUntilExit();
    expect(stdin.rawMode).toBe(false);
    expect(stripVTControlCharacters(stdout.text)).toMatch(/› api\s+8080\s+1 ready, 1 busy\s+12\.5/);
  });
});

/** Runs `runStats({ dashboard: true })` as the CLI would, with its exit code and errors as runCli reports them. */
const RUNNER = `
const { runStats } = await import(process.env.STATS_COMMAND_MODULE);
const { processIo } = await import(process.env.CLI_IO_MODULE);
const { exitCodeFor, formatCliError } = await import(process.env.REPORT_ERROR_MODULE);
const { toAetherError } = await import('@aether/core');
try {
  process.exitCode = await runStats({ server: process.env.STATS_SERVER, dashboard: true, interval: '100ms' }, processIo());
} catch (err) {
  process.stderr.write(formatCliError(err, false));
  process.exitCode = exitCodeFor(toAetherError(err));
}`;

function runnerEnv(url: string): NodeJS.ProcessEnv {
  const env = childEnv({
    STATS_COMMAND_MODULE: new URL('./stats-command.ts', import.meta.url).href,
    CLI_IO_MODULE: new URL('./io.ts', import.meta.url).href,
    REPORT_ERROR_MODULE: new URL('./report-error.ts', import.meta.url).href,
    STATS_SERVER: url,
    STATS_RUNNER: RUNNER,
    NODE_BIN: process.execPath,
    SHELL: '/bin/sh',
    TERM: 'xterm-256color',
  });
  // ink draws only the last frame where it believes it runs in CI; this is a person's terminal.
  delete env.CI;
  delete env.CONTINUOUS_INTEGRATION;
  return env;
}

describe('aether stats --dashboard in a real terminal', () => {
  let node: TestNode;

  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(() => node.close());

  it('draws live numbers in a pseudo-terminal, quits on q and exits 0', async () => {
    // util-linux `script` gives the command a pseudo-terminal; -e passes on its exit code.
    const child = spawn(
      'script',
      [
        '-qfec',
        'stty cols 120 rows 40 && exec "$NODE_BIN" --import tsx --input-type=module -e "$STATS_RUNNER"',
        '/dev/null',
      ],
      { cwd: ROOT, env: runnerEnv(node.url), stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let raw = '';
    child.stdout.on('data', (d: Buffer) => (raw += d.toString()));
    child.stderr.on('data', (d: Buffer) => (raw += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const screen = (): string => stripVTControlCharacters(raw);
    try {
      await waitFor(() => /› api\s+8080\s+1 ready, 1 busy\s+12\.5/.test(screen()), 'the first numbers on the terminal');
      node.answer = status(2);
      await waitFor(() => /› api\s+8080\s+1 starting, 2 busy\s+87\.5/.test(screen()), 'the new numbers');
      expect(screen()).toContain(`aether stats   ${node.url}`);

      child.stdin.write('q');
      // The runner does not call process.exit: it ends only once polling has stopped and stdin is released.
      const code = await Promise.race([exited, waitFor(() => false, 'the exit after q', 15_000)]);
      expect(code, screen()).toBe(0);
      expect(screen()).not.toContain('error[');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      node.answer = status(1);
    }
  });

  it('refuses --dashboard without a terminal: AETHER_E_USAGE and exit code 2', async () => {
    const proc = startProcess(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', RUNNER],
      runnerEnv(node.url),
    );
    const { code } = await proc.exited;
    expect(proc.output()).toContain('error[AETHER_E_USAGE]: --dashboard needs an interactive terminal');
    expect(code).toBe(2);
  });
});

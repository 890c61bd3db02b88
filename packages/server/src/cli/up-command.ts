/**
 * `aether -c functions.yaml up [--foreground]` and `aether down` (seed 000):
 * `up` starts a node (as `aether serve`, same options) with the functions of
 * a YAML file and prints seed 000's banner and status table. Without
 * --foreground it runs the same command in a detached child, waits until
 * every function is ready (or failed), prints the same output and returns.
 * `down` asks the node to stop (`POST /api/shutdown`) and waits until it has.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { aetherError, fromErrorBody, toAetherError, type ErrorBody, type ResolvedServerConfig } from '@aether/core';
import type { OrchestratorStatus } from '@aether/functions';
import { loadFunctionsFile } from '../config/functions-file.js';
import { readConfigText } from '../config/load-config.js';
import { assertSafeBind, startServer } from '../serve.js';
import type { CliIo } from './io.js';
import { orchestratorBanner, startedLine, statusTable } from './orchestrator-banner.js';
import {
  createCliLogger,
  resolveServeConfig,
  waitForShutdown,
  type GlobalOptions,
  type ServeCommandOptions,
} from './serve-command.js';
import { clientFor, type RemoteOptions } from './workflow-commands.js';

/** Options of `aether up`. */
export interface UpOptions extends ServeCommandOptions, GlobalOptions {
  foreground?: boolean | undefined;
}

/** Messages from the detached child to the `up` that started it. */
type UpMessage = { type: 'ready'; status: OrchestratorStatus; host: string } | { type: 'failed'; error: ErrorBody };

function functionsFileOf(options: UpOptions, io: CliIo): { text: string; file: string; full: string } {
  const file = options.config;
  if (file === undefined || !/\.ya?ml$/i.test(file)) {
    throw aetherError(
      'AETHER_E_USAGE',
      file === undefined
        ? '`aether up` needs a functions file: aether -c functions.yaml up'
        : `-c ${file}: \`aether up\` needs a functions file (.yaml/.yml); server settings come from ./aether.toml`,
      { flag: '-c' },
    );
  }
  return { text: readConfigText(file, io.cwd, true) ?? '', file, full: path.resolve(io.cwd, file) };
}

/** Runs `aether up`. @returns the exit code */
export async function runUp(options: UpOptions, io: CliIo): Promise<number> {
  const { text, file, full } = functionsFileOf(options, io);
  // Checked here too, so a bad file fails at once with its line numbers, before any daemon starts.
  const functions = loadFunctionsFile(text, file, full);
  // Server settings as `aether serve` takes them (./aether.toml, env, flags); -c names the functions file here.
  const config = resolveServeConfig({ ...options, config: undefined }, io);
  assertSafeBind(config.server.host, config.auth.token, options.insecure === true);
  if (options.foreground !== true && process.send === undefined) return startDetached(options, config, io);

  const detached = process.send !== undefined && io.env.AETHER_UP_DETACHED === '1';
  const say = (text: string): void => {
    if (!detached) io.stdout(text);
  };
  say(`${orchestratorBanner()}\n`);
  let requestStop: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
  const node = await startServer(config, {
    insecure: options.insecure === true,
    // In the terminal, seed 000's output stays readable: info logs only with -v (the detached log file keeps them).
    logger: createCliLogger(
      detached || io.env.AETHER_LOG_LEVEL !== undefined
        ? io
        : { ...io, env: { ...io.env, AETHER_LOG_LEVEL: options.verbose === true ? 'debug' : 'warn' } },
      options.verbose === true,
    ),
    logRequests: options.verbose === true,
    processOutput: (_id, line) => io.stdout(`${line}\n`),
    onShutdownRequest: () => requestStop(),
  });
  try {
    await node.processes.ready();
    for (const fn of functions.functions) say(`▶ Spawning function: ${fn.id}\n`);
    await node.processes.deploy(functions, full);
  } catch (err) {
    await node.close();
    if (detached) process.send!({ type: 'failed', error: toAetherError(err).toJSON() } satisfies UpMessage);
    throw err;
  }
  const status = node.processes.status();
  const signalled = waitForShutdown('aether up', () => node.close(), io);
  for (const fn of status.functions) say(`${startedLine(fn)}\n`);
  say(`\n${statusTable(status, config.server.host)}\n`);
  for (const note of status.notes) say(`  ! ${note}\n`);
  say(`\n${node.banner.join('\n')}\n\nPress Ctrl+C to stop...\n`);
  if (detached) {
    process.send!({ type: 'ready', status, host: config.server.host } satisfies UpMessage);
    process.disconnect?.();
  }
  await Promise.race([signalled, stopRequested.then(() => node.close())]);
  return 0;
}

/** Starts `up --foreground` detached, logging to a file, and waits for its verdict. */
async function startDetached(options: UpOptions, config: ResolvedServerConfig, io: CliIo): Promise<number> {
  const logDir = config.server.dbPath.startsWith('postgres')
    ? path.resolve(io.cwd, 'data')
    : path.dirname(path.resolve(io.cwd, config.server.dbPath));
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, 'aether-up.log');
  const fd = openSync(logFile, 'a');
  const args = process.argv.slice(1).filter((a) => a !== '--foreground');
  args.push('--foreground');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    cwd: io.cwd,
    env: { ...io.env, AETHER_UP_DETACHED: '1' },
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const message = await new Promise<UpMessage | { type: 'exit'; code: number | null }>((resolve) => {
    child.once('message', (m) => resolve(m as UpMessage));
    child.once('exit', (code) => resolve({ type: 'exit', code }));
  });
  child.unref();
  child.disconnect?.();
  if (message.type === 'failed') throw fromErrorBody(message.error);
  if (message.type === 'exit') {
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    throw aetherError(
      'AETHER_E_INTERNAL',
      `the orchestrator exited with code ${message.code} before it was ready; ${logFile} ends with:\n${tail}`,
    );
  }
  io.stdout(`${orchestratorBanner()}\n`);
  for (const fn of message.status.functions) io.stdout(`▶ Spawning function: ${fn.id}\n${startedLine(fn)}\n`);
  io.stdout(`\n${statusTable(message.status, message.host)}\n`);
  for (const note of message.status.notes) io.stdout(`  ! ${note}\n`);
  io.stdout(`\nRunning in the background (PID: ${child.pid}); logs: ${logFile}\nStop it with: aether down\n`);
  return 0;
}

/** Runs `aether down`. @returns the exit code */
export async function runDown(options: RemoteOptions, io: CliIo): Promise<number> {
  const client = clientFor(options, io);
  await client.post('/api/shutdown');
  // The node answers before it stops; wait until it no longer answers.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.get('/health');
    } catch (err) {
      if (toAetherError(err).code === 'AETHER_E_UNAVAILABLE' || Date.now() > deadline) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  io.stdout('✓ Orchestrator stopped\n');
  return 0;
}

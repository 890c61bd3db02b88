/**
 * The `aether` command line (DESIGN.md 4.1) as a commander program: global
 * `-c FILE` and `-v`, and the commands implemented so far. Every command's
 * action returns its exit code; errors are thrown and reported by `runCli`.
 */
import { Command } from 'commander';
import { runEdge, type EdgeCommandOptions } from './edge-command.js';
import {
  collect,
  createFunction,
  deleteFunction,
  invokeFunction,
  listFunctions,
  uploadFunction,
  type FunctionCreateOptions,
  type FunctionInvokeOptions,
} from './function-commands.js';
import type { CliIo } from './io.js';
import { runInit } from './init-command.js';
import { runServe, type GlobalOptions, type ServeCommandOptions } from './serve-command.js';
import { runDeploy, runList } from './orchestrator-commands.js';
import { runStats, type StatsOptions } from './stats-command.js';
import { runDown, runUp, type UpOptions } from './up-command.js';
import { runValidate } from './validate-command.js';
import {
  cancelWorkflow,
  listWorkflows,
  showStatus,
  type ListOptions,
  type RemoteOptions,
} from './workflow-commands.js';

/** What an action reports back to `runCli`. */
export interface ProgramResult {
  exitCode: number;
}

function addRemoteOptions(command: Command): Command {
  return command
    .option('--server <url>', 'HTTP address of the Aether node (env AETHER_SERVER, default http://127.0.0.1:7234)')
    .option('--token <token>', 'bearer token of the node (env AETHER_TOKEN)')
    .option('--json', 'print the raw JSON answer');
}

function addServeOptions(command: Command): Command {
  return command
    .option('--grpc-port <port>', 'gRPC port (default 7233, [server] grpc_port)')
    .option('--http-port <port>', 'HTTP port (default 7234, [server] http_port)')
    .option('--host <host>', 'address to bind (default 127.0.0.1, [server] host)')
    .option('--persistence <mode>', 'memory | snapshot | state-action-log (default state-action-log)')
    .option('--db <path|url>', 'SQLite file or postgres:// URL (default ./data/aether.db, [server] db_path)')
    .option('--token <token>', 'require this bearer token on gRPC and HTTP (env AETHER_TOKEN, [auth] token)')
    .option('--insecure', 'allow a non-loopback --host without a token');
}

/**
 * Builds the program. `result.exitCode` is set by the action that ran.
 * Commander's own output (help, usage errors) goes through `io`.
 */
export function buildProgram(io: CliIo, result: ProgramResult, version: string): Command {
  const program = new Command('aether');
  program
    .description('Aether: serverless functions and durable workflows on your own machines')
    .version(version, '-V, --version', 'print the version')
    .option(
      '-c, --config <file>',
      'configuration file: aether.toml (server) or a functions .yaml (default ./aether.toml)',
    )
    .option('-v, --verbose', 'verbose output: debug logs, error details, stacks and causes')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // Usage errors are printed by runCli in Aether's `error[CODE]` form.
      outputError: () => {},
    });

  program.addHelpText(
    'after',
    `
Synopsis:
  aether serve [--grpc-port N] [--http-port N] [--host H] [--persistence memory|snapshot|state-action-log]
               [--db PATH|postgres://...] [--token T] [--insecure]
  aether -c functions.yaml up [--foreground] [serve's options]
  aether down | list [--server URL] [--token T] [--json]
  aether deploy <file> [--server URL] [--token T] [--json]
  aether stats [--dashboard [--interval 1s]] [--server URL] [--token T] [--json]
  aether edge --control-plane URL [--port 9091] [--host H] [--node-id ID] [--token T] [--url URL]
  aether init <name> [--output DIR]
  aether validate <file>
  aether workflow list [--type T] [--state S] [--limit N] [--cursor C] [--server URL] [--token T] [--json]
  aether status <id> [--server URL] [--token T] [--json]
  aether cancel <id> [--server URL] [--token T] [--json]
  aether function create <name> [--env KEY=VALUE ...] [--memory MB] [--timeout MS] [--min N] [--max N]
                         [--target-concurrency N] [--idle-timeout S] [--server URL] [--token T] [--json]
  aether function upload <id> <file.zip|dir> [--server URL] [--token T] [--json]
  aether function invoke <id> [path?query] [--method M] [--data TEXT|@file] [--header 'K: V' ...] [--include]
                         [--output FILE] [--server URL] [--token T]
  aether function list | delete <id> [--server URL] [--token T] [--json]

Configuration: defaults < ./aether.toml (or -c FILE.toml) < env AETHER_TOKEN < flags.
Edge nodes: defaults < -c edge.toml (seed 002's [runtime] and [server], plus [edge]) < env AETHER_EDGE_TOKEN < flags.
Environment: AETHER_TOKEN (bearer token), AETHER_SERVER (node HTTP URL), AETHER_LOG_LEVEL (serve logs, default info).
Exit codes: 0 ok, 1 failure, 2 usage or configuration error.`,
  );

  const globals = (command: Command): GlobalOptions => command.optsWithGlobals<GlobalOptions>();

  addServeOptions(program.command('serve').description('run a node: workflow engine, gRPC API and HTTP API')).action(
    async (options: ServeCommandOptions, command: Command) => {
      result.exitCode = await runServe({ ...options, ...globals(command) }, io);
    },
  );

  const up = program
    .command('up')
    .description("start a node with the process functions of a functions file (seed 000's orchestrator)")
    .option('--foreground', 'stay attached to the terminal (default: run in the background)');
  addServeOptions(up).action(async (options: UpOptions, command: Command) => {
    result.exitCode = await runUp({ ...options, ...globals(command) }, io);
  });

  addRemoteOptions(program.command('down').description('stop the node started with `aether up`')).action(
    async (options: RemoteOptions) => {
      result.exitCode = await runDown(options, io);
    },
  );

  addRemoteOptions(
    program
      .command('deploy')
      .description('hot-load a functions file: add, change and remove functions without stopping the others')
      .argument('<file>', 'functions .yaml/.yml'),
  ).action(async (file: string, options: RemoteOptions) => {
    result.exitCode = await runDeploy(file, options, io);
  });

  addRemoteOptions(program.command('list').description('list the functions of the running node')).action(
    async (options: RemoteOptions) => {
      result.exitCode = await runList(options, io);
    },
  );

  addRemoteOptions(
    program
      .command('stats')
      .description('functions, instances and request statistics of a running node')
      .option('--dashboard', 'live terminal dashboard (↑/↓ select a function, q quits)')
      .option('--interval <duration>', 'dashboard refresh interval, e.g. 500ms or 2s (default 1s)'),
  ).action(async (options: StatsOptions) => {
    result.exitCode = await runStats(options, io);
  });

  program
    .command('edge')
    .description('run an edge node: executes WASM functions of a control plane (seed 002)')
    .option('--control-plane <url>', 'HTTP URL of the control plane (`aether serve`), e.g. http://127.0.0.1:7234')
    .option('--port <port>', 'port of /execute and /health (default 9091, [server] port)')
    .option('--host <host>', 'address to bind (default 127.0.0.1, [server] host)')
    .option('--node-id <id>', "this node's id (default <hostname>-<port>)")
    .option('--token <token>', "the control plane's [edge] token or [auth] token (env AETHER_EDGE_TOKEN)")
    .option('--url <url>', 'URL the control plane reaches this node at (default http://<host>:<port>)')
    .action(async (options: EdgeCommandOptions, command: Command) => {
      result.exitCode = await runEdge({ ...options, ...globals(command) }, io);
    });

  program
    .command('init')
    .description('create a TypeScript workflow project that uses the SDK')
    .argument('<name>', 'project (npm package) name')
    .option('--output <dir>', 'directory of the project (default ./<name>)')
    .action((name: string, options: { output?: string }) => {
      runInit(name, options, io);
      result.exitCode = 0;
    });

  program
    .command('validate')
    .description("check a functions file (seed 000's YAML) or an aether.toml and print its summary")
    .argument('<file>', 'functions .yaml/.yml or server .toml')
    .action((file: string) => {
      result.exitCode = runValidate(file, io);
    });

  const workflow = program.command('workflow').description('workflows of a running node: workflow list');
  addRemoteOptions(
    workflow
      .command('list')
      .description('list workflows, newest first')
      .option('--type <type>', 'only workflows of this type')
      .option('--state <state>', 'only workflows in this state (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)')
      .option('--limit <n>', 'at most this many (1-1000, default 50)')
      .option('--cursor <cursor>', 'continue a previous listing'),
  ).action(async (options: ListOptions) => {
    await listWorkflows(options, io);
    result.exitCode = 0;
  });

  addRemoteOptions(
    program
      .command('status')
      .description("show a workflow's state, result and step journal")
      .argument('<id>', 'workflow id'),
  ).action(async (id: string, options: RemoteOptions) => {
    await showStatus(id, options, io);
    result.exitCode = 0;
  });

  addRemoteOptions(program.command('cancel').description('cancel a workflow').argument('<id>', 'workflow id')).action(
    async (id: string, options: RemoteOptions) => {
      await cancelWorkflow(id, options, io);
      result.exitCode = 0;
    },
  );

  const fn = program
    .command('function')
    .description('node functions of a running node (seed 001): create, upload, invoke, list, delete');
  addRemoteOptions(
    fn
      .command('create')
      .description('create a node function; prints its id')
      .argument('<name>', 'function name (its id)')
      .option('--env <KEY=VALUE>', 'an environment variable of the function (repeatable)', collect)
      .option('--memory <MB>', 'memory limit in MiB (1-16384)')
      .option('--timeout <MS>', 'request timeout in milliseconds (1-3600000)')
      .option('--min <N>', "instances kept running, ready before any request (0-1000; default: the node's)")
      .option('--max <N>', "most instances at once (1-1000; default: the node's)")
      .option(
        '--target-concurrency <N>',
        "requests one instance takes before more start (1-10000; default: the node's)",
      )
      .option('--idle-timeout <S>', "seconds an instance beyond --min may stay idle (0-86400; default: the node's)"),
  ).action(async (name: string, options: FunctionCreateOptions) => {
    result.exitCode = await createFunction(name, options, io);
  });

  addRemoteOptions(
    fn
      .command('upload')
      .description('upload code as a new version: a .zip, or a folder zipped here (handler.js at its root)')
      .argument('<id>', 'function id')
      .argument('<path>', '.zip file or folder'),
  ).action(async (id: string, file: string, options: RemoteOptions) => {
    result.exitCode = await uploadFunction(id, file, options, io);
  });

  fn.command('invoke')
    .description('send one request to a function; prints the body (exit code 1 when the status is 400 or more)')
    .argument('<id>', 'function id')
    .argument('[path]', 'sub-path and query, e.g. users/7?x=1 (default /)')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with --data)')
    .option('-d, --data <text|@file>', 'request body: text, or @file for the bytes of a file')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", collect)
    .option('-i, --include', 'print the status line and the response headers before the body')
    .option('-o, --output <file>', 'write the body to a file (bytes as they are) instead of standard output')
    .option('--server <url>', 'HTTP address of the Aether node (env AETHER_SERVER, default http://127.0.0.1:7234)')
    .option('--token <token>', 'bearer token of the node (env AETHER_TOKEN)')
    .action(async (id: string, sub: string | undefined, options: FunctionInvokeOptions) => {
      result.exitCode = await invokeFunction(id, sub, options, io);
    });

  addRemoteOptions(fn.command('list').description('list the functions of the node (node and WASM)')).action(
    async (options: RemoteOptions) => {
      result.exitCode = await listFunctions(options, io);
    },
  );

  addRemoteOptions(fn.command('delete').description('delete a function').argument('<id>', 'function id')).action(
    async (id: string, options: RemoteOptions) => {
      result.exitCode = await deleteFunction(id, options, io);
    },
  );

  return program;
}

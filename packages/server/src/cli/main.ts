/**
 * Entry point of the `aether` CLI (`bin/aether.js` calls `main`): parses the
 * command line, runs the command, reports errors as `error[AETHER_E_...]` and
 * turns the outcome into an exit code (0 ok, 1 failure, 2 usage or config).
 */
import { readFileSync } from 'node:fs';
import { aetherError } from '@aether/core';
import { CommanderError } from 'commander';
import { processIo, type CliIo } from './io.js';
import { buildProgram, type ProgramResult } from './program.js';
import { EXIT, exitCodeFor, formatCliError } from './report-error.js';
import { toAetherError } from '@aether/core';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Commander outcomes that are not errors. */
const COMMANDER_OK = new Set(['commander.helpDisplayed', 'commander.version']);

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, args...).
 * @returns the exit code
 * @example
 * process.exitCode = await runCli(process.argv);
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const result: ProgramResult = { exitCode: EXIT.OK };
  const program = buildProgram(io, result, packageVersion());
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  try {
    await program.parseAsync([...argv]);
    return result.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (COMMANDER_OK.has(err.code)) return EXIT.OK;
      // `aether` alone (or `aether workflow` alone) prints help to stderr: a usage error.
      if (err.code === 'commander.help') return EXIT.USAGE;
      const message = err.message.replace(/^error:\s*/, '');
      io.stderr(formatCliError(aetherError('AETHER_E_USAGE', message, { commander: err.code }), verbose));
      return EXIT.USAGE;
    }
    io.stderr(formatCliError(err, verbose));
    return exitCodeFor(toAetherError(err));
  }
}

/** Runs the CLI on this process and exits with its code once output is flushed. */
export async function main(): Promise<void> {
  const code = await runCli(process.argv);
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

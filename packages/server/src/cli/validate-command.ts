/**
 * `aether validate <file>`: checks a functions file (seed 000) or an
 * aether.toml without starting anything, and prints seed 000's summary.
 * Beyond the schema it checks what needs the disk (handlers, modules and code
 * exist; handlers are executable) and says which settings cannot take effect
 * on this host instead of ignoring them silently.
 */
import { detectCgroups, findBubblewrap, orchestratorNotes } from '@aether/functions';
import path from 'node:path';
import { TerminalError, parseServerConfig, type ResolvedFunctionsFile } from '@aether/core';
import { loadFunctionsFile } from '../config/functions-file.js';
import { isTomlFile, readConfigText } from '../config/load-config.js';
import type { CliIo } from './io.js';

/** Seed 000's summary of a valid functions file. */
export function formatFunctionsSummary(file: ResolvedFunctionsFile, notes: string[]): string {
  const o = file.orchestrator;
  const lines = [
    '',
    '✓ Configuration is valid',
    '',
    'Orchestrator Settings:',
    `  SHM Buffer Size:    ${o.shmBufferSize} bytes`,
    `  Warm Pool Size:     ${o.warmPoolSize}`,
    `  Restore Timeout:    ${o.restoreTimeoutMs}ms`,
    '',
    `Functions (${file.functions.length}):`,
    ...file.functions.map((f) => {
      const where = f.triggerPort !== undefined ? `port: ${f.triggerPort}` : `runtime: ${f.runtime}`;
      return `  - ${f.id} (${where}, memory: ${f.memoryLimitMb}MB, timeout: ${f.timeoutMs}ms)`;
    }),
  ];
  if (notes.length > 0) lines.push('', 'Notes:', ...notes.map((n) => `  ! ${n}`));
  return `${lines.join('\n')}\n`;
}

/**
 * Runs `aether validate <file>`: prints the summary and returns 0, or throws
 * AETHER_E_CONFIG_INVALID (exit 2) naming file, line and field of every problem.
 */
export function runValidate(file: string, io: CliIo): number {
  const text = readConfigText(file, io.cwd, true) ?? '';
  if (isTomlFile(file)) {
    parseServerConfig(text, file);
    io.stdout(`\n✓ Configuration is valid (${file}: server configuration)\n`);
    return 0;
  }
  if (!/\.ya?ml$/i.test(file)) {
    throw new TerminalError(
      'AETHER_E_USAGE',
      `${file}: expected a functions file (.yaml/.yml) or a server configuration (.toml)`,
      { file },
    );
  }
  const parsed = loadFunctionsFile(text, file, path.resolve(io.cwd, file));
  io.stdout(
    formatFunctionsSummary(parsed, orchestratorNotes(parsed, { cgroups: detectCgroups(), bwrap: findBubblewrap() })),
  );
  return 0;
}

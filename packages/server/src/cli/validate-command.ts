/**
 * `aether validate <file>`: checks a functions file (seed 000) or an
 * aether.toml without starting anything, and prints seed 000's summary.
 * Beyond the schema it checks what needs the disk (handlers, modules and code
 * exist; handlers are executable) and says which settings cannot take effect
 * on this host instead of ignoring them silently.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  TerminalError,
  configInvalid,
  functionsFileLine,
  parseFunctionsFile,
  parseServerConfig,
  type ConfigProblem,
  type ResolvedFunctionsFile,
} from '@aether/core';
import { isTomlFile, readConfigText } from '../config/load-config.js';
import type { CliIo } from './io.js';

/** Whether an executable named `name` is on PATH. */
function onPath(name: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Problems of the files a functions file names, relative to the file's directory. */
export function checkFunctionPaths(
  file: ResolvedFunctionsFile,
  baseDir: string,
  lineOf: (path: (string | number)[]) => number | undefined = () => undefined,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  file.functions.forEach((fn, i) => {
    const check = (key: 'handler_path' | 'code' | 'wasm', value: string | undefined, executable: boolean): void => {
      if (value === undefined) return;
      const full = path.resolve(baseDir, value);
      if (!existsSync(full)) {
        problems.push({
          line: lineOf(['functions', i, key]),
          key: `functions[${i}].${key}`,
          message: `${value} does not exist`,
        });
        return;
      }
      if (executable) {
        try {
          if (!statSync(full).isFile()) throw new Error('not a file');
          accessSync(full, constants.X_OK);
        } catch {
          problems.push({
            line: lineOf(['functions', i, key]),
            key: `functions[${i}].${key}`,
            message: `${value} is not an executable file (chmod +x, and a #! line for scripts)`,
          });
        }
      }
    };
    check('handler_path', fn.handlerPath, true);
    check('code', fn.code, false);
    check('wasm', fn.wasm, false);
  });
  return problems;
}

/** Settings of a functions file that this host cannot honour, as notes for the user. */
export function hostNotes(file: ResolvedFunctionsFile, env: NodeJS.ProcessEnv): string[] {
  const notes: string[] = [];
  if (file.orchestrator.warmPoolSize > 0 && !onPath('criu', env)) {
    notes.push(
      'criu is not installed: instances cannot be restored from snapshots on this host, ' +
        'so restore_timeout_ms and snapshot_dir have no effect',
    );
  }
  const sandboxed = file.functions.filter((f) => f.isolation === 'sandbox').map((f) => f.id);
  if (sandboxed.length > 0 && !onPath('bwrap', env)) {
    notes.push(
      `isolation: sandbox needs bubblewrap (bwrap), which is not installed: ${sandboxed.join(', ')} cannot start`,
    );
  }
  return notes;
}

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
  const parsed = parseFunctionsFile(text, file);
  const problems = checkFunctionPaths(parsed, path.dirname(path.resolve(io.cwd, file)), (p) =>
    functionsFileLine(text, p),
  );
  if (problems.length > 0) throw configInvalid(file, problems);
  io.stdout(formatFunctionsSummary(parsed, hostNotes(parsed, io.env)));
  return 0;
}

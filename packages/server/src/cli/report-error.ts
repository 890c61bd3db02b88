/**
 * How the CLI reports errors: `error[AETHER_E_...]: message`, a `hint:` line
 * when the catalogue has one, the stack and causes with `-v`, and the exit
 * code (2 for usage and configuration errors, 1 for everything else).
 */
import { toAetherError, type AetherError, type ErrorCode } from '@aether/core';

/** Codes that mean "you asked wrongly": exit code 2. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  'AETHER_E_USAGE',
  'AETHER_E_CONFIG_INVALID',
  'AETHER_E_CONFIG_UNREADABLE',
  'AETHER_E_INSECURE_BIND',
]);

/** Exit codes of the `aether` CLI. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** The exit code for an error: 2 for usage/configuration errors, else 1. */
export function exitCodeFor(error: AetherError): number {
  return USAGE_CODES.has(error.code) ? EXIT.USAGE : EXIT.FAILURE;
}

function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  let cause = (error as { cause?: unknown }).cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    lines.push(
      cause instanceof Error ? `caused by: ${cause.stack ?? cause.message}` : `caused by: ${JSON.stringify(cause)}`,
    );
    cause = (cause as { cause?: unknown }).cause;
  }
  return lines;
}

/** Formats an error for the terminal; `verbose` adds details, stack and causes. */
export function formatCliError(err: unknown, verbose: boolean): string {
  const error = toAetherError(err);
  const lines = [`error[${error.code}]: ${error.message}`];
  // A config file with several problems: every one on its own line, file:line: key: message.
  const problems = error.details.problems;
  if (Array.isArray(problems) && typeof error.details.file === 'string') {
    for (const p of problems.slice(1) as { line?: number; key: string; message: string }[]) {
      lines.push(`  ${error.details.file}${p.line === undefined ? '' : `:${p.line}`}: ${p.key}: ${p.message}`);
    }
  }
  if (error.hint !== undefined) lines.push(`hint: ${error.hint}`);
  if (verbose) {
    if (Object.keys(error.details).length > 0) lines.push(`details: ${JSON.stringify(error.details)}`);
    const original = err instanceof Error ? err : error;
    if (original.stack !== undefined) lines.push(original.stack);
    lines.push(...causeChain(original));
  }
  return `${lines.join('\n')}\n`;
}

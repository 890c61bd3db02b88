/**
 * `aether stats [--dashboard] [--interval 1s]` (seed 000's CLI table): the
 * process functions of a running node, their instances and request
 * statistics from `GET /api/orchestrator`, printed once as a table (raw with
 * --json) or shown live in a terminal dashboard until `q`.
 */
import { aetherError, parseDuration } from '@aether/core';
import type { OrchestratorStatus } from '@aether/functions';
import type { ApiClient } from './api-client.js';
import type { CliIo } from './io.js';
import { FUNCTION_HEADERS, formatExit, functionCells, reportTime } from './stats-format.js';
import { formatTable } from './table.js';
import { clientFor, type RemoteOptions } from './workflow-commands.js';

/** Options of `aether stats`, as commander parses them. */
export interface StatsOptions extends RemoteOptions {
  /** Show the live terminal dashboard instead of printing once. */
  dashboard?: boolean | undefined;
  /**
   * How often the dashboard asks the node: `500ms`, `2s`, or a number of milliseconds.
   * @default "1s"
   */
  interval?: string | undefined;
}

/** The dashboard's refresh interval when --interval is not given. */
export const DEFAULT_STATS_INTERVAL_MS = 1000;

const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 3_600_000;

/**
 * Parses `--interval`: `500ms`, `2s`, `1m`, or bare milliseconds, from 100 ms to 1 h.
 * @throws TerminalError AETHER_E_USAGE when it is not one
 */
export function parseStatsInterval(text: string | undefined): number {
  if (text === undefined) return DEFAULT_STATS_INTERVAL_MS;
  const ms = /^\s*\d+\s*$/.test(text) ? Number(text) : parseDuration(text);
  if (ms === undefined || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) {
    throw aetherError(
      'AETHER_E_USAGE',
      `--interval ${JSON.stringify(text)}: expected a duration from 100ms to 1h, such as 500ms, 2s or 1000`,
      { flag: '--interval' },
    );
  }
  return ms;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the parts of an answer that the table and the dashboard read, so that
 * a node of another version fails with a message instead of a TypeError.
 * @throws TerminalError AETHER_E_INTERNAL when the answer is not an OrchestratorStatus
 */
export function asOrchestratorStatus(value: unknown, serverUrl: string): OrchestratorStatus {
  const functions = isRecord(value) ? value.functions : undefined;
  const ok =
    isRecord(value) &&
    typeof value.at === 'string' &&
    isRecord(value.limits) &&
    Array.isArray(value.notes) &&
    Array.isArray(functions) &&
    functions.every(
      (f) => isRecord(f) && typeof f.id === 'string' && Array.isArray(f.instances) && isRecord(f.requests),
    );
  if (!ok) {
    throw aetherError(
      'AETHER_E_INTERNAL',
      `the Aether server at ${serverUrl} answered GET /api/orchestrator with something other than an orchestrator status`,
      { serverUrl },
    );
  }
  return value as unknown as OrchestratorStatus;
}

/** Asks the node for its orchestrator status. */
export async function fetchOrchestratorStatus(client: ApiClient): Promise<OrchestratorStatus> {
  return asOrchestratorStatus(await client.get<unknown>('/api/orchestrator'), client.serverUrl);
}

/** The one-shot output: one row per function, then the notes of the node. */
export function formatStats(status: OrchestratorStatus): string {
  const now = reportTime(status.at);
  let text =
    status.functions.length === 0
      ? 'no functions: the orchestrator runs none\n'
      : formatTable(
          [...FUNCTION_HEADERS, 'LAST EXIT'],
          status.functions.map((f) => [...functionCells(f), formatExit(f.lastExit, now)]),
        );
  if (status.notes.length > 0) text += `\n${status.notes.map((note) => `note: ${note}`).join('\n')}\n`;
  return text;
}

function assertInteractive(): void {
  if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
    throw aetherError(
      'AETHER_E_USAGE',
      '--dashboard needs an interactive terminal; without one use `aether stats` or `aether stats --json`',
      { flag: '--dashboard' },
    );
  }
}

/**
 * Runs `aether stats`: prints the status once, or shows the dashboard until `q` or Ctrl+C.
 * @returns the exit code
 * @throws AetherError as the API client throws it (AETHER_E_UNAVAILABLE when the node is unreachable)
 */
export async function runStats(options: StatsOptions, io: CliIo): Promise<number> {
  if (options.dashboard === true) {
    if (options.json === true) {
      throw aetherError('AETHER_E_USAGE', '--json and --dashboard cannot be used together', { flag: '--json' });
    }
    const intervalMs = parseStatsInterval(options.interval);
    const client = clientFor(options, io);
    assertInteractive();
    // Loaded here so that every other command starts without React and ink.
    const { renderDashboard } = await import('./stats-dashboard.js');
    const dashboard = renderDashboard({
      fetchStatus: () => fetchOrchestratorStatus(client),
      intervalMs,
      serverUrl: client.serverUrl,
    });
    await dashboard.waitUntilExit();
    return 0;
  }
  if (options.interval !== undefined) {
    throw aetherError('AETHER_E_USAGE', '--interval applies only with --dashboard', { flag: '--interval' });
  }
  const client = clientFor(options, io);
  if (options.json === true) {
    io.stdout(`${JSON.stringify(await client.get<unknown>('/api/orchestrator'), null, 2)}\n`);
    return 0;
  }
  io.stdout(formatStats(await fetchOrchestratorStatus(client)));
  return 0;
}

/**
 * `aether workflow list`, `aether status <id>` and `aether cancel <id>`: calls
 * to a running node's HTTP API, printed as aligned tables (or raw with --json).
 */
import { WORKFLOW_STATES, aetherError } from '@aether/core';
import type { StepJson, WorkflowDetailJson, WorkflowJson } from '../http/serialize.js';
import { createApiClient, DEFAULT_SERVER_URL, type ApiClient } from './api-client.js';
import type { CliIo } from './io.js';
import { formatDuration, formatFields, formatJson, formatTable, formatTime, truncate } from './table.js';

/** Options shared by the commands that talk to a node. */
export interface RemoteOptions {
  server?: string | undefined;
  token?: string | undefined;
  json?: boolean | undefined;
}

/** Options of `aether workflow list`. */
export interface ListOptions extends RemoteOptions {
  type?: string | undefined;
  state?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
}

/** The client for `--server`/AETHER_SERVER with `--token`/AETHER_TOKEN. */
export function clientFor(options: RemoteOptions, io: CliIo): ApiClient {
  const token = options.token ?? (io.env.AETHER_TOKEN === '' ? undefined : io.env.AETHER_TOKEN);
  return createApiClient({
    serverUrl: options.server ?? (io.env.AETHER_SERVER || DEFAULT_SERVER_URL),
    token,
  });
}

function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** `aether workflow list [--type T] [--state S] [--limit N] [--cursor C]`. */
export async function listWorkflows(options: ListOptions, io: CliIo): Promise<void> {
  const query = new URLSearchParams();
  if (options.type !== undefined) query.set('type', options.type);
  if (options.state !== undefined) {
    const state = options.state.toUpperCase();
    if (!(WORKFLOW_STATES as readonly string[]).includes(state)) {
      throw aetherError(
        'AETHER_E_USAGE',
        `--state ${JSON.stringify(options.state)}: expected one of ${WORKFLOW_STATES.join(', ')}`,
        {
          flag: '--state',
        },
      );
    }
    query.set('state', state);
  }
  if (options.limit !== undefined) {
    if (!/^\d+$/.test(options.limit) || Number(options.limit) < 1 || Number(options.limit) > 1000) {
      throw aetherError(
        'AETHER_E_USAGE',
        `--limit ${JSON.stringify(options.limit)}: expected a whole number from 1 to 1000`,
        {
          flag: '--limit',
        },
      );
    }
    query.set('limit', options.limit);
  }
  if (options.cursor !== undefined) query.set('cursor', options.cursor);
  const client = clientFor(options, io);
  const qs = query.toString();
  const page = await client.get<{ workflows: WorkflowJson[]; next_cursor: string | null }>(
    `/api/workflows${qs ? `?${qs}` : ''}`,
  );
  if (options.json === true) return printJson(io, page);
  if (page.workflows.length === 0) {
    io.stdout('no workflows\n');
    return;
  }
  io.stdout(
    formatTable(
      ['ID', 'TYPE', 'STATE', 'CREATED (UTC)', 'DURATION'],
      page.workflows.map((w) => [w.id, w.type, w.state, formatTime(w.created_at), formatDuration(w.duration_ms)]),
    ),
  );
  if (page.next_cursor !== null) {
    io.stdout(`\nmore workflows: aether workflow list --cursor ${page.next_cursor}\n`);
  }
}

function stepRows(steps: readonly StepJson[]): string[][] {
  return steps.map((s) => [
    s.step_id,
    s.name,
    s.kind,
    s.status,
    String(s.attempts),
    formatTime(s.started_at),
    formatDuration(s.duration_ms),
    truncate(s.error !== null ? `${s.error.code}: ${s.error.message}` : formatJson(s.result), 60),
  ]);
}

/** `aether status <id>`: state, type, times, input, result or error, and the step journal. */
export async function showStatus(id: string, options: RemoteOptions, io: CliIo): Promise<void> {
  const client = clientFor(options, io);
  const w = await client.get<WorkflowDetailJson>(`/api/workflows/${encodeURIComponent(id)}`);
  if (options.json === true) return printJson(io, w);
  const fields: [string, string][] = [
    ['id', w.id],
    ['type', w.type],
    ['state', w.state],
    ['created', formatTime(w.created_at)],
    ['started', formatTime(w.started_at)],
    ['completed', formatTime(w.completed_at)],
    ['duration', formatDuration(w.duration_ms)],
    ['attempts', String(w.attempts)],
  ];
  if (w.wake_at !== null) fields.push(['wakes at', formatTime(w.wake_at)]);
  if (w.parent_id !== null) fields.push(['parent', w.parent_id]);
  fields.push(['input', truncate(formatJson(w.input), 200)]);
  if (w.error !== null) fields.push(['error', `${w.error.code}: ${w.error.message}`]);
  else fields.push(['result', truncate(formatJson(w.result), 200)]);
  io.stdout(formatFields(fields));
  io.stdout('\n');
  if (w.steps.length === 0) {
    io.stdout('no steps recorded\n');
    return;
  }
  io.stdout(
    formatTable(
      ['STEP', 'NAME', 'KIND', 'STATUS', 'ATTEMPTS', 'STARTED (UTC)', 'DURATION', 'RESULT'],
      stepRows(w.steps),
    ),
  );
}

/** `aether cancel <id>`. */
export async function cancelWorkflow(id: string, options: RemoteOptions, io: CliIo): Promise<void> {
  const client = clientFor(options, io);
  const w = await client.post<WorkflowJson>(`/api/workflows/${encodeURIComponent(id)}/cancel`);
  if (options.json === true) return printJson(io, w);
  io.stdout(`cancelled workflow ${w.id} (${w.type}): state ${w.state}\n`);
}

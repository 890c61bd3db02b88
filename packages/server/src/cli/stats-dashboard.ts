/**
 * The live terminal dashboard of `aether stats --dashboard` (seed 000's "TUI
 * dashboard with metrics"), in ink (DESIGN.md 4.1): it polls the node's
 * orchestrator status, shows every function and the instances of the selected
 * one, and keeps the last answer on screen with the error in red when a poll
 * fails. Written with createElement rather than JSX so that it is plain
 * TypeScript like the rest of the CLI.
 */
import type { InstanceState, OrchestratorStatus, ProcessFunctionStatus } from '@aether/functions';
import { Box, render, Text, useApp, useInput } from 'ink';
import { createElement as h, useEffect, useReducer, type ReactElement } from 'react';
import { formatCliError } from './report-error.js';
import {
  FUNCTION_HEADERS,
  formatExit,
  functionCells,
  INSTANCE_HEADERS,
  instanceCells,
  reportTime,
} from './stats-format.js';
import { formatTable, formatTime } from './table.js';

/** What the dashboard shows and where. */
export interface DashboardOptions {
  /** Asks the node for its status; a rejection is shown in red and polling goes on. */
  fetchStatus: () => Promise<OrchestratorStatus>;
  /**
   * Pause between the end of one poll and the start of the next.
   * @default 1000
   */
  intervalMs?: number | undefined;
  /** The node, for the header. @default "" */
  serverUrl?: string | undefined;
  /** @default process.stdin */
  stdin?: NodeJS.ReadStream | undefined;
  /** @default process.stdout */
  stdout?: NodeJS.WriteStream | undefined;
  /** @default process.stderr */
  stderr?: NodeJS.WriteStream | undefined;
}

/** A dashboard on screen. */
export interface Dashboard {
  /** Resolves when the user quits (`q`, Ctrl+C) or `unmount` is called. */
  waitUntilExit(): Promise<void>;
  unmount(): void;
}

/** Props of the dashboard component. */
export interface StatsDashboardProps {
  fetchStatus: () => Promise<OrchestratorStatus>;
  intervalMs: number;
  serverUrl: string;
}

/** Everything on screen; one reducer, so that keys act on the latest answer rather than on a past render's. */
interface DashboardState {
  /** The last status answered; kept while polls fail. */
  status: OrchestratorStatus | null;
  /** The failure of the last poll, if it failed. */
  error: { text: string; at: Date } | null;
  /** The selected function, by id so that the selection follows it when the list changes. */
  selectedId: string | null;
}

type DashboardAction =
  | { type: 'answered'; status: OrchestratorStatus }
  | { type: 'failed'; text: string; at: Date }
  | { type: 'move'; by: -1 | 1 };

function selectedIndex(state: DashboardState): number {
  return Math.max(0, state.status?.functions.findIndex((f) => f.id === state.selectedId) ?? 0);
}

function reduce(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'answered':
      return { ...state, status: action.status, error: null };
    case 'failed':
      return { ...state, error: { text: action.text, at: action.at } };
    case 'move': {
      const functions = state.status?.functions ?? [];
      const next = functions[Math.min(functions.length - 1, Math.max(0, selectedIndex(state) + action.by))];
      return next === undefined ? state : { ...state, selectedId: next.id };
    }
  }
}

/** Polls one request at a time: the next starts `intervalMs` after the previous one settled. */
function usePolling(
  fetchStatus: () => Promise<OrchestratorStatus>,
  intervalMs: number,
  dispatch: (action: DashboardAction) => void,
): void {
  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const poll = async (): Promise<void> => {
      try {
        const status = await fetchStatus();
        if (!stopped) dispatch({ type: 'answered', status });
      } catch (err) {
        if (!stopped) dispatch({ type: 'failed', text: formatCliError(err, false).trimEnd(), at: new Date() });
      }
      if (!stopped) timer = setTimeout(() => void poll(), intervalMs);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [fetchStatus, intervalMs, dispatch]);
}

const STATE_COLORS: Record<InstanceState, string> = {
  STARTING: 'yellow',
  READY: 'green',
  BUSY: 'cyan',
  DRAINING: 'yellow',
  STOPPED: 'gray',
  FAILED: 'red',
};

function everyText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function header(serverUrl: string, status: OrchestratorStatus | null): ReactElement {
  const time = status === null ? 'connecting…' : `${formatTime(status.at)} UTC`;
  const { cgroup, detail } = status?.limits ?? { cgroup: null, detail: '' };
  return h(
    Box,
    { flexDirection: 'column' },
    h(Text, { wrap: 'truncate-end' }, h(Text, { bold: true }, 'aether stats'), `   ${serverUrl}   ${time}`),
    cgroup === null
      ? null
      : h(
          Text,
          { wrap: 'truncate-end', color: cgroup === 'none' ? 'yellow' : undefined },
          `memory limits: ${cgroup === 'none' ? `none (${detail})` : `cgroup ${cgroup}`}`,
        ),
  );
}

/** Table lines (formatTable's alignment) with a marker column for the selected row. */
function tableLines(headers: readonly string[], rows: readonly string[][]): string[] {
  return formatTable(
    ['', ...headers],
    rows.map((r) => ['', ...r]),
  )
    .trimEnd()
    .split('\n');
}

function functionsTable(functions: readonly ProcessFunctionStatus[], selected: number): ReactElement {
  const [head = '', ...lines] = tableLines(FUNCTION_HEADERS, functions.map(functionCells));
  return h(
    Box,
    { flexDirection: 'column', marginTop: 1 },
    h(Text, { bold: true, wrap: 'truncate-end' }, head),
    ...lines.map((line, i) =>
      i === selected
        ? h(Text, { key: i, color: 'cyan', bold: true, wrap: 'truncate-end' }, `›${line.slice(1)}`)
        : h(Text, { key: i, wrap: 'truncate-end' }, line),
    ),
  );
}

function instancesPanel(f: ProcessFunctionStatus, now: number): ReactElement {
  const [head = '', ...lines] = tableLines(
    INSTANCE_HEADERS,
    f.instances.map((i) => instanceCells(i, now)),
  );
  const stderrTail = f.lastExit?.stderrTail.trimEnd().split('\n').slice(-3) ?? [];
  return h(
    Box,
    { flexDirection: 'column', marginTop: 1 },
    h(
      Text,
      { wrap: 'truncate-end' },
      h(Text, { bold: true }, `instances of ${f.id}`),
      `   min ${f.scaling.min}, max ${f.scaling.max}, memory limit ${f.memoryLimitMb} MB, generation ${f.generation}`,
    ),
    f.instances.length === 0
      ? h(Text, { dimColor: true }, 'no instances')
      : h(
          Box,
          { flexDirection: 'column' },
          h(Text, { bold: true, wrap: 'truncate-end' }, head),
          ...lines.map((line, i) =>
            h(Text, { key: i, color: STATE_COLORS[f.instances[i]?.state ?? 'STOPPED'], wrap: 'truncate-end' }, line),
          ),
        ),
    h(Text, { wrap: 'truncate-end' }, `last exit: ${formatExit(f.lastExit, now)}`),
    ...stderrTail
      .filter((line) => line !== '')
      .map((line, i) => h(Text, { key: `stderr-${i}`, dimColor: true, wrap: 'truncate-end' }, `  ${line}`)),
  );
}

/** The dashboard: header, notes, poll error, functions, instances of the selected function, keys. */
export function StatsDashboard({ fetchStatus, intervalMs, serverUrl }: StatsDashboardProps): ReactElement {
  const [state, dispatch] = useReducer(reduce, { status: null, error: null, selectedId: null });
  usePolling(fetchStatus, intervalMs, dispatch);
  const { exit } = useApp();
  useInput((input, key) => {
    if (input === 'q') exit();
    else if (key.upArrow || input === 'k') dispatch({ type: 'move', by: -1 });
    else if (key.downArrow || input === 'j') dispatch({ type: 'move', by: 1 });
  });

  const { status, error } = state;
  const functions = status?.functions ?? [];
  const selected = selectedIndex(state);
  const current = functions[selected];
  return h(
    Box,
    { flexDirection: 'column' },
    header(serverUrl, status),
    ...(status?.notes ?? []).map((note, i) => h(Text, { key: `note-${i}`, color: 'yellow' }, `note: ${note}`)),
    error === null
      ? null
      : h(
          Text,
          { color: 'red' },
          `poll failed at ${formatTime(error.at.toISOString())} UTC` +
            `${status === null ? '' : `, showing the answer of ${formatTime(status.at)} UTC`}:\n${error.text}`,
        ),
    status === null
      ? null
      : functions.length === 0
        ? h(Box, { marginTop: 1 }, h(Text, null, 'no functions: the orchestrator runs none'))
        : functionsTable(functions, selected),
    current === undefined || status === null ? null : instancesPanel(current, reportTime(status.at)),
    h(
      Box,
      { marginTop: 1 },
      h(Text, { dimColor: true }, `q quit   ↑/↓ select   refreshing every ${everyText(intervalMs)}`),
    ),
  );
}

/**
 * Shows the dashboard on a terminal until the user quits.
 * @example
 * const dashboard = renderDashboard({ fetchStatus: () => client.get('/api/orchestrator'), intervalMs: 1000 });
 * await dashboard.waitUntilExit();
 */
export function renderDashboard(options: DashboardOptions): Dashboard {
  const instance = render(
    h(StatsDashboard, {
      fetchStatus: options.fetchStatus,
      intervalMs: options.intervalMs ?? 1000,
      serverUrl: options.serverUrl ?? '',
    }),
    {
      // ink's defaults (the process's streams) hold only for keys that are absent.
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      ...(options.stdout === undefined ? {} : { stdout: options.stdout }),
      ...(options.stderr === undefined ? {} : { stderr: options.stderr }),
      exitOnCtrlC: true,
      // The dashboard writes nothing to the console, and patching it fails where a test runner replaced it.
      patchConsole: false,
    },
  );
  return {
    waitUntilExit: async () => {
      await instance.waitUntilExit();
    },
    unmount: () => instance.unmount(),
  };
}

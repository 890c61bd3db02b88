/**
 * What the two workflow pages share: the wire forms of GET /api/workflows
 * (packages/server/src/http/serialize.ts), how times, durations and states are
 * shown, and the live/offline indicator of the event stream.
 */
import type { StepJson, WorkflowJson } from '@aether/server';
import { useEffect, useState, type ReactNode } from 'react';

export const STATES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;

// The wire forms are the server's own (type-only: nothing of the server reaches the bundle).
export type { ActionJson, ErrorJson, StepJson, WorkflowDetailJson, WorkflowJson } from '@aether/server';

/** The `step` event of GET /api/events. */
export interface StepEventJson {
  workflow_id: string;
  duration_ms: number;
  step: StepJson;
}

export function isActive(state: string): boolean {
  return state === 'PENDING' || state === 'RUNNING';
}

/** The current time, ticking every second while `enabled` (running durations). */
export function useNow(enabled: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!enabled) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [enabled]);
  return now;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** A time in the viewer's zone (`2026-11-24 09:12:03`), the ISO form on hover. */
export function Time({ iso }: { iso: string | null }): ReactNode {
  if (iso === null) return <span className="muted">—</span>;
  const d = new Date(iso);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return (
    <time dateTime={iso} title={iso}>
      {text}
    </time>
  );
}

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

/** A workflow's duration: the server's figure once finished, counted on while it runs. */
export function workflowDuration(w: WorkflowJson, now: number): number | null {
  if (w.started_at === null) return null;
  if (w.completed_at !== null || !isActive(w.state)) return w.duration_ms;
  return Math.max(0, now - Date.parse(w.started_at));
}

/** A workflow state or a step status as a coloured badge. */
export function StateBadge({ state }: { state: string }): ReactNode {
  return <span className={`badge state-${state.toLowerCase()}`}>{state}</span>;
}

/** A JSON value, indented. */
export function Json({ value, label }: { value: unknown; label: string }): ReactNode {
  return (
    <pre className="json" aria-label={label} tabIndex={0}>
      {value === undefined ? 'null' : JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Whether the event stream is connected (null while it connects). */
export function LiveIndicator({ connected }: { connected: boolean | null }): ReactNode {
  const label = connected === null ? 'Connecting…' : connected ? 'Live' : 'Offline';
  return (
    <span
      className={`live ${connected === true ? 'live-on' : 'live-off'}`}
      role="status"
      title={connected === false ? 'The event stream is down; reconnecting' : 'Updates arrive as they happen'}
    >
      {label}
    </span>
  );
}

/**
 * Workflows: the newest first, filtered by type and state, "Load more" pages
 * through next_cursor, a search that jumps to one id, and live updates from
 * GET /api/events (new workflows appear, states change) within the filters.
 */
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, api, followEvents } from '../api.js';
import { Empty, ErrorMessage, Loading } from '../components.js';
import { workflowHref } from '../router.js';
import {
  LiveIndicator,
  STATES,
  StateBadge,
  Time,
  formatDuration,
  isActive,
  useNow,
  workflowDuration,
  type WorkflowJson,
} from '../workflow-parts.js';

const PAGE_SIZE = 50;

interface Filters {
  type: string;
  state: string;
}

interface ListJson {
  workflows: WorkflowJson[];
  next_cursor: string | null;
}

function matches(w: WorkflowJson, f: Filters): boolean {
  return (f.type === '' || w.type === f.type) && (f.state === '' || w.state === f.state);
}

/** The listing's order: created_at desc, then id desc. */
function newerFirst(a: WorkflowJson, b: WorkflowJson): number {
  const t = Date.parse(b.created_at) - Date.parse(a.created_at);
  return t !== 0 ? t : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Applies one workflow event to the rows shown: replaced where present, dropped
 * when it leaves the filters, inserted in order when it enters them and falls
 * within the loaded pages (older rows come with "Load more").
 */
function applyEvent(rows: WorkflowJson[], w: WorkflowJson, f: Filters, complete: boolean): WorkflowJson[] {
  const i = rows.findIndex((r) => r.id === w.id);
  if (i >= 0) {
    if (rows[i]!.version > w.version) return rows;
    if (!matches(w, f)) return rows.filter((r) => r.id !== w.id);
    const next = rows.slice();
    next[i] = w;
    return next;
  }
  if (!matches(w, f)) return rows;
  const oldest = rows[rows.length - 1];
  if (!complete && oldest !== undefined && newerFirst(w, oldest) > 0) return rows;
  return [...rows, w].sort(newerFirst);
}

function listPath(f: Filters, cursor?: string): string {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (f.type !== '') q.set('type', f.type);
  if (f.state !== '') q.set('state', f.state);
  if (cursor !== undefined) q.set('cursor', cursor);
  return `/api/workflows?${q.toString()}`;
}

/** Search by exact id: go to its page, or say it does not exist. */
function SearchForm(): ReactNode {
  const [id, setId] = useState('');
  const [message, setMessage] = useState<ReactNode>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="toolbar"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        const wanted = id.trim();
        if (wanted === '') return;
        setBusy(true);
        setMessage(null);
        api<WorkflowJson>(`/api/workflows/${encodeURIComponent(wanted)}`).then(
          () => {
            window.location.hash = workflowHref(wanted);
          },
          (err: unknown) => {
            setBusy(false);
            setMessage(
              err instanceof ApiError && err.status === 404 ? (
                <p className="notice" role="alert">
                  No workflow with id <code>{wanted}</code>.
                </p>
              ) : (
                <ErrorMessage error={err} />
              ),
            );
          },
        );
      }}
    >
      <label>
        Workflow id
        <input
          type="search"
          name="id"
          value={id}
          onChange={(e) => setId(e.target.value)}
          placeholder="order-123"
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <button type="submit" disabled={busy}>
        Go to workflow
      </button>
      {message}
    </form>
  );
}

function FilterForm({ filters, onChange }: { filters: Filters; onChange: (f: Filters) => void }): ReactNode {
  const [type, setType] = useState(filters.type);
  return (
    <form
      className="toolbar"
      aria-label="Filters"
      onSubmit={(e) => {
        e.preventDefault();
        onChange({ ...filters, type: type.trim() });
      }}
    >
      <label>
        Type
        <input
          name="type"
          value={type}
          onChange={(e) => setType(e.target.value)}
          placeholder="any type"
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <label>
        State
        <select name="state" value={filters.state} onChange={(e) => onChange({ ...filters, state: e.target.value })}>
          <option value="">Any state</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Filter</button>
      {(filters.type !== '' || filters.state !== '') && (
        <button
          type="button"
          onClick={() => {
            setType('');
            onChange({ type: '', state: '' });
          }}
        >
          Clear filters
        </button>
      )}
    </form>
  );
}

function WorkflowRow({ w, now }: { w: WorkflowJson; now: number }): ReactNode {
  return (
    <tr data-workflow-id={w.id}>
      <td className="mono">
        <a href={workflowHref(w.id)}>{w.id}</a>
      </td>
      <td>{w.type}</td>
      <td>
        <StateBadge state={w.state} />
      </td>
      <td>
        <Time iso={w.started_at ?? w.created_at} />
      </td>
      <td>{formatDuration(workflowDuration(w, now))}</td>
      <td>{w.attempts}</td>
    </tr>
  );
}

export function WorkflowsPage(): ReactNode {
  const [filters, setFilters] = useState<Filters>({ type: '', state: '' });
  const [rows, setRows] = useState<WorkflowJson[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [connected, setConnected] = useState<boolean | null>(null);
  const [generation, setGeneration] = useState(0);
  // Events that arrive while a page is loading, applied on top of it.
  const pending = useRef<WorkflowJson[] | null>(null);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const cursorRef = useRef(cursor);
  cursorRef.current = cursor;

  useEffect(() => {
    let live = true;
    setLoading(true);
    pending.current = [];
    api<ListJson>(listPath(filters)).then(
      (page) => {
        if (!live) return;
        const complete = page.next_cursor === null;
        let next = page.workflows;
        for (const w of pending.current ?? []) next = applyEvent(next, w, filters, complete);
        pending.current = null;
        setRows(next);
        setCursor(page.next_cursor);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (!live) return;
        pending.current = null;
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [filters, generation]);

  useEffect(() => {
    let everConnected = false;
    return followEvents(
      (e) => {
        if (e.event !== 'workflow') return;
        const w = e.data as WorkflowJson;
        if (pending.current !== null) pending.current.push(w);
        else setRows((r) => applyEvent(r, w, filtersRef.current, cursorRef.current === null));
      },
      {
        onStatus: (up) => {
          setConnected(up);
          // There is no replay: after a reconnect, read the list again.
          if (up && everConnected) setGeneration((g) => g + 1);
          if (up) everConnected = true;
        },
      },
    );
  }, []);

  const loadMore = useCallback(() => {
    if (cursor === null) return;
    setLoadingMore(true);
    api<ListJson>(listPath(filters, cursor)).then(
      (page) => {
        setRows((r) => {
          const known = new Set(r.map((w) => w.id));
          return [...r, ...page.workflows.filter((w) => !known.has(w.id))];
        });
        setCursor(page.next_cursor);
        setLoadingMore(false);
      },
      (err: unknown) => {
        setError(err);
        setLoadingMore(false);
      },
    );
  }, [cursor, filters]);

  const now = useNow(rows.some((w) => isActive(w.state)));
  const filtered = filters.type !== '' || filters.state !== '';

  return (
    <section>
      <div className="page-head">
        <h1>Workflows</h1>
        <LiveIndicator connected={connected} />
      </div>
      <SearchForm />
      <FilterForm filters={filters} onChange={setFilters} />
      {error !== undefined && <ErrorMessage error={error} />}
      {loading && rows.length === 0 ? (
        <Loading />
      ) : rows.length === 0 && error === undefined ? (
        filtered ? (
          <Empty>No workflows match these filters.</Empty>
        ) : (
          <div className="card empty-state">
            <p className="empty">
              <strong>No workflows yet.</strong>
            </p>
            <p className="empty">
              Start one with the SDK (<code>await myWorkflow.start(…)</code> on a client connected to this node) or over
              HTTP: <code>POST /api/workflows</code> with <code>{'{"type": "hello-world", "input": []}'}</code>. It
              shows up here as soon as it starts.
            </p>
          </div>
        )
      ) : rows.length > 0 ? (
        <>
          <div className="table-wrap">
            <table className="workflows" aria-busy={loading}>
              <caption className="visually-hidden">Workflows, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">ID</th>
                  <th scope="col">Type</th>
                  <th scope="col">State</th>
                  <th scope="col">Started</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Attempts</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((w) => (
                  <WorkflowRow key={w.id} w={w} now={now} />
                ))}
              </tbody>
            </table>
          </div>
          <div className="pager">
            <span className="muted">
              {rows.length} workflow{rows.length === 1 ? '' : 's'}
              {cursor === null ? '' : ' shown'}
            </span>
            {cursor !== null && (
              <button type="button" onClick={loadMore} disabled={loadingMore}>
                {loadingMore ? 'Loading…' : 'Load more'}
              </button>
            )}
          </div>
        </>
      ) : null}
    </section>
  );
}

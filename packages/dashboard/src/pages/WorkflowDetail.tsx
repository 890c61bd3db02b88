/**
 * One workflow: its header, input and output, the timeline of its journal
 * (sleeps with their wake time, children linked, retries visible), live
 * updates from GET /api/events?workflow=ID, and Cancel with a confirmation.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { ApiError, api, followEvents } from '../api.js';
import { ErrorMessage, Loading } from '../components.js';
import { workflowHref } from '../router.js';
import {
  Json,
  LiveIndicator,
  StateBadge,
  Time,
  formatDuration,
  isActive,
  useNow,
  workflowDuration,
  type StepEventJson,
  type StepJson,
  type WorkflowDetailJson,
  type WorkflowJson,
} from '../workflow-parts.js';

function upsertStep(steps: StepJson[], step: StepJson): StepJson[] {
  const rest = steps.filter((s) => s.step_id !== step.step_id);
  return [...rest, step].sort((a, b) => a.seq - b.seq);
}

function StepItem({ step }: { step: StepJson }): ReactNode {
  return (
    <li className={`step step-${step.status}`} data-step-id={step.step_id}>
      <div className="step-head">
        <span className="step-name">{step.name}</span>
        <span className="badge kind">{step.kind}</span>
        <StateBadge state={step.status} />
      </div>
      <dl className="facts">
        <div>
          <dt>Started</dt>
          <dd>
            <Time iso={step.started_at} />
          </dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{step.completed_at === null ? 'waiting' : formatDuration(step.duration_ms)}</dd>
        </div>
        <div>
          <dt>Attempts</dt>
          <dd className={step.attempts > 1 ? 'retried' : undefined}>
            {step.attempts}
            {step.attempts > 1 ? ` (${step.attempts - 1} ${step.attempts === 2 ? 'retry' : 'retries'})` : ''}
          </dd>
        </div>
        {step.wake_at !== null && (
          <div>
            <dt>{step.status === 'waiting' ? 'Wakes at' : 'Woke at'}</dt>
            <dd className="wake">
              <Time iso={step.wake_at} />
            </dd>
          </div>
        )}
        {step.child_id !== null && (
          <div>
            <dt>Child</dt>
            <dd className="mono">
              <a href={workflowHref(step.child_id)}>{step.child_id}</a>
            </dd>
          </div>
        )}
      </dl>
      {step.error !== null ? (
        <div className="error step-error">
          <strong>{step.error.code}</strong> {step.error.message}
        </div>
      ) : (
        step.status === 'completed' &&
        step.kind !== 'sleep' &&
        step.result !== null && <Json value={step.result} label={`Result of ${step.name}`} />
      )}
    </li>
  );
}

function CancelControl({ workflow, onCancelled }: { workflow: WorkflowJson; onCancelled: (w: WorkflowJson) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  if (!isActive(workflow.state)) return null;
  if (!confirming) {
    return (
      <button type="button" className="danger" onClick={() => setConfirming(true)}>
        Cancel workflow
      </button>
    );
  }
  return (
    <div className="confirm" role="group" aria-label="Confirm cancellation">
      <span>
        Cancel workflow <code>{workflow.id}</code>?
      </span>
      <button
        type="button"
        className="danger"
        autoFocus
        disabled={busy}
        onClick={() => {
          setBusy(true);
          setError(undefined);
          api<WorkflowJson>(`/api/workflows/${encodeURIComponent(workflow.id)}/cancel`, { method: 'POST' }).then(
            (w) => {
              setBusy(false);
              setConfirming(false);
              onCancelled(w);
            },
            (err: unknown) => {
              setBusy(false);
              setError(err);
            },
          );
        }}
      >
        Yes, cancel it
      </button>
      <button type="button" disabled={busy} onClick={() => setConfirming(false)}>
        No
      </button>
      {error !== undefined && <ErrorMessage error={error} />}
    </div>
  );
}

export function WorkflowDetailPage({ id }: { id: string }): ReactNode {
  const [detail, setDetail] = useState<WorkflowDetailJson | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [connected, setConnected] = useState<boolean | null>(null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let live = true;
    api<WorkflowDetailJson>(`/api/workflows/${encodeURIComponent(id)}`).then(
      (d) => {
        if (!live) return;
        // Keep what the event stream already brought if it is newer.
        setDetail((prev) => {
          if (prev === undefined || prev.id !== d.id) return d;
          let steps = d.steps;
          for (const s of prev.steps) if (!steps.some((x) => x.step_id === s.step_id)) steps = upsertStep(steps, s);
          return prev.version > d.version ? { ...prev, steps } : { ...d, steps };
        });
        setError(undefined);
      },
      (err: unknown) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [id, generation]);

  useEffect(() => {
    setDetail(undefined);
    setError(undefined);
    let everConnected = false;
    return followEvents(
      (e) => {
        if (e.event === 'workflow') {
          const w = e.data as WorkflowJson;
          if (w.id !== id) return;
          setDetail((d) => (d === undefined || d.version > w.version ? d : { ...d, ...w }));
        } else if (e.event === 'step') {
          const s = e.data as StepEventJson;
          if (s.workflow_id !== id) return;
          setDetail((d) => (d === undefined ? d : { ...d, steps: upsertStep(d.steps, s.step) }));
        }
      },
      {
        workflow: id,
        onStatus: (up) => {
          setConnected(up);
          if (up && everConnected) setGeneration((g) => g + 1);
          if (up) everConnected = true;
        },
      },
    );
  }, [id]);

  const now = useNow(detail !== undefined && isActive(detail.state));

  if (detail === undefined) {
    if (error instanceof ApiError && error.status === 404) {
      return (
        <section>
          <h1>Workflow not found</h1>
          <div className="notice" role="alert">
            There is no workflow with id <code>{id}</code> on this node.
          </div>
          <p>
            <a href="#/workflows">Back to all workflows</a>
          </p>
        </section>
      );
    }
    return (
      <section>
        <h1 className="mono">Workflow {id}</h1>
        {error !== undefined ? <ErrorMessage error={error} /> : <Loading />}
      </section>
    );
  }

  const w = detail;
  return (
    <section>
      <p className="crumbs">
        <a href="#/workflows">Workflows</a> /
      </p>
      <div className="page-head">
        <h1 className="mono wf-id">{w.id}</h1>
        <StateBadge state={w.state} />
        <LiveIndicator connected={connected} />
      </div>
      {error !== undefined && <ErrorMessage error={error} />}
      <div className="card">
        <dl className="facts">
          <div>
            <dt>Type</dt>
            <dd>{w.type}</dd>
          </div>
          <div>
            <dt>State</dt>
            <dd data-testid="workflow-state">{w.state}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <Time iso={w.created_at} />
            </dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>
              <Time iso={w.started_at} />
            </dd>
          </div>
          <div>
            <dt>Completed</dt>
            <dd>
              <Time iso={w.completed_at} />
            </dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{formatDuration(workflowDuration(w, now))}</dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>{w.attempts}</dd>
          </div>
          {w.wake_at !== null && isActive(w.state) && (
            <div>
              <dt>Wakes at</dt>
              <dd>
                <Time iso={w.wake_at} />
              </dd>
            </div>
          )}
          {w.parent_id !== null && (
            <div>
              <dt>Parent</dt>
              <dd className="mono">
                <a href={workflowHref(w.parent_id)}>{w.parent_id}</a>
              </dd>
            </div>
          )}
        </dl>
        <CancelControl
          workflow={w}
          onCancelled={(c) => setDetail((d) => (d === undefined || d.version > c.version ? d : { ...d, ...c }))}
        />
      </div>
      <div className="io">
        <div className="card">
          <h2>Input</h2>
          <Json value={w.input} label="Input" />
        </div>
        <div className="card">
          <h2>{w.error !== null ? 'Error' : 'Output'}</h2>
          {w.error !== null ? (
            <div className="error">
              <strong>{w.error.code}</strong> {w.error.message}
            </div>
          ) : w.state === 'COMPLETED' ? (
            <Json value={w.result} label="Output" />
          ) : (
            <p className="muted">No output yet.</p>
          )}
        </div>
      </div>
      <h2>Timeline</h2>
      {w.steps.length === 0 ? (
        <p className="empty">No steps recorded yet.</p>
      ) : (
        <ol className="timeline" aria-label="Steps">
          {w.steps.map((s) => (
            <StepItem key={s.step_id} step={s} />
          ))}
        </ol>
      )}
    </section>
  );
}

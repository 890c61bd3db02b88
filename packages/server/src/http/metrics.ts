/**
 * Prometheus metrics of a node: counters and a step-duration histogram fed
 * from engine events, gauges read from `engine.metrics()` at scrape time.
 * Each node has its own Registry (no prom-client global default registry),
 * so several servers can live in one process (tests, embedded use).
 */
import { WORKFLOW_STATES } from '@aether/core';
import type { Engine, EngineEvent } from '@aether/engine';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics of one node, bound to its engine until `close()`. */
export interface NodeMetrics {
  /** The registry to expose on `/metrics`. */
  readonly registry: Registry;
  /** Prometheus text exposition of every metric. */
  render(): Promise<string>;
  /** The content type of `render()`'s output. */
  readonly contentType: string;
  /** Stops listening to engine events. */
  close(): void;
}

/** Step durations: from a millisecond step to a long activity. */
const STEP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Creates the metrics of a node and subscribes them to the engine's events.
 * @example
 * const metrics = createNodeMetrics(engine);
 * const text = await metrics.render();
 */
export function createNodeMetrics(engine: Engine): NodeMetrics {
  const registry = new Registry();
  const started = new Counter({
    name: 'aether_workflows_started_total',
    help: 'Workflows started on this node',
    registers: [registry],
  });
  const completed = new Counter({
    name: 'aether_workflows_completed_total',
    help: 'Workflows that completed',
    registers: [registry],
  });
  const failed = new Counter({
    name: 'aether_workflows_failed_total',
    help: 'Workflows that failed',
    registers: [registry],
  });
  const cancelled = new Counter({
    name: 'aether_workflows_cancelled_total',
    help: 'Workflows that were cancelled',
    registers: [registry],
  });
  const stepDuration = new Histogram({
    name: 'aether_step_duration_seconds',
    help: 'Duration of recorded steps, by kind and status',
    labelNames: ['kind', 'status'] as const,
    buckets: STEP_BUCKETS,
    registers: [registry],
  });

  // Both gauges come from one engine.metrics() call per scrape.
  let snapshot: Promise<Awaited<ReturnType<Engine['metrics']>>> | undefined;
  const readEngine = (): Promise<Awaited<ReturnType<Engine['metrics']>>> => {
    snapshot ??= engine.metrics().finally(() => {
      snapshot = undefined;
    });
    return snapshot;
  };
  new Gauge({
    name: 'aether_active_workers',
    help: 'Workers connected to this node',
    registers: [registry],
    async collect() {
      this.set((await readEngine()).activeWorkers);
    },
  });
  new Gauge({
    name: 'aether_workflows',
    help: 'Workflows in the store, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const { byState } = await readEngine();
      for (const state of WORKFLOW_STATES) this.set({ state }, byState[state] ?? 0);
    },
  });

  const onEvent = (event: EngineEvent): void => {
    switch (event.type) {
      case 'workflow.started':
        started.inc();
        break;
      case 'workflow.state':
        if (event.workflow.state === 'COMPLETED') completed.inc();
        else if (event.workflow.state === 'FAILED') failed.inc();
        else if (event.workflow.state === 'CANCELLED') cancelled.inc();
        break;
      case 'step.recorded':
        if (event.step.status !== 'waiting') {
          stepDuration.observe({ kind: event.step.kind, status: event.step.status }, event.durationMs / 1000);
        }
        break;
      default:
        break;
    }
  };
  const unsubscribe = engine.subscribe(onEvent);

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close: unsubscribe,
  };
}

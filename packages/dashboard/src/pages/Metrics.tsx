/**
 * Metrics: the node's counters as rates over the last 5 minutes, sampled by
 * this page every 2 s and kept in memory only: workflow throughput and step
 * latency from `GET /metrics` (Prometheus text), function invocations from
 * `GET /api/functions/stats` (which also counts WASM executions, absent from
 * /metrics). Each chart follows its container's width.
 */
import { useMemo, type ReactNode } from 'react';
import { api, apiText } from '../api.js';
import { PALETTE, TimeChart, type ChartSeries } from '../chart.js';
import { Empty, ErrorMessage, Loading } from '../components.js';
import { histogramBuckets, parsePrometheus, quantileBetween, sumOf, type Sample } from '../prometheus.js';
import { ratePerSecond, useSamples, type Sampled } from '../sampling.js';
import type { FunctionStats } from './Functions.js';

const WINDOW_MS = 5 * 60_000;
const MAX_FUNCTIONS = PALETTE.length;

interface Scrape {
  /** Null when /metrics could not be read (then `promError` says why). */
  prom: Sample[] | null;
  promError: unknown;
  functions: FunctionStats[] | null;
  functionsError: unknown;
}

async function scrape(): Promise<Scrape> {
  const [prom, fns] = await Promise.allSettled([
    apiText('/metrics'),
    api<{ functions: FunctionStats[] }>('/api/functions/stats'),
  ]);
  if (prom.status === 'rejected' && fns.status === 'rejected') throw prom.reason;
  return {
    prom: prom.status === 'fulfilled' ? parsePrometheus(prom.value) : null,
    promError: prom.status === 'rejected' ? prom.reason : undefined,
    functions: fns.status === 'fulfilled' ? fns.value.functions : null,
    functionsError: fns.status === 'rejected' ? fns.reason : undefined,
  };
}

interface ChartData {
  series: ChartSeries[];
  data: (number | null)[][];
}

/** One point per pair of consecutive samples, at the later one. */
function pairs(
  samples: Sampled<Scrape>[],
  series: ChartSeries[],
  point: (a: Sampled<Scrape>, b: Sampled<Scrape>) => (number | null)[],
): ChartData {
  const data: (number | null)[][] = [[], ...series.map(() => [])];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    data[0]!.push(b.at / 1000);
    point(a, b).forEach((v, j) => data[j + 1]!.push(v));
  }
  return { series, data };
}

function counterRate(a: Sampled<Scrape>, b: Sampled<Scrape>, name: string): number | null {
  if (a.value.prom === null || b.value.prom === null) return null;
  return ratePerSecond(sumOf(a.value.prom, name), sumOf(b.value.prom, name), b.at - a.at);
}

function throughput(samples: Sampled<Scrape>[]): ChartData {
  return pairs(
    samples,
    [
      { label: 'started', color: PALETTE[0]! },
      { label: 'completed', color: PALETTE[1]! },
      { label: 'failed', color: PALETTE[2]! },
    ],
    (a, b) => [
      counterRate(a, b, 'aether_workflows_started_total'),
      counterRate(a, b, 'aether_workflows_completed_total'),
      counterRate(a, b, 'aether_workflows_failed_total'),
    ],
  );
}

function stepLatency(samples: Sampled<Scrape>[]): ChartData {
  return pairs(
    samples,
    [
      { label: 'p50', color: PALETTE[0]! },
      { label: 'p99', color: PALETTE[3]! },
    ],
    (a, b) => {
      if (a.value.prom === null || b.value.prom === null) return [null, null];
      const before = histogramBuckets(a.value.prom, 'aether_step_duration_seconds');
      const after = histogramBuckets(b.value.prom, 'aether_step_duration_seconds');
      return [0.5, 0.99].map((q) => {
        const s = quantileBetween(before, after, q);
        return s === null ? null : s * 1000;
      });
    },
  );
}

function invocations(samples: Sampled<Scrape>[]): ChartData {
  const ids = new Set<string>();
  for (const s of samples) for (const f of s.value.functions ?? []) ids.add(f.id);
  const shown = [...ids].sort().slice(0, MAX_FUNCTIONS);
  return pairs(
    samples,
    shown.map((id, i) => ({ label: id, color: PALETTE[i]! })),
    (a, b) =>
      shown.map((id) => {
        const x = a.value.functions?.find((f) => f.id === id);
        const y = b.value.functions?.find((f) => f.id === id);
        if (y === undefined) return null;
        return ratePerSecond(x?.requests_total ?? 0, y.requests_total, b.at - a.at);
      }),
  );
}

function Chart({ title, unit, chart }: { title: string; unit: string; chart: ChartData }): ReactNode {
  let points = 0;
  let max = 0;
  for (const col of chart.data.slice(1))
    for (const v of col)
      if (v !== null) {
        points++;
        max = Math.max(max, v);
      }
  return (
    <div
      className="chart-slot"
      data-chart={title}
      data-samples={chart.data[0]?.length ?? 0}
      data-points={points}
      data-max={max}
    >
      <TimeChart title={title} unit={unit} series={chart.series} data={chart.data} />
    </div>
  );
}

export function MetricsPage(): ReactNode {
  const { samples, error } = useSamples(scrape, { intervalMs: 2000, keepMs: WINDOW_MS });
  const charts = useMemo(
    () => ({ throughput: throughput(samples), latency: stepLatency(samples), calls: invocations(samples) }),
    [samples],
  );
  const last = samples.at(-1);
  return (
    <section>
      <h1>Metrics</h1>
      <p className="muted">
        Sampled every 2 s while this page is open; the last 5 minutes are kept in this tab only.
        {samples.length === 1 && ' The first rates appear with the next sample.'}
      </p>
      {error !== undefined && <ErrorMessage error={error} />}
      {last === undefined && error === undefined && <Loading />}
      {last !== undefined && (
        <div className="charts">
          {last.value.prom === null ? (
            <ErrorMessage error={last.value.promError} />
          ) : (
            <>
              <Chart title="Workflow throughput" unit="/s" chart={charts.throughput} />
              <Chart title="Step latency" unit=" ms" chart={charts.latency} />
            </>
          )}
          {last.value.functions === null ? (
            <ErrorMessage error={last.value.functionsError} />
          ) : charts.calls.series.length === 0 ? (
            <Empty>No functions deployed: their invocation rates will appear here.</Empty>
          ) : (
            <Chart title="Function invocations" unit="/s" chart={charts.calls} />
          )}
        </div>
      )}
    </section>
  );
}

/**
 * Functions: every WASM, node and process function with its runtime,
 * version, instances by state, request rate (from two samples of the
 * counters, 2 s apart), latency percentiles, cold starts and errors.
 */
import type { FunctionStatsJson } from '@aether/server';
import type { ReactNode } from 'react';
import { api } from '../api.js';
import { Empty, ErrorMessage, Loading } from '../components.js';
import { ratePerSecond, useSamples } from '../sampling.js';

/** One row of GET /api/functions/stats (the server's type). */
export type FunctionStats = FunctionStatsJson;

export const loadFunctionStats = (): Promise<{ functions: FunctionStats[] }> =>
  api<{ functions: FunctionStats[] }>('/api/functions/stats');

function ms(v: number | null): string {
  if (v === null) return '–';
  return v < 10 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`;
}

function instances(f: FunctionStats): string {
  const entries = Object.entries(f.instances);
  if (f.runtime === 'wasm') return 'on demand';
  if (entries.length === 0) return 'none';
  return entries.map(([state, n]) => `${n} ${state}`).join(', ');
}

export function FunctionsPage(): ReactNode {
  const { samples, error } = useSamples(loadFunctionStats, { intervalMs: 2000, keepMs: 10_000 });
  const last = samples.at(-1);
  const prev = samples.at(-2);
  const before = new Map(prev?.value.functions.map((f) => [f.id, f.requests_total]));
  return (
    <section>
      <h1>Functions</h1>
      {error !== undefined && <ErrorMessage error={error} />}
      {last === undefined ? (
        error === undefined && <Loading />
      ) : last.value.functions.length === 0 ? (
        <Empty>
          No functions deployed. Deploy one with `aether function create` and `upload`, `aether deploy FILE`, or POST
          /api/functions.
        </Empty>
      ) : (
        <div className="table-wrap card">
          <table className="functions">
            <thead>
              <tr>
                <th scope="col">Function</th>
                <th scope="col">Runtime</th>
                <th scope="col">Version</th>
                <th scope="col">Instances</th>
                <th scope="col" className="num">
                  Req/s
                </th>
                <th scope="col" className="num">
                  Requests
                </th>
                <th scope="col" className="num">
                  p50
                </th>
                <th scope="col" className="num">
                  p99
                </th>
                <th scope="col" className="num">
                  Cold starts
                </th>
                <th scope="col" className="num">
                  Errors
                </th>
              </tr>
            </thead>
            <tbody>
              {last.value.functions.map((f) => {
                const b = before.get(f.id);
                const rate =
                  prev !== undefined && b !== undefined ? ratePerSecond(b, f.requests_total, last.at - prev.at) : null;
                return (
                  <tr key={`${f.runtime}:${f.id}`} data-function={f.id}>
                    <th scope="row">{f.id}</th>
                    <td>
                      <span className={`badge runtime-${f.runtime}`}>{f.runtime}</span>
                    </td>
                    <td>{f.version ?? '–'}</td>
                    <td>{instances(f)}</td>
                    <td className="num" data-col="rps">
                      {rate === null ? '–' : rate.toFixed(1)}
                    </td>
                    <td className="num" data-col="requests">
                      {f.requests_total}
                    </td>
                    <td className="num" data-col="p50">
                      {ms(f.p50_ms)}
                    </td>
                    <td className="num" data-col="p99">
                      {ms(f.p99_ms)}
                    </td>
                    <td className="num">{f.cold_starts ?? '–'}</td>
                    <td className={`num${f.errors_total > 0 ? ' bad' : ''}`} data-col="errors">
                      {f.errors_total}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/**
 * Edge nodes: each registered node's URL, health (up/down, and why when a
 * failed forward marked it down), last heartbeat as a relative time, and its
 * module cache as the node last reported it (`cache_stats`). Refreshed every 2 s.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { api } from '../api.js';
import { Empty, ErrorMessage, Loading } from '../components.js';
import { relativeTime, useSamples } from '../sampling.js';

/** One node of GET /api/nodes. */
export interface EdgeNode {
  node_id: string;
  url: string;
  status: 'up' | 'down';
  down_reason?: string;
  registered_at: string;
  last_seen_at: string;
  stats: { cache?: { size?: number; capacity?: number; hits?: number; misses?: number } } | null;
}

const loadNodes = (): Promise<{ nodes: EdgeNode[] }> => api<{ nodes: EdgeNode[] }>('/api/nodes');

function cache(node: EdgeNode): string {
  const c = node.stats?.cache;
  if (c?.size === undefined) return 'not reported yet';
  const of = c.capacity !== undefined ? ` of ${c.capacity}` : '';
  const rate = c.hits !== undefined && c.misses !== undefined ? ` (${c.hits} hits, ${c.misses} misses)` : '';
  return `${c.size}${of} modules${rate}`;
}

export function NodesPage(): ReactNode {
  const { samples, error } = useSamples(loadNodes, { intervalMs: 2000, keepMs: 0 });
  // Relative times move on between polls too.
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const last = samples.at(-1);
  return (
    <section>
      <h1>Edge nodes</h1>
      {error !== undefined && <ErrorMessage error={error} />}
      {last === undefined ? (
        error === undefined && <Loading />
      ) : last.value.nodes.length === 0 ? (
        <Empty>No edge nodes registered. Start one with `aether edge --control-plane URL`.</Empty>
      ) : (
        <div className="table-wrap card">
          <table>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">URL</th>
                <th scope="col">Health</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Cached modules</th>
              </tr>
            </thead>
            <tbody>
              {last.value.nodes.map((n) => (
                <tr key={n.node_id} data-node={n.node_id}>
                  <th scope="row">{n.node_id}</th>
                  <td className="url">{n.url}</td>
                  <td>
                    <span className={`badge status-${n.status}`}>{n.status}</span>
                    {n.down_reason !== undefined && <div className="muted">{n.down_reason}</div>}
                  </td>
                  <td data-col="heartbeat">
                    <time dateTime={n.last_seen_at} title={n.last_seen_at}>
                      {relativeTime(n.last_seen_at, Math.max(now, last.at))}
                    </time>
                  </td>
                  <td>{cache(n)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

import type { ReactNode } from 'react';

/** Metrics: charts of workflow throughput, step latency, invocation rates (to be built). */
export function MetricsPage(): ReactNode {
  return (
    <section>
      <h1>Metrics</h1>
    </section>
  );
}

import type { ReactNode } from 'react';
import { Empty } from '../components.js';

/** Functions: runtime, version, instances, rates, latency, cold starts, errors (to be built). */
export function FunctionsPage(): ReactNode {
  return (
    <section>
      <h1>Functions</h1>
      <Empty>No functions deployed.</Empty>
    </section>
  );
}

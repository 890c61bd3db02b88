import type { ReactNode } from 'react';
import { Empty } from '../components.js';

/** Edge nodes: health, last heartbeat, cached modules (to be built). */
export function NodesPage(): ReactNode {
  return (
    <section>
      <h1>Edge nodes</h1>
      <Empty>No edge nodes registered.</Empty>
    </section>
  );
}

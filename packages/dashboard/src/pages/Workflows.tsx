import type { ReactNode } from 'react';
import { Empty } from '../components.js';

/** Workflows: list, filters, search, paging, live updates (to be built). */
export function WorkflowsPage(): ReactNode {
  return (
    <section>
      <h1>Workflows</h1>
      <Empty>No workflows yet.</Empty>
    </section>
  );
}

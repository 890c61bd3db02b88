import type { ReactNode } from 'react';

/** One workflow: timeline of steps, input and output, cancel (to be built). */
export function WorkflowDetailPage({ id }: { id: string }): ReactNode {
  return (
    <section>
      <h1>Workflow {id}</h1>
    </section>
  );
}

/** The dashboard's frame: navigation and the page of the current route. */
import type { ReactNode } from 'react';
import { FunctionsPage } from './pages/Functions.js';
import { MetricsPage } from './pages/Metrics.js';
import { NodesPage } from './pages/Nodes.js';
import { WorkflowDetailPage } from './pages/WorkflowDetail.js';
import { WorkflowsPage } from './pages/Workflows.js';
import { useRoute, type Route } from './router.js';

const NAV: { href: string; label: string; pages: Route['page'][] }[] = [
  { href: '#/workflows', label: 'Workflows', pages: ['workflows', 'workflow'] },
  { href: '#/functions', label: 'Functions', pages: ['functions'] },
  { href: '#/nodes', label: 'Edge nodes', pages: ['nodes'] },
  { href: '#/metrics', label: 'Metrics', pages: ['metrics'] },
];

function page(route: Route): ReactNode {
  switch (route.page) {
    case 'workflows':
      return <WorkflowsPage />;
    case 'workflow':
      return <WorkflowDetailPage id={route.id} />;
    case 'functions':
      return <FunctionsPage />;
    case 'nodes':
      return <NodesPage />;
    case 'metrics':
      return <MetricsPage />;
  }
}

export function App(): ReactNode {
  const route = useRoute();
  return (
    <>
      <header className="top">
        <a className="brand" href="#/workflows">
          Aether
        </a>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <a key={n.href} href={n.href} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
      </header>
      <main>{page(route)}</main>
    </>
  );
}

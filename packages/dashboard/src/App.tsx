/** The dashboard's frame: navigation and the page of the current route. */
import { Component, type ReactNode } from 'react';
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

/** A page that throws while rendering shows the error instead of a blank screen; the nav keeps working. */
class PageBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | null; key: string }> {
  override state = { error: null as Error | null, key: this.props.resetKey };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: Error | null; key: string }) {
    return props.resetKey === state.key ? null : { error: null, key: props.resetKey };
  }
  override render(): ReactNode {
    if (this.state.error === null) return this.props.children;
    return (
      <div className="error" role="alert">
        <strong>This page failed</strong> {this.state.error.message}{' '}
        <a href={window.location.hash} onClick={() => window.location.reload()}>
          Reload
        </a>
      </div>
    );
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
      <main>
        <PageBoundary resetKey={JSON.stringify(route)}>{page(route)}</PageBoundary>
      </main>
    </>
  );
}

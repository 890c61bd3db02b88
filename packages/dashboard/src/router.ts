/**
 * Hash routes (`#/workflows/ID`): the node serves one page at `/`, so links,
 * reloads and the back button work without server-side routes.
 */
import { useEffect, useState } from 'react';

export type Route =
  | { page: 'workflows' }
  | { page: 'workflow'; id: string }
  | { page: 'functions' }
  | { page: 'nodes' }
  | { page: 'metrics' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'workflows':
      return parts[1] !== undefined ? { page: 'workflow', id: parts.slice(1).join('/') } : { page: 'workflows' };
    case 'functions':
      return { page: 'functions' };
    case 'nodes':
      return { page: 'nodes' };
    case 'metrics':
      return { page: 'metrics' };
    default:
      return { page: 'workflows' };
  }
}

/** The href of a workflow's detail page. */
export function workflowHref(id: string): string {
  return `#/workflows/${encodeURIComponent(id)}`;
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** Pieces every page uses: loading/error/empty states, the token form, a data hook. */
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { ApiError, setToken } from './api.js';

/** Loads `load()` and reloads on `reload()`; keeps the last data while reloading. */
export function useData<T>(
  load: () => Promise<T>,
  deps: unknown[],
): {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
} {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: unknown) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** The node wants a token: ask for it, store it, reload. */
export function TokenForm({ invalid }: { invalid: boolean }): ReactNode {
  const [value, setValue] = useState('');
  return (
    <form
      className="card token-form"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        window.location.reload();
      }}
    >
      <h2>This node needs a token</h2>
      <p>{invalid ? 'The stored token was refused. ' : ''}Enter the node's [auth] token to continue.</p>
      <label>
        Token
        <input type="password" autoFocus value={value} onChange={(e) => setValue(e.target.value)} required />
      </label>
      <button type="submit">Continue</button>
    </form>
  );
}

/** An error as a message (with its code); a 401 becomes the token form. */
export function ErrorMessage({ error }: { error: unknown }): ReactNode {
  if (error instanceof ApiError && error.status === 401)
    return <TokenForm invalid={error.message.includes('not valid')} />;
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      <strong>{code}</strong> {message}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }): ReactNode {
  return <p className="empty">{children}</p>;
}

export function Loading(): ReactNode {
  return <p className="loading">Loading…</p>;
}

/**
 * Markers of runs that ended locally: the promise ctx calls return once a run
 * is over (it never settles, so workflow code just stops), and the result of
 * a journal lookup that met a different step than recorded.
 */

/**
 * A promise that never settles. A fresh one per call: a shared one would keep
 * every abandoned continuation reachable forever.
 */
export function never<T = never>(): Promise<T> {
  return new Promise<T>(() => {});
}

/** Returned by a journal lookup that failed the workflow with a NonDeterminismError. */
export const MISMATCH: unique symbol = Symbol('aether.nondeterminism');

/** A rejected promise carrying whatever was thrown (workflow code may throw non-Errors). */
export function rejected<T = never>(thrown: unknown): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
  return Promise.reject(thrown);
}

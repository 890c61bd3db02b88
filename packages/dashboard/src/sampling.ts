/**
 * Polling that keeps a window of samples in memory: the Functions page turns
 * two samples of counters into rates, the Metrics page draws the last minutes.
 * Nothing is stored on the node; leaving the page drops the window.
 */
import { useEffect, useState } from 'react';

export interface Sampled<T> {
  /** Epoch milliseconds of the answer. */
  at: number;
  value: T;
}

/**
 * Calls `load` now and every `intervalMs` (never two at once), keeping the
 * samples of the last `keepMs`. The last error stays until a load succeeds.
 */
export function useSamples<T>(
  load: () => Promise<T>,
  options: { intervalMs: number; keepMs: number },
): { samples: Sampled<T>[]; error: unknown } {
  const [state, setState] = useState<{ samples: Sampled<T>[]; error: unknown }>({ samples: [], error: undefined });
  const { intervalMs, keepMs } = options;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async (): Promise<void> => {
      try {
        const value = await load();
        const at = Date.now();
        if (live)
          setState((s) => ({
            samples: [...s.samples.filter((x) => at - x.at <= keepMs), { at, value }],
            error: undefined,
          }));
      } catch (error) {
        if (live) setState((s) => ({ samples: s.samples, error }));
      }
      if (live) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // `load` is a module-level function per page; the window restarts only when the timing changes.
  }, [intervalMs, keepMs]);
  return state;
}

/** A counter's rate per second between two samples; null when it went backwards (a node restart). */
export function ratePerSecond(before: number, after: number, ms: number): number | null {
  if (ms <= 0 || after < before) return null;
  return (after - before) / (ms / 1000);
}

/** "3 s ago", "5 min ago", "2 h ago". */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

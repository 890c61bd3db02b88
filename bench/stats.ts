/** Helpers every benchmark scenario uses: percentiles and `--name=value` flags. */

/** The p-th percentile (0-100) of an ascending array; NaN when empty. */
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A numeric `--name=value` flag, or `fallback`. */
export function flag(flags: string[], name: string, fallback: number): number {
  return Number(flags.find((f) => f.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
}

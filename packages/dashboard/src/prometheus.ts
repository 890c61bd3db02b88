/**
 * A small reader of the Prometheus text format (what `GET /metrics` answers)
 * for the Metrics page: samples with their labels, sums over label sets, and
 * quantiles from the bucket deltas of a histogram between two scrapes.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) break;
    const key = text
      .slice(i, eq)
      .replace(/^[\s,]+/, '')
      .trim();
    let j = eq + 1;
    if (text[j] !== '"') break;
    j++;
    let value = '';
    while (j < text.length && text[j] !== '"') {
      if (text[j] === '\\' && j + 1 < text.length) {
        const next = text[j + 1];
        value += next === 'n' ? '\n' : next;
        j += 2;
      } else {
        value += text[j];
        j++;
      }
    }
    labels[key] = value;
    i = j + 1;
  }
  return labels;
}

/** Parses the text exposition format; comments and malformed lines are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    if (brace >= 0 && (space < 0 || brace < space)) {
      const close = line.lastIndexOf('}');
      if (close < brace) continue;
      name = line.slice(0, brace);
      labels = parseLabels(line.slice(brace + 1, close));
      rest = line.slice(close + 1).trim();
    } else {
      if (space < 0) continue;
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const token = rest.split(/\s+/)[0] ?? '';
    const value = token === '+Inf' ? Infinity : token === '-Inf' ? -Infinity : Number(token);
    if (token === '' || (Number.isNaN(value) && token !== 'NaN')) continue;
    out.push({ name, labels, value });
  }
  return out;
}

/** The sum of a metric's samples whose labels match `where` (every sample when omitted); 0 when absent. */
export function sumOf(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).some(([k, v]) => s.labels[k] !== v)) continue;
    total += s.value;
  }
  return total;
}

/** Whether any sample of `name` is present. */
export function has(samples: Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

/** Cumulative bucket counts of histogram `name` summed over its other labels, by upper bound (ascending). */
export function histogramBuckets(samples: Sample[], name: string): { le: number; count: number }[] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile (0..1) of the observations made between two scrapes of a
 * histogram, interpolated linearly inside the bucket as Prometheus'
 * histogram_quantile does; null when nothing was observed in between.
 */
export function quantileBetween(
  before: { le: number; count: number }[],
  after: { le: number; count: number }[],
  q: number,
): number | null {
  const prev = new Map(before.map((b) => [b.le, b.count]));
  const delta = after.map((b) => ({ le: b.le, count: b.count - (prev.get(b.le) ?? 0) }));
  const total = delta.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of delta) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      const inBucket = b.count - below;
      return inBucket <= 0 ? b.le : lower + ((b.le - lower) * (rank - below)) / inBucket;
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

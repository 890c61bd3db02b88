/** Aligned plain-text tables and human-friendly times for the CLI's output. */

/** Renders rows under headers as columns padded to their widest cell. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Renders `label value` pairs with the labels padded to one width. */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n') + '\n';
}

/** Shortens text to `max` characters with an ellipsis; newlines become spaces. */
export function truncate(text: string, max: number): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** `2025-01-01T10:00:00.123Z` -> `2025-01-01 10:00:00` (UTC); `-` for null. */
export function formatTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '-';
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
    .replace(/Z$/, '');
}

/** A duration in milliseconds as `35ms`, `1.2s`, `2m03s` or `1h02m`; `-` for null. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A JSON value as compact text; `-` for null/undefined. */
export function formatJson(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return JSON.stringify(value);
}

/**
 * Finds where a key lives in TOML text, so configuration errors found after
 * parsing (by the schema) can still name the line, as syntax errors do.
 * It is a line scanner, not a parser: it only has to be right for documents
 * smol-toml already accepted.
 */

/** Splits a dotted TOML key (`a."b.c".d`) into its parts, without quotes. */
export function splitTomlKey(key: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const ch of key) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '.') {
      parts.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current.trim());
  return parts.filter((p) => p.length > 0);
}

/** The index of the first `=` outside quotes, or -1. */
function assignmentIndex(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '=') {
      return i;
    } else if (ch === '#') {
      return -1;
    }
  }
  return -1;
}

/** One line of a TOML document that names a key: a table header or an assignment. */
interface KeyLine {
  /** 1-based line number. */
  line: number;
  /** Full key path of the header or assignment. */
  path: string[];
}

/** Lists the key-naming lines of a TOML document, with their full key paths. */
function scanKeyLines(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  let table: string[] = [];
  let multiline: string | undefined;
  lines.forEach((raw, index) => {
    if (multiline !== undefined) {
      if (raw.includes(multiline)) multiline = undefined;
      return;
    }
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) return;
    const header = /^\[\[?([^\]]*)\]\]?/.exec(line);
    if (header) {
      table = splitTomlKey(header[1] ?? '');
      out.push({ line: index + 1, path: table });
      return;
    }
    const eq = assignmentIndex(line);
    if (eq <= 0) return;
    out.push({ line: index + 1, path: [...table, ...splitTomlKey(line.slice(0, eq))] });
    const value = line.slice(eq + 1).trim();
    for (const delim of ['"""', "'''"]) {
      if (value.startsWith(delim) && !value.slice(3).includes(delim)) multiline = delim;
    }
  });
  return out;
}

/**
 * The 1-based line where `path` is defined: its assignment or table header,
 * else the line of its closest defined ancestor (e.g. an inline table), else
 * undefined.
 */
export function locateTomlKey(text: string, path: readonly string[]): number | undefined {
  let best: { line: number; depth: number } | undefined;
  for (const entry of scanKeyLines(text)) {
    if (entry.path.length > path.length) continue;
    if (!entry.path.every((part, i) => part === path[i])) continue;
    if (entry.path.length === path.length) return entry.line;
    if (best === undefined || entry.path.length > best.depth) best = { line: entry.line, depth: entry.path.length };
  }
  return best?.line;
}

/** The full key named on a given 1-based line (header or assignment), if any. */
export function keyAtTomlLine(text: string, line: number): string[] | undefined {
  const lines = text.split(/\r\n|\n|\r/);
  let table: string[] = [];
  for (let i = 0; i < line && i < lines.length; i++) {
    const current = (lines[i] ?? '').trim();
    const header = /^\[\[?([^\]]*)\]?\]?/.exec(current);
    const isTarget = i === line - 1;
    if (header) {
      table = splitTomlKey(header[1] ?? '');
      if (isTarget) return table.length > 0 ? table : undefined;
      continue;
    }
    if (!isTarget) continue;
    const eq = assignmentIndex(current);
    if (eq > 0) return [...table, ...splitTomlKey(current.slice(0, eq))];
    return table.length > 0 ? table : undefined;
  }
  return undefined;
}

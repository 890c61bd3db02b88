/**
 * Turns the text of a TOML config file into a value checked by a zod schema,
 * with errors that name the file, the line and the key. Shared by aether.toml
 * and the edge node's config file. No I/O here.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { TerminalError } from '../errors/aether-error.js';
import { keyAtTomlLine, locateTomlKey } from './toml-locate.js';

/** One problem found in a configuration file. */
export interface ConfigProblem {
  /** 1-based line, when it could be located. */
  line?: number | undefined;
  /** Dotted key, e.g. `server.grpc_port`. */
  key: string;
  message: string;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return value === null ? 'null' : typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** Levenshtein distance, for "did you mean" suggestions on unknown keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function knownKeys(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = root;
  for (const part of path) {
    if (typeof part === 'number') {
      const element = unwrapArray(schema);
      if (element === undefined) return [];
      schema = element;
      continue;
    }
    const shape: Record<string, z.ZodType> = unwrapObject(schema)?.shape ?? {};
    const next = shape[String(part)];
    if (next === undefined) return [];
    schema = next;
  }
  return Object.keys(unwrapObject(schema)?.shape ?? {});
}

function unwrapObject(schema: z.ZodType): z.ZodObject | undefined {
  let current: unknown = schema;
  // Peel default/prefault/optional wrappers down to the object schema.
  for (let i = 0; i < 5; i++) {
    if (current instanceof z.ZodObject) return current;
    const def = (current as { def?: { innerType?: unknown } }).def;
    if (def?.innerType === undefined) return undefined;
    current = def.innerType;
  }
  return undefined;
}

function unwrapArray(schema: z.ZodType): z.ZodType | undefined {
  let current: unknown = schema;
  for (let i = 0; i < 5; i++) {
    if (current instanceof z.ZodArray) return current.element as z.ZodType;
    const def = (current as { def?: { innerType?: unknown } }).def;
    if (def?.innerType === undefined) return undefined;
    current = def.innerType;
  }
  return undefined;
}

/** How a config format names keys and sections in messages, and finds their lines. */
export interface ConfigFormat {
  /** 1-based line of the key at `path`, when it can be found. */
  locate(path: readonly (string | number)[]): number | undefined;
  /** `server.grpc_port` (TOML) or `functions[0].id` (YAML). */
  keyName(path: readonly (string | number)[]): string;
  /** `[server]` (TOML) or `functions[0]` (YAML). */
  sectionName(path: readonly (string | number)[]): string;
  /** What the format calls an object: "table" (TOML) or "mapping" (YAML). */
  objectWord: string;
}

function tomlFormat(text: string): ConfigFormat {
  return {
    locate: (path) => locateTomlKey(text, path.map(String)),
    keyName: (path) => path.map(String).join('.'),
    sectionName: (path) => (path.length === 0 ? 'the top level' : `[${path.map(String).join('.')}]`),
    objectWord: 'table',
  };
}

/**
 * Turns a zod error into problems that name the line and the key, with "did
 * you mean" suggestions for unknown keys, sorted by line.
 */
export function configProblems(
  root: z.ZodType,
  error: z.ZodError,
  data: unknown,
  format: ConfigFormat,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(root, path);
      for (const key of issue.keys) {
        const fullPath = [...path, key];
        const close = known.filter((k) => distance(k, key) <= 2);
        const suggestion = close.length > 0 ? `; did you mean "${close[0]}"?` : '';
        const knownText = known.length > 0 ? ` (known keys: ${known.join(', ')})` : '';
        problems.push({
          line: format.locate(fullPath),
          key: format.keyName(fullPath),
          message: `unknown key "${key}" in ${format.sectionName(path)}${suggestion}${suggestion ? '' : knownText}`,
        });
      }
      continue;
    }
    const value = valueAt(data, path);
    let message = issue.message;
    if (issue.code === 'invalid_type' && (issue.expected === 'object' || issue.expected === 'record')) {
      message = `must be a ${format.objectWord}`;
    }
    problems.push({
      line: format.locate(path),
      key: format.keyName(path),
      // A custom check names the value itself; a missing value has nothing to show.
      message:
        issue.code === 'custom' || (value === undefined && issue.code === 'invalid_type')
          ? message
          : `${message}, got ${describeValue(value)}`,
    });
  }
  return problems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
}

function where(fileName: string, line: number | undefined): string {
  return line === undefined ? fileName : `${fileName}:${line}`;
}

/**
 * Parses TOML text against a zod schema. Errors name the file, the line and the
 * key (syntax errors also the column; unknown keys get a "did you mean").
 *
 * @param text - the file's contents
 * @param fileName - the file's name as the user knows it, used in error messages
 * @param schema - a zod object schema with snake_case keys as written in the file
 * @throws TerminalError AETHER_E_CONFIG_INVALID with details `{file, line, key}`
 *   (and `column` for syntax errors, `problems` when there are several)
 */
export function parseTomlConfig<S extends z.ZodType>(text: string, fileName: string, schema: S): z.output<S> {
  let data: unknown;
  try {
    data = parseToml(text, { unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    if (err instanceof TomlError) {
      const keyPath = keyAtTomlLine(text, err.line);
      const key = keyPath?.join('.');
      const firstLine = err.message.split('\n')[0] ?? err.message;
      throw new TerminalError(
        'AETHER_E_CONFIG_INVALID',
        `${fileName}:${err.line}:${err.column}: TOML syntax error${key ? ` near ${key}` : ''}: ${firstLine}`,
        { file: fileName, line: err.line, column: err.column, key },
        { cause: err },
      );
    }
    throw new TerminalError(
      'AETHER_E_CONFIG_INVALID',
      `${fileName}: ${String(err)}`,
      { file: fileName },
      { cause: err },
    );
  }
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;

  throw configInvalid(fileName, configProblems(schema, parsed.error, data, tomlFormat(text)));
}

/**
 * The error for a file's problems: the first (by line) in the message, all of
 * them in `details.problems` when there are several.
 */
export function configInvalid(fileName: string, problems: ConfigProblem[]): TerminalError {
  const first = problems[0] ?? { key: '', message: 'invalid configuration' };
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  return new TerminalError(
    'AETHER_E_CONFIG_INVALID',
    `${where(fileName, first.line)}: ${first.key}: ${first.message}${more}`,
    { file: fileName, line: first.line, key: first.key, ...(problems.length > 1 ? { problems } : {}) },
  );
}

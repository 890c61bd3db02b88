/**
 * JSON (de)serialization of workflow arguments, step results and workflow
 * results. Aether stores payloads as JSON text, so anything JSON cannot give
 * back faithfully (functions, symbols, BigInt, cycles, Map/Set and other class
 * instances, NaN/Infinity, holes of `undefined` in arrays) is rejected up front
 * with AETHER_E_WF_INPUT_NOT_SERIALIZABLE instead of silently changing shape on
 * replay.
 */
import { TerminalError } from '@aether/core';

/** Where a value is serialized, for error messages (`workflow arguments`, `result of step 'x'`). */
export type PayloadRole = string;

function notSerializable(role: PayloadRole, path: string, why: string): TerminalError {
  return new TerminalError(
    'AETHER_E_WF_INPUT_NOT_SERIALIZABLE',
    `${role} must be JSON-serializable: ${path || 'the value'} ${why}`,
    { role, path: path || '$', reason: why },
  );
}

function describe(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'a class instance';
}

/**
 * `JSON.stringify` that throws a TerminalError for values JSON cannot round-trip.
 * Objects with a `toJSON` method (Date, Buffer...) are accepted: JSON defines
 * their representation. `undefined` at the top level gives `undefined`.
 */
export function toJson(value: unknown, role: PayloadRole): string | undefined {
  // Fast path: primitives need no walk.
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'undefined':
      return undefined;
    case 'number':
      if (!Number.isFinite(value)) throw notSerializable(role, '', `is ${String(value)}`);
      return JSON.stringify(value);
    case 'bigint':
      throw notSerializable(role, '', 'is a BigInt');
    case 'function':
      throw notSerializable(role, '', 'is a function');
    case 'symbol':
      throw notSerializable(role, '', 'is a symbol');
    default:
      if (value === null) return 'null';
  }
  const paths = new WeakMap<object, string>();
  paths.set(value as object, '');
  let rootSeen = false;
  try {
    return JSON.stringify(value, function replacer(this: unknown, key: string, v: unknown): unknown {
      const holder = this as object;
      const base = rootSeen ? (paths.get(holder) ?? '') : '';
      const path = !rootSeen ? '' : Array.isArray(holder) ? `${base}[${key}]` : `${base}.${key}`;
      rootSeen = true;
      switch (typeof v) {
        case 'function':
          throw notSerializable(role, path, 'is a function');
        case 'symbol':
          throw notSerializable(role, path, 'is a symbol');
        case 'bigint':
          throw notSerializable(role, path, 'is a BigInt');
        case 'number':
          if (!Number.isFinite(v)) throw notSerializable(role, path, `is ${String(v)}`);
          return v;
        case 'undefined':
          if (Array.isArray(holder))
            throw notSerializable(role, path, 'is undefined inside an array (JSON turns it into null)');
          return v;
        case 'object': {
          if (v === null) return v;
          if (!Array.isArray(v)) {
            const proto = Object.getPrototypeOf(v) as unknown;
            if (proto !== Object.prototype && proto !== null) throw notSerializable(role, path, `is ${describe(v)}`);
          }
          paths.set(v, path);
          return v;
        }
        default:
          return v;
      }
    });
  } catch (error) {
    if (error instanceof TerminalError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/circular/i.test(message)) throw notSerializable(role, '', 'contains a circular reference');
    // A throwing toJSON method, for example.
    throw notSerializable(role, '', `cannot be serialized (${message})`);
  }
}

/**
 * Serializes the argument array of a workflow start. Trailing `undefined`
 * arguments are dropped (an omitted optional argument), others must be JSON.
 */
export function argsToJson(args: readonly unknown[], role: PayloadRole = 'workflow arguments'): string {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  return toJson(end === args.length ? args : args.slice(0, end), role) ?? '[]';
}

/** Parses stored JSON text; the empty string (an `undefined` result) gives `undefined`. */
export function fromJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined;
  return JSON.parse(text) as unknown;
}

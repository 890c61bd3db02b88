/** What JSON cannot give back faithfully is rejected with AETHER_E_WF_INPUT_NOT_SERIALIZABLE. */
import { describe, expect, it } from 'vitest';
import { TerminalError, type AetherError } from '@aether/core';
import { argsToJson, fromJson, toJson } from './serialize.js';

function rejection(value: unknown): AetherError {
  try {
    toJson(value, 'the value');
  } catch (e) {
    return e as AetherError;
  }
  throw new Error('accepted');
}

describe('toJson', () => {
  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a BigInt', 10n],
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['a Map', new Map()],
    ['a Set', new Set([1])],
    ['a class instance', new (class Order {})()],
    ['an Error', new Error('x')],
    ['a nested function', { a: { b: [1, () => 2] } }],
    ['a nested BigInt', { n: 1n }],
    ['undefined inside an array', [1, undefined]],
  ])('rejects %s with AETHER_E_WF_INPUT_NOT_SERIALIZABLE', (_what, value) => {
    const error = rejection(value);
    expect(error).toBeInstanceOf(TerminalError);
    expect(error.code).toBe('AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
  });

  it('rejects circular structures', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = { back: a };
    expect(rejection(a).code).toBe('AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
    expect(rejection(a).message).toMatch(/circular/);
  });

  it('names the path of the offending value', () => {
    expect(rejection({ order: { items: [1, new Set()] } }).details.path).toBe('.order.items[1]');
  });

  it('accepts JSON values, shared references, null-prototype objects and toJSON objects', () => {
    const shared = { k: 1 };
    expect(toJson({ a: shared, b: shared }, 'v')).toBe('{"a":{"k":1},"b":{"k":1}}');
    const bare = Object.assign(Object.create(null) as object, { x: 1 });
    expect(toJson(bare, 'v')).toBe('{"x":1}');
    expect(toJson(new Date(0), 'v')).toBe('"1970-01-01T00:00:00.000Z"');
    expect(toJson({ skipped: undefined, n: null, s: 'x', b: true }, 'v')).toBe('{"n":null,"s":"x","b":true}');
    expect(toJson(undefined, 'v')).toBeUndefined();
  });
});

describe('argsToJson', () => {
  it('drops trailing undefined arguments and keeps the array form', () => {
    expect(argsToJson(['World', undefined])).toBe('["World"]');
    expect(argsToJson([])).toBe('[]');
  });

  it('rejects arguments JSON cannot represent', () => {
    expect(() => argsToJson([undefined, 1])).toThrow(TerminalError);
    expect(() => argsToJson([{ at: 1n }])).toThrow(/arguments/);
  });
});

describe('fromJson', () => {
  it('reads the empty string as undefined', () => {
    expect(fromJson('')).toBeUndefined();
    expect(fromJson('{"a":1}')).toEqual({ a: 1 });
  });
});

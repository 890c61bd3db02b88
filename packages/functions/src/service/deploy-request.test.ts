/** Tests of deploy and execute body checks: seed 002's shapes, strict base64, stable codes. */
import { AetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strict, parseDeployRequest, parseExecuteRequest } from './deploy-request.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return (err as AetherError).code;
  }
  throw new Error('expected a throw');
}

const wasm = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);

describe('decodeBase64Strict', () => {
  it('decodes standard base64, ignoring line breaks', () => {
    const b64 = Buffer.from('hello world, this is a module').toString('base64');
    expect(Buffer.from(decodeBase64Strict(b64)).toString()).toBe('hello world, this is a module');
    expect(Buffer.from(decodeBase64Strict(`${b64.slice(0, 8)}\n${b64.slice(8)}\n`)).toString()).toBe(
      'hello world, this is a module',
    );
  });

  it('refuses characters outside the alphabet, bad padding and emptiness', () => {
    for (const bad of ['', '   ', 'abc!', 'ab-_', 'abc', 'a=bc', 'ab===', 'QUJD\u00e9']) {
      expect(codeOf(() => decodeBase64Strict(bad))).toBe('AETHER_E_WASM_INVALID_BASE64');
    }
  });
});

describe('parseDeployRequest', () => {
  it("reads seed 002's {name, wasm_b64} and the optional limits", () => {
    const r = parseDeployRequest(
      {
        name: 'hello_world',
        wasm_b64: wasm.toString('base64'),
        memory_limit_mb: 32,
        timeout_ms: 500,
        env_vars: { A: 'b' },
      },
      1024,
    );
    expect(r).toEqual({
      name: 'hello_world',
      runtime: 'wasm',
      code: new Uint8Array(wasm),
      memoryLimitMb: 32,
      timeoutMs: 500,
      envVars: { A: 'b' },
    });
  });

  it('refuses a module over the size limit before decoding it', () => {
    expect(codeOf(() => parseDeployRequest({ name: 'f', wasm_b64: Buffer.alloc(2048).toString('base64') }, 1024))).toBe(
      'AETHER_E_WASM_TOO_LARGE',
    );
    expect(parseDeployRequest({ name: 'f', wasm_b64: Buffer.alloc(1024).toString('base64') }, 1024).code.length).toBe(
      1024,
    );
  });

  it('gives each malformed field a stable code', () => {
    const b64 = wasm.toString('base64');
    const cases: [unknown, string][] = [
      [null, 'AETHER_E_FN_INVALID'],
      [[], 'AETHER_E_FN_INVALID'],
      [{ wasm_b64: b64 }, 'AETHER_E_FN_INVALID'],
      [{ name: '../etc', wasm_b64: b64 }, 'AETHER_E_FN_INVALID'],
      [{ name: 'x'.repeat(65), wasm_b64: b64 }, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: 5 }, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: b64, memory_limit_mb: 4097 }, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: b64, timeout_ms: 1.5 }, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: b64, env_vars: { A: 1 } }, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', wasm_b64: b64, extra: true }, 'AETHER_E_FN_INVALID'],
      [{ name: 'f', runtime: 'process', wasm_b64: b64 }, 'AETHER_E_FN_RUNTIME_UNSUPPORTED'],
      [{ name: 'f', wasm_b64: '%%%%' }, 'AETHER_E_WASM_INVALID_BASE64'],
    ];
    for (const [body, code] of cases)
      expect([body, codeOf(() => parseDeployRequest(body, 1 << 20))]).toEqual([body, code]);
  });

  it('refuses scaling for a WASM function, saying it applies to node functions only', () => {
    const body = { name: 'f', wasm_b64: wasm.toString('base64'), scaling: { max: 2 } };
    let thrown: unknown;
    try {
      parseDeployRequest(body, 1 << 20);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AetherError);
    expect((thrown as AetherError).code).toBe('AETHER_E_FN_INVALID');
    expect((thrown as AetherError).details).toMatchObject({ field: 'scaling' });
    expect((thrown as AetherError).message).toMatch(/scaling applies to node functions only/);
    // Another runtime keeps its own, more telling error.
    expect(codeOf(() => parseDeployRequest({ ...body, runtime: 'process' }, 1 << 20))).toBe(
      'AETHER_E_FN_RUNTIME_UNSUPPORTED',
    );
  });
});

describe('parseExecuteRequest', () => {
  it('reads {function, input} with input defaulting to null', () => {
    expect(parseExecuteRequest({ function: 'f', input: { a: 1 } })).toEqual({ function: 'f', input: { a: 1 } });
    expect(parseExecuteRequest({ function: 'f' })).toEqual({ function: 'f', input: null });
  });

  it('refuses other shapes', () => {
    for (const body of [undefined, 'f', { input: {} }, { function: 3 }, { function: 'f', inputs: {} }]) {
      expect(codeOf(() => parseExecuteRequest(body))).toBe('AETHER_E_FN_INVALID');
    }
  });
});

/**
 * Checks the body of `POST /api/functions` (seed 002's `{name, wasm_b64}` plus
 * DESIGN 4.4's optional limits) and decodes the module, so a malformed deploy
 * fails with a stable code before anything is compiled or stored.
 */
import { aetherError } from '@aether/core';
import { z } from 'zod';

/** Function names (and ids): what seed 002 uses in `/execute` and the manifest. */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Highest per-function memory limit of a wasm32 module (4 GiB = 65,536 pages). */
export const MAX_WASM_MEMORY_MB = 4096;

/** Longest per-function timeout accepted. */
export const MAX_TIMEOUT_MS = 15 * 60 * 1000;

const deploySchema = z.strictObject({
  name: z.string({ error: 'name must be a string' }).regex(FUNCTION_NAME_PATTERN, {
    error: 'name must be 1-64 letters, digits, "_", "-" or "." and start with a letter or digit',
  }),
  runtime: z.string({ error: 'runtime must be a string' }).optional(),
  wasm_b64: z.string({ error: 'wasm_b64 must be a base64 string' }).optional(),
  memory_limit_mb: z
    .number({ error: 'memory_limit_mb must be a number' })
    .int('memory_limit_mb must be a whole number')
    .min(1, 'memory_limit_mb must be at least 1')
    .max(MAX_WASM_MEMORY_MB, `memory_limit_mb must be at most ${MAX_WASM_MEMORY_MB} for WASM`)
    .optional(),
  timeout_ms: z
    .number({ error: 'timeout_ms must be a number' })
    .int('timeout_ms must be a whole number')
    .min(1, 'timeout_ms must be at least 1')
    .max(MAX_TIMEOUT_MS, `timeout_ms must be at most ${MAX_TIMEOUT_MS}`)
    .optional(),
  env_vars: z.record(z.string(), z.string({ error: 'env_vars values must be strings' })).optional(),
  // Known so that its refusal below can say why, rather than "unknown field".
  scaling: z.unknown().optional(),
});

/** A checked deploy request with the module decoded. */
export interface DeployRequest {
  name: string;
  runtime: 'wasm';
  code: Uint8Array;
  memoryLimitMb: number | null;
  timeoutMs: number | null;
  envVars: Record<string, string>;
}

/**
 * Decodes standard base64 strictly: whitespace (line breaks of `base64`
 * without -w0) is ignored, anything else outside the alphabet is an error
 * (Buffer.from would silently skip it and deploy garbage).
 * @throws AetherError AETHER_E_WASM_INVALID_BASE64
 */
export function decodeBase64Strict(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (compact === '') throw aetherError('AETHER_E_WASM_INVALID_BASE64', 'wasm_b64 is empty');
  const bad = /[^A-Za-z0-9+/=]/.exec(compact);
  if (bad !== null) {
    throw aetherError(
      'AETHER_E_WASM_INVALID_BASE64',
      `wasm_b64 is not base64: unexpected character ${JSON.stringify(bad[0])} at position ${bad.index}`,
      { position: bad.index },
    );
  }
  if (compact.length % 4 !== 0 || /=[^=]/.test(compact) || /={3,}$/.test(compact)) {
    throw aetherError(
      'AETHER_E_WASM_INVALID_BASE64',
      'wasm_b64 is not base64: its length is not a multiple of 4 or "=" padding is misplaced',
    );
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/**
 * Checks a deploy body and decodes its module; the size limit is checked on
 * the base64 length first so an oversized module is refused before decoding.
 * @throws AetherError AETHER_E_FN_INVALID, AETHER_E_FN_RUNTIME_UNSUPPORTED,
 *   AETHER_E_WASM_INVALID_BASE64, AETHER_E_WASM_TOO_LARGE
 */
export function parseDeployRequest(body: unknown, maxModuleBytes: number): DeployRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw aetherError(
      'AETHER_E_FN_INVALID',
      'the body must be a JSON object such as {"name": "...", "wasm_b64": "..."}',
    );
  }
  const parsed = deploySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const message =
      issue?.code === 'unrecognized_keys'
        ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (known: name, runtime, wasm_b64, memory_limit_mb, timeout_ms, env_vars)`
        : (issue?.message ?? 'invalid deploy request');
    throw aetherError('AETHER_E_FN_INVALID', message, { field: issue?.path.join('.') });
  }
  const req = parsed.data;
  const runtime = req.runtime ?? 'wasm';
  if (runtime !== 'wasm') {
    throw aetherError(
      'AETHER_E_FN_RUNTIME_UNSUPPORTED',
      `runtime "${runtime}" cannot be deployed through this API on this node: only "wasm" is available`,
      { runtime },
    );
  }
  if (req.scaling !== undefined) {
    // Every request of a WASM function gets a fresh instance on the node's shared worker
    // pool ([functions] workers): there are no per-function instances to scale.
    throw aetherError(
      'AETHER_E_FN_INVALID',
      'scaling applies to node functions only (runtime "node"): WASM functions run on the shared worker pool, sized by [functions] workers in aether.toml',
      { field: 'scaling' },
    );
  }
  if (req.wasm_b64 === undefined) {
    throw aetherError('AETHER_E_FN_INVALID', 'wasm_b64 is required: the module bytes in base64', {
      field: 'wasm_b64',
    });
  }
  const compact = req.wasm_b64.replace(/\s+/g, '');
  // 4 base64 characters carry 3 bytes: an oversized module is refused before decoding.
  const sizeBytes = Math.floor((compact.length * 3) / 4) - (compact.match(/=+$/)?.[0].length ?? 0);
  if (sizeBytes > maxModuleBytes) {
    throw aetherError(
      'AETHER_E_WASM_TOO_LARGE',
      `the module is ${Math.ceil(sizeBytes / 1024)} KB, above the limit of ${Math.floor(maxModuleBytes / 1024)} KB`,
      { sizeBytes, maxBytes: maxModuleBytes },
    );
  }
  return {
    name: req.name,
    runtime: 'wasm',
    code: decodeBase64Strict(compact),
    memoryLimitMb: req.memory_limit_mb ?? null,
    timeoutMs: req.timeout_ms ?? null,
    envVars: req.env_vars ?? {},
  };
}

/** The body of `POST /execute`: `{function, input}`. */
export interface ExecuteRequest {
  function: string;
  input: unknown;
}

/**
 * Checks the body of `POST /execute`.
 * @throws AetherError AETHER_E_FN_INVALID
 */
export function parseExecuteRequest(body: unknown): ExecuteRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw aetherError('AETHER_E_FN_INVALID', 'the body must be a JSON object such as {"function": "...", "input": {}}');
  }
  const { function: name, input, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) {
    throw aetherError('AETHER_E_FN_INVALID', `unknown field "${extra[0]}" (known: function, input)`, {
      field: extra[0],
    });
  }
  if (typeof name !== 'string' || !FUNCTION_NAME_PATTERN.test(name)) {
    throw aetherError('AETHER_E_FN_INVALID', '"function" must be the name of a deployed function', {
      field: 'function',
    });
  }
  return { function: name, input: input ?? null };
}

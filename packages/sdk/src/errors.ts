/**
 * Errors as the SDK sees them: the core AetherError classes (re-exported from
 * the package index), and the conversions between thrown values and the
 * `StoredError` records of journals and workflow outcomes.
 */
import { AetherError, TerminalError, aetherError, isErrorCode, type ErrorCode, type StoredError } from '@aether/core';

const AETHER_CLASS_NAMES = new Set(['AetherError', 'TerminalError', 'RetryableError', 'NonDeterminismError']);

const BUILTIN_ERRORS: Record<string, new (message: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Keeps details only when they survive a JSON round trip (they are stored). */
function jsonSafeDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  if (Object.keys(details).length === 0) return undefined;
  try {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Records anything thrown as a StoredError. AetherErrors keep their code and
 * details; other errors get `fallback` (e.g. AETHER_E_STEP_FAILED) and their
 * class name, which retry policies and replays use.
 */
export function toStoredError(thrown: unknown, fallback: ErrorCode): StoredError {
  if (thrown instanceof AetherError) {
    const stored: StoredError = { code: thrown.code, message: thrown.message, name: thrown.name };
    const details = jsonSafeDetails(thrown.details);
    if (details) stored.details = details;
    return stored;
  }
  if (thrown instanceof Error) return { code: fallback, message: thrown.message, name: thrown.name };
  return { code: fallback, message: safeString(thrown), name: 'Error' };
}

function safeString(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // fall through
  }
  return Object.prototype.toString.call(value);
}

/**
 * Rebuilds the error a replayed step, activity or child throws from its
 * journal entry: an AetherError subclass for catalogue errors, else an Error
 * (or built-in subclass) with the recorded name and message.
 */
export function fromStoredError(stored: StoredError): Error {
  const name = stored.name ?? 'Error';
  if (isErrorCode(stored.code) && (AETHER_CLASS_NAMES.has(name) || stored.code !== 'AETHER_E_STEP_FAILED')) {
    const error = aetherError(stored.code, stored.message, stored.details ?? {});
    if (!AETHER_CLASS_NAMES.has(name)) error.name = name;
    return error;
  }
  const Ctor = BUILTIN_ERRORS[name] ?? Error;
  const error = new Ctor(stored.message);
  if (error.name !== name) error.name = name;
  Object.defineProperty(error, 'code', { value: stored.code, enumerable: false, writable: true, configurable: true });
  return error;
}

/**
 * The error `startAndWait` / `handle.result()` reject with for a FAILED or
 * CANCELLED workflow: always an AetherError carrying the stored code.
 */
export function outcomeError(workflowId: string, state: string, stored: StoredError | undefined): AetherError {
  if (state === 'CANCELLED') {
    const reason = stored?.message;
    return new TerminalError(
      'AETHER_E_WF_CANCELLED',
      reason ? `workflow ${workflowId} was cancelled: ${reason}` : `workflow ${workflowId} was cancelled`,
      {
        workflowId,
      },
    );
  }
  if (!stored) return new TerminalError('AETHER_E_WF_FAILED', `workflow ${workflowId} failed`, { workflowId });
  const details: Record<string, unknown> = { workflowId, ...(stored.details ?? {}) };
  if (stored.name !== undefined) details.errorName = stored.name;
  if (isErrorCode(stored.code)) return aetherError(stored.code, stored.message, details);
  return new TerminalError('AETHER_E_WF_FAILED', stored.message, { ...details, remoteCode: stored.code });
}

/** True for the errors a dropped connection or a restarting server produce. */
export function isUnavailable(error: unknown): boolean {
  return (
    error instanceof AetherError &&
    (error.code === 'AETHER_E_UNAVAILABLE' || error.code === 'AETHER_E_SHUTTING_DOWN' || error.details.grpcCode === 14)
  );
}

/**
 * AetherError: the one error class that crosses boundaries (HTTP, gRPC, worker
 * threads, processes). Subclasses say what the engine should do by their class.
 */
import { ERROR_CATALOGUE, isErrorCode, type ErrorCode, type ErrorDisposition, type ErrorSpec } from './catalogue.js';

/** The wire shape of an error: `{"error": {code, message}}` in HTTP bodies. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** Base class of every error Aether raises on purpose. */
export class AetherError extends Error {
  /** Stable code of the catalogue. */
  readonly code: ErrorCode;
  /** Read-only context (ids, names, limits) that explains the error. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AetherError';
    this.code = code;
    this.details = Object.freeze({ ...details });
  }

  /** HTTP status of this error's code. */
  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }

  /** gRPC status of this error's code. */
  get grpcStatus(): number {
    return ERROR_CATALOGUE[this.code].grpc;
  }

  /** Whether retrying may succeed. */
  get disposition(): ErrorDisposition {
    return ERROR_CATALOGUE[this.code].disposition;
  }

  get retryable(): boolean {
    return this.disposition === 'retryable';
  }

  /** A short suggestion for the user, when the catalogue has one. */
  get hint(): string | undefined {
    const spec: ErrorSpec = ERROR_CATALOGUE[this.code];
    return spec.hint;
  }

  /** The wire form of this error. */
  toJSON(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (Object.keys(this.details).length > 0) body.details = { ...this.details };
    return body;
  }
}

/** An error that will fail the same way on every retry. */
export class TerminalError extends AetherError {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'TerminalError';
  }
}

/** An error that may pass on a retry (store hiccup, lost connection). */
export class RetryableError extends AetherError {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'RetryableError';
  }
}

/** A replay met a different step than the journal recorded at that position. */
export class NonDeterminismError extends AetherError {
  readonly recorded: string;
  readonly met: string;
  constructor(workflowId: string, position: string, recorded: string, met: string) {
    super(
      'AETHER_E_WF_NON_DETERMINISM',
      `non-determinism in workflow ${workflowId} at position ${position}: the journal recorded ${recorded} but the replay met ${met}`,
      { workflowId, position, recorded, met },
    );
    this.name = 'NonDeterminismError';
    this.recorded = recorded;
    this.met = met;
  }
}

/** Builds the error class that fits a code's disposition. */
export function aetherError(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  cause?: unknown,
): AetherError {
  const opts = cause === undefined ? undefined : { cause };
  switch (ERROR_CATALOGUE[code].disposition) {
    case 'retryable':
      return new RetryableError(code, message, details, opts);
    case 'terminal':
      return new TerminalError(code, message, details, opts);
    default:
      return new AetherError(code, message, details, opts);
  }
}

/**
 * Turns anything thrown into an AetherError, keeping code and details when the
 * value already carries them (for example an error body decoded from the wire).
 */
export function toAetherError(value: unknown, fallback: ErrorCode = 'AETHER_E_INTERNAL'): AetherError {
  if (value instanceof AetherError) return value;
  if (value !== null && typeof value === 'object') {
    const v = value as { code?: unknown; message?: unknown; details?: unknown };
    if (isErrorCode(v.code)) {
      const details = v.details !== null && typeof v.details === 'object' ? (v.details as Record<string, unknown>) : {};
      return aetherError(v.code, typeof v.message === 'string' ? v.message : v.code, details, value);
    }
    if (value instanceof Error) return aetherError(fallback, value.message, { name: value.name }, value);
  }
  return aetherError(fallback, String(value));
}

/** Decodes an `ErrorBody` received over a transport into an AetherError. */
export function fromErrorBody(body: ErrorBody): AetherError {
  if (isErrorCode(body.code)) return aetherError(body.code, body.message, body.details ?? {});
  return aetherError('AETHER_E_INTERNAL', body.message, { remoteCode: body.code, ...(body.details ?? {}) });
}

/**
 * gRPC failures -> AetherError. The server puts the catalogue code and the
 * details in trailing metadata (`aether-error-code`, `aether-error-details`);
 * without them the gRPC status decides.
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { aetherError, isErrorCode, type AetherError, type ErrorCode } from '@aether/core';

function firstString(error: ServiceError, key: string): string | undefined {
  const values = error.metadata?.get(key);
  const value = values?.[0];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.toString('utf8');
}

function fallbackCode(grpcCode: GrpcStatus): ErrorCode {
  switch (grpcCode) {
    case GrpcStatus.UNAVAILABLE:
      return 'AETHER_E_UNAVAILABLE';
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 'AETHER_E_TIMEOUT';
    case GrpcStatus.UNAUTHENTICATED:
      return 'AETHER_E_UNAUTHENTICATED';
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'AETHER_E_PAYLOAD_TOO_LARGE';
    default:
      return 'AETHER_E_INTERNAL';
  }
}

/** Converts a failed call's error; `grpcCode` is kept in the details. */
export function fromServiceError(error: ServiceError, method: string): AetherError {
  const code = firstString(error, 'aether-error-code');
  let details: Record<string, unknown> = {};
  const detailsText = firstString(error, 'aether-error-details');
  if (detailsText !== undefined && detailsText !== '') {
    try {
      const parsed = JSON.parse(detailsText) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        details = parsed as Record<string, unknown>;
    } catch {
      details = { raw: detailsText };
    }
  }
  details = { ...details, grpcCode: error.code, method };
  const message = error.details || error.message;
  if (isErrorCode(code)) return aetherError(code, message, details, error);
  if (code !== undefined) details.remoteCode = code;
  const fallback = fallbackCode(error.code);
  const text =
    fallback === 'AETHER_E_UNAVAILABLE'
      ? `Aether server unavailable (${method}): ${message}`
      : message || `${method} failed`;
  return aetherError(fallback, text, details, error);
}

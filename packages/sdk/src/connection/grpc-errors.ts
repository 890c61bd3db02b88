/**
 * gRPC failures -> AetherError. The server puts the catalogue code and the
 * details in trailing metadata (`aether-error-code`, `aether-error-details`);
 * without them the gRPC status decides.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { aetherError, isErrorCode, type AetherError, type ErrorCode } from '@aether/core';

/** What a failed call reported: status code, message and trailing metadata. */
export interface GrpcFailureLike {
  code: number;
  message: string;
  trailer(key: string): string | undefined;
}

function fallbackCode(grpcCode: number): ErrorCode {
  switch (grpcCode as GrpcStatus) {
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

/** Converts a failed call; `grpcCode` and `method` are kept in the details. */
export function fromGrpcFailure(failure: GrpcFailureLike, method: string): AetherError {
  const code = failure.trailer('aether-error-code');
  let details: Record<string, unknown> = {};
  const detailsText = failure.trailer('aether-error-details');
  if (detailsText !== undefined && detailsText !== '') {
    try {
      const parsed = JSON.parse(detailsText) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        details = parsed as Record<string, unknown>;
    } catch {
      details = { raw: detailsText };
    }
  }
  details = { ...details, grpcCode: failure.code, method };
  if (isErrorCode(code)) return aetherError(code, failure.message, details, failure);
  if (code !== undefined) details.remoteCode = code;
  const fallback = fallbackCode(failure.code);
  const text =
    fallback === 'AETHER_E_UNAVAILABLE'
      ? `Aether server unavailable (${method}): ${failure.message}`
      : failure.message || `${method} failed`;
  return aetherError(fallback, text, details, failure);
}

/**
 * What every PostgreSQL-backed store of a node shares: the pool's type
 * parsers (bigint as number) and the mapping of pg and socket errors into the
 * error catalogue, so the workflow store and the function registry report a
 * lost connection or a rejected row the same way.
 */
import { AetherError, aetherError } from '@aether/core';
import pg from 'pg';

const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);

/** Pool type parsers: bigint (timestamps, sizes, versions) as numbers; pg's defaults for the rest. */
export const postgresTypeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID ? parseInt8 : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
};

function pgCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

function isConnectionError(err: unknown): boolean {
  const code = pgCode(err);
  if (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('57P') || code.startsWith('53'))
    return true;
  const message = err instanceof Error ? err.message : '';
  return /connection terminated|timeout expired|connection timeout|not queryable/i.test(message);
}

/**
 * Maps a pg or socket error into the catalogue: AETHER_E_STORE_UNAVAILABLE
 * (while opening, or a lost connection), AETHER_E_INVALID_ARGUMENT (data or
 * constraint errors), else AETHER_E_STORE_FAILED.
 * @param what - the store as named in messages, e.g. "store" or "function store"
 */
export function postgresStoreError(
  err: unknown,
  context: { location: string; opening: boolean; what: string },
): AetherError {
  if (err instanceof AetherError) return err;
  const { location, what } = context;
  const code = pgCode(err);
  const reason = err instanceof Error ? err.message || code || err.name : String(err);
  const details = { location, cause: code || undefined };
  if (context.opening || isConnectionError(err)) {
    return aetherError('AETHER_E_STORE_UNAVAILABLE', `cannot reach PostgreSQL at ${location}: ${reason}`, details, err);
  }
  if (code.startsWith('22') || code.startsWith('23')) {
    return aetherError('AETHER_E_INVALID_ARGUMENT', `rejected by PostgreSQL: ${reason}`, details, err);
  }
  return aetherError('AETHER_E_STORE_FAILED', `PostgreSQL ${what} ${location} failed: ${reason}`, details, err);
}

/**
 * What every PostgreSQL-backed store of a node shares: opening its pool (type
 * parsers with bigint as number, a first connection that sets up the schema)
 * and the mapping of pg and socket errors into the error catalogue, so the
 * workflow store and the function registry connect and report a lost
 * connection or a rejected row the same way.
 */
import { AetherError, aetherError } from '@aether/core';
import pg from 'pg';
import type { PoolClient } from 'pg';

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

/** The URL without its password, safe to log and show. */
export function redactPostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw aetherError('AETHER_E_CONFIG_INVALID', 'the PostgreSQL URL given to --db is not a valid URL', {});
  }
  parsed.password = '';
  parsed.searchParams.delete('password');
  return parsed.toString();
}

/**
 * Opens a pool to `url` and runs `setup` (schema creation or migration) on a
 * first connection; on any failure the pool is ended and the error is
 * AETHER_E_STORE_UNAVAILABLE (or the AetherError `setup` threw).
 */
export async function openPostgresPool(
  url: string,
  options: { maxConnections: number; connectionTimeoutMs: number; onIdleError: (err: Error) => void },
  context: { applicationName: string; what: string; setup: (client: PoolClient, location: string) => Promise<void> },
): Promise<{ pool: pg.Pool; location: string }> {
  const location = redactPostgresUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    application_name: context.applicationName,
    types: postgresTypeParsers,
  });
  pool.on('error', (err) => options.onIdleError(err));
  let client: PoolClient | undefined;
  try {
    client = await pool.connect();
    await context.setup(client, location);
    client.release();
  } catch (err) {
    client?.release(true);
    await pool.end().catch(() => undefined);
    throw postgresStoreError(err, { location, opening: true, what: context.what });
  }
  return { pool, location };
}

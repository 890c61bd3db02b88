/**
 * Keyset paging shared by the stores: workflows are listed newest first by
 * (createdAt desc, id desc) and a cursor is the key of the last item of a page,
 * so pages never skip or repeat rows while new workflows arrive.
 */
import { TerminalError, WORKFLOW_STATES } from '@aether/core';
import type { WorkflowFilter, WorkflowRecord, WorkflowState } from '@aether/core';
import type { StateCounts } from './types.js';

/** Page size when the filter gives none. */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page a listing returns; larger limits are capped. */
export const MAX_PAGE_SIZE = 1000;

/** The position of a workflow in a listing. */
export interface ListKey {
  createdAt: number;
  id: string;
}

/** A validated filter: the page size and the key after which the page starts. */
export interface ResolvedListing {
  type: string | undefined;
  state: WorkflowState | undefined;
  limit: number;
  after: ListKey | undefined;
}

function badFilter(message: string, field: string): TerminalError {
  return new TerminalError('AETHER_E_INVALID_ARGUMENT', message, { field });
}

export function encodeCursor(key: ListKey): string {
  return Buffer.from(JSON.stringify([key.createdAt, key.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): ListKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badFilter('invalid listing cursor', 'cursor');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== 'string'
  ) {
    throw badFilter('invalid listing cursor', 'cursor');
  }
  return { createdAt: parsed[0] as number, id: parsed[1] };
}

/** Fills defaults of a WorkflowFilter and rejects bad values. */
export function resolveListing(filter: WorkflowFilter): ResolvedListing {
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(limit) || limit < 1) throw badFilter(`invalid listing limit ${String(limit)}`, 'limit');
  if (filter.state !== undefined && !(WORKFLOW_STATES as readonly string[]).includes(filter.state)) {
    throw badFilter(`invalid workflow state ${String(filter.state)}`, 'state');
  }
  return {
    type: filter.type,
    state: filter.state,
    limit: Math.min(limit, MAX_PAGE_SIZE),
    after: filter.cursor === undefined || filter.cursor === '' ? undefined : decodeCursor(filter.cursor),
  };
}

/** Ascending order of listing keys (a listing walks it backwards). */
export function compareKeys(a: ListKey, b: ListKey): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The cursor of the page after `items`, when more rows may follow. */
export function nextCursorOf(items: readonly WorkflowRecord[], hasMore: boolean): string | undefined {
  const last = items[items.length - 1];
  return hasMore && last !== undefined ? encodeCursor(last) : undefined;
}

/** A StateCounts with every state at zero. */
export function zeroCounts(): StateCounts {
  return { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 };
}

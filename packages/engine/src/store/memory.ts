/**
 * The memory store: the L0 tier, and the in-memory side of the snapshot tier.
 * Plain Maps; records are copied on the way in and out so callers can never
 * change stored state behind the store's back. A batch is validated and copied
 * completely before anything is written, which makes apply() atomic.
 */
import { isTerminal } from '@aether/core';
import type { ActionRecord, StepRecord, StoredError, WorkflowFilter, WorkflowPage, WorkflowRecord } from '@aether/core';
import { compareKeys, nextCursorOf, resolveListing, zeroCounts, type ListKey } from './listing.js';
import type { ActiveWorkflow, Mutation, StateCounts, WorkflowStore } from './types.js';
import { storeClosed, validateMutation, validateTypeNames } from './validate.js';

function copyError(error: StoredError): StoredError {
  const copy: StoredError = { ...error };
  if (error.details !== undefined) copy.details = structuredClone(error.details);
  return copy;
}

function copyWorkflow(w: WorkflowRecord): WorkflowRecord {
  const copy = { ...w };
  if (w.error !== undefined) copy.error = copyError(w.error);
  return copy;
}

function copyStep(s: StepRecord): StepRecord {
  const copy = { ...s };
  if (s.error !== undefined) copy.error = copyError(s.error);
  return copy;
}

function copyAction(a: ActionRecord): ActionRecord {
  const copy = { ...a };
  if (a.data !== undefined) copy.data = structuredClone(a.data);
  return copy;
}

function bySeq(a: StepRecord, b: StepRecord): number {
  return a.seq - b.seq;
}

/**
 * Creates an empty in-memory WorkflowStore. Nothing survives the process.
 */
export function createMemoryStore(): WorkflowStore {
  const workflows = new Map<string, WorkflowRecord>();
  const steps = new Map<string, Map<string, StepRecord>>();
  const actions = new Map<string, ActionRecord[]>();
  const types = new Set<string>();
  const counts = zeroCounts();
  // Listing keys in ascending (createdAt, id) order. Workflows nearly always
  // arrive in that order, so appending keeps it sorted; anything else marks it
  // dirty and the next listing sorts once.
  const order: ListKey[] = [];
  let orderDirty = false;
  let closed = false;

  function putWorkflow(w: WorkflowRecord): void {
    const old = workflows.get(w.id);
    workflows.set(w.id, w);
    if (old === undefined) {
      const last = order[order.length - 1];
      if (last !== undefined && compareKeys(last, w) > 0) orderDirty = true;
      order.push({ createdAt: w.createdAt, id: w.id });
    } else {
      counts[old.state] -= 1;
      if (old.createdAt !== w.createdAt) orderDirty = true;
    }
    counts[w.state] += 1;
  }

  function sortedOrder(): ListKey[] {
    if (orderDirty) {
      order.length = 0;
      for (const w of workflows.values()) order.push({ createdAt: w.createdAt, id: w.id });
      order.sort(compareKeys);
      orderDirty = false;
    }
    return order;
  }

  /** Index of the first entry whose key is >= `key`. */
  function lowerBound(list: readonly ListKey[], key: ListKey): number {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(list[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function stepsOf(workflowId: string): StepRecord[] {
    const journal = steps.get(workflowId);
    if (journal === undefined) return [];
    const list: StepRecord[] = [];
    for (const s of journal.values()) list.push(copyStep(s));
    return list.sort(bySeq);
  }

  function assertOpen(): void {
    if (closed) throw storeClosed('memory');
  }

  return {
    kind: 'memory',
    location: 'memory',

    apply(batch: readonly Mutation[]): Promise<void> {
      try {
        assertOpen();
        // Phase 1: validate and copy everything; nothing below may throw after it.
        const staged: Mutation[] = [];
        for (const m of batch) {
          validateMutation(m);
          if (m.type === 'workflow.put') staged.push({ type: m.type, workflow: copyWorkflow(m.workflow) });
          else if (m.type === 'step.put') staged.push({ type: m.type, step: copyStep(m.step) });
          else staged.push({ type: m.type, action: copyAction(m.action) });
        }
        // Phase 2: write.
        for (const m of staged) {
          if (m.type === 'workflow.put') {
            putWorkflow(m.workflow);
          } else if (m.type === 'step.put') {
            let journal = steps.get(m.step.workflowId);
            if (journal === undefined) steps.set(m.step.workflowId, (journal = new Map<string, StepRecord>()));
            journal.set(m.step.stepId, m.step);
          } else {
            let log = actions.get(m.action.workflowId);
            if (log === undefined) actions.set(m.action.workflowId, (log = []));
            log.push(m.action);
          }
        }
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },

    getWorkflow(id: string): Promise<WorkflowRecord | undefined> {
      const w = workflows.get(id);
      return Promise.resolve(w === undefined ? undefined : copyWorkflow(w));
    },

    getSteps(workflowId: string): Promise<StepRecord[]> {
      return Promise.resolve(stepsOf(workflowId));
    },

    listWorkflows(filter: WorkflowFilter): Promise<WorkflowPage> {
      try {
        const { type, state, limit, after } = resolveListing(filter);
        const list = sortedOrder();
        const items: WorkflowRecord[] = [];
        let i = (after === undefined ? list.length : lowerBound(list, after)) - 1;
        let hasMore = false;
        for (; i >= 0; i--) {
          const w = workflows.get(list[i]!.id)!;
          if ((type !== undefined && w.type !== type) || (state !== undefined && w.state !== state)) continue;
          if (items.length === limit) {
            hasMore = true;
            break;
          }
          items.push(copyWorkflow(w));
        }
        return Promise.resolve({ items, nextCursor: nextCursorOf(items, hasMore) });
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },

    loadActive(): Promise<ActiveWorkflow[]> {
      const active: ActiveWorkflow[] = [];
      for (const w of workflows.values()) {
        if (!isTerminal(w.state)) active.push({ workflow: copyWorkflow(w), steps: stepsOf(w.id) });
      }
      return Promise.resolve(active);
    },

    listActions(workflowId: string): Promise<ActionRecord[]> {
      return Promise.resolve((actions.get(workflowId) ?? []).map(copyAction));
    },

    countByState(): Promise<StateCounts> {
      return Promise.resolve({ ...counts });
    },

    addWorkflowTypes(list: readonly string[]): Promise<void> {
      try {
        assertOpen();
        validateTypeNames(list);
        for (const t of list) types.add(t);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },

    listWorkflowTypes(): Promise<string[]> {
      return Promise.resolve([...types].sort());
    },

    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}

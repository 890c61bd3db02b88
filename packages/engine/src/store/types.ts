/**
 * The WorkflowStore interface: one contract for the memory, SQLite and
 * PostgreSQL stores, checked by one shared conformance suite. Writes are
 * batches of mutations applied atomically, so a persistence tier can decide
 * when (and how grouped) they reach the disk.
 */
import type { ActionRecord, StepRecord, WorkflowFilter, WorkflowPage, WorkflowRecord } from '@aether/core';

/** One change of stored state. A batch of them is applied in one transaction. */
export type Mutation =
  /** Insert or replace a workflow row (the whole row). */
  | { type: 'workflow.put'; workflow: WorkflowRecord }
  /** Insert or replace one journal entry, keyed by (workflowId, stepId). */
  | { type: 'step.put'; step: StepRecord }
  /** Append one line to the action log. */
  | { type: 'action.append'; action: ActionRecord };

/** A workflow that is not terminal, with its journal, as loaded at start-up. */
export interface ActiveWorkflow {
  workflow: WorkflowRecord;
  steps: StepRecord[];
}

/** Counts of workflows by state, for metrics. */
export type StateCounts = Record<WorkflowRecord['state'], number>;

/** Which backend a store is. */
export type StoreKind = 'memory' | 'sqlite' | 'postgres';

/** Persistent storage of workflows, journals, action log and known types. */
export interface WorkflowStore {
  readonly kind: StoreKind;
  /** Human-readable location (file path or URL without password). */
  readonly location: string;

  /**
   * Applies a batch atomically: all mutations or none. Resolves once the batch
   * is durable as far as this store's durability goes.
   */
  apply(batch: readonly Mutation[]): Promise<void>;

  getWorkflow(id: string): Promise<WorkflowRecord | undefined>;
  /** The journal of a workflow ordered by `seq`. */
  getSteps(workflowId: string): Promise<StepRecord[]>;
  /** Newest first (by createdAt, then id); `cursor` continues a listing. */
  listWorkflows(filter: WorkflowFilter): Promise<WorkflowPage>;
  /** Every non-terminal workflow with its journal. */
  loadActive(): Promise<ActiveWorkflow[]>;
  /** Action log lines of a workflow, oldest first. */
  listActions(workflowId: string): Promise<ActionRecord[]>;
  countByState(): Promise<StateCounts>;

  /** Remembers workflow types registered by workers (survives restarts). */
  addWorkflowTypes(types: readonly string[]): Promise<void>;
  listWorkflowTypes(): Promise<string[]>;

  close(): Promise<void>;
}

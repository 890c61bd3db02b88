/**
 * The Connection interface: everything the client and the worker need from an
 * Aether engine. Two implementations: gRPC (a remote `aether serve`) and
 * embedded (an engine in this process). The task and command shapes live in
 * @aether/core (notes/engine-protocol.md), shared with the engine.
 */
import type {
  CommandResult,
  StepRecord,
  StoredError,
  WorkerCommand,
  WorkerTask,
  WorkflowFilter,
  WorkflowState,
} from '@aether/core';

export type { CommandResult, WorkerCommand, WorkerTask };

export interface StartRequest {
  type: string;
  /** JSON text of the argument array. */
  input: string;
  /** Idempotency key (the SDK always sends one). */
  workflowId: string;
  /** When > 0, the server also waits up to this long for the outcome (one round trip). */
  waitMs?: number | undefined;
}

export interface StartResponse {
  workflowId: string;
  alreadyStarted: boolean;
  state: WorkflowState;
  /** With `waitMs`: the outcome, or the current state when the wait ran out. */
  outcome?: Outcome | undefined;
}

/** A workflow's outcome, or its current state when an await timed out. */
export interface Outcome {
  workflowId: string;
  state: WorkflowState;
  /** JSON text of the result (COMPLETED). */
  result?: string | undefined;
  error?: StoredError | undefined;
}

/** A workflow as `getStatus` describes it (payloads still JSON text). */
export interface WorkflowDescription {
  workflowId: string;
  workflowType: string;
  state: WorkflowState;
  input: string;
  result?: string | undefined;
  error?: StoredError | undefined;
  createdAt: number;
  updatedAt: number;
  wakeAt?: number | undefined;
  parentWorkflowId?: string | undefined;
  attempts: number;
  steps?: StepRecord[] | undefined;
}

/** One row of a workflow listing. */
export interface WorkflowSummaryRecord {
  workflowId: string;
  workflowType: string;
  state: WorkflowState;
  createdAt: number;
  updatedAt: number;
  parentWorkflowId?: string | undefined;
}

/** Options of `connection.connectWorker`. */
export interface WorkerLinkOptions {
  workerId: string;
  workflowTypes: readonly string[];
  maxConcurrency: number;
  /** Called for every task pushed to the worker. */
  onTask: (task: WorkerTask) => void;
  /**
   * Called when the link lost every run it held (stream broken, server
   * restarted, engine dropped the worker). The link reconnects by itself.
   */
  onReset: (reason: string) => void;
  /** Reports trouble the link recovers from by itself but a user should hear of (a refused re-registration). */
  warn?: ((message: string, error?: unknown) => void) | undefined;
}

/** A registered worker's side of a connection. */
export interface WorkerLink {
  /** How often to heartbeat (may change when the link re-registers). */
  readonly heartbeatIntervalMs: number;
  /** The engine's payload limit in bytes (0 = unknown). */
  readonly maxPayloadBytes: number;
  command(workflowId: string, leaseToken: string, command: WorkerCommand): Promise<CommandResult>;
  /** Renews the leases of `workflowIds`; resolves with the ids to abort. */
  heartbeat(workflowIds: readonly string[]): Promise<string[]>;
  /** Unregisters: every run still held goes back to the engine. */
  close(): Promise<void>;
}

/** What both modes (gRPC and embedded) implement. */
export interface Connection {
  /** `grpc` or `embedded`, for diagnostics. */
  readonly mode: 'grpc' | 'embedded';
  startWorkflow(request: StartRequest): Promise<StartResponse>;
  getStatus(workflowId: string, includeSteps: boolean): Promise<WorkflowDescription>;
  /**
   * Resolves when the workflow ends, or with its current (non-terminal) state
   * once `timeoutMs` passed (0 = no limit).
   */
  awaitResult(workflowId: string, timeoutMs: number): Promise<Outcome>;
  cancel(workflowId: string, reason: string): Promise<{ workflowId: string; state: WorkflowState }>;
  listWorkflows(filter: WorkflowFilter): Promise<WorkflowSummaryRecord[]>;
  /** Registers a worker; resolves once the engine knows its workflow types. */
  connectWorker(options: WorkerLinkOptions): Promise<WorkerLink>;
  /** Closes channels / stops the embedded engine. */
  close(): Promise<void>;
}

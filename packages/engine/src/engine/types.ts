/**
 * The engine's public surface: what the gRPC/HTTP servers and the SDK's
 * embedded mode call. Workers talk to it through `WorkerSession`s; clients
 * through start/status/await/cancel/list.
 */
import type {
  ActionRecord,
  CommandResult,
  WorkerCommand,
  WorkerTask,
  StepKind,
  StepRecord,
  StoredError,
  WorkflowFilter,
  WorkflowPage,
  WorkflowRecord,
  WorkflowState,
} from '@aether/core';

/** Persistence tiers of seed 003. */
export type PersistenceMode = 'memory' | 'snapshot' | 'state-action-log';

/** A connected worker. Created by `engine.connectWorker`. */
export interface WorkerSession {
  readonly workerId: string;
  /** Lease length and the heartbeat interval the worker should keep. */
  readonly leaseMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxPayloadBytes: number;
  /** Records a step, a timer, a child start, the workflow's end, or a suspension. */
  command(workflowId: string, leaseToken: string, command: WorkerCommand): Promise<CommandResult>;
  /** Renews the leases of the given workflows; returns those to abort. */
  heartbeat(workflowIds: readonly string[]): string[];
  /** Disconnects: every workflow this worker holds goes back to the queue. */
  close(): void;
}

/** Options of `engine.connectWorker`. */
export interface ConnectWorkerOptions {
  workerId: string;
  workflowTypes: readonly string[];
  /** Workflows run at once by this worker (default 100). */
  maxConcurrency?: number | undefined;
  /** Called for every task; must not throw. */
  onTask: (task: WorkerTask) => void;
  /** Called when the engine drops the worker (lease expired, engine stopping). */
  onClose?: ((reason: string) => void) | undefined;
}

/** Options of `engine.start`. */
export interface StartOptions {
  type: string;
  /** JSON text of the argument array. */
  input: string;
  /** Idempotency key: starting an existing id returns it. */
  workflowId?: string | undefined;
}

export interface StartResult {
  workflowId: string;
  alreadyStarted: boolean;
  state: WorkflowState;
}

/** A finished workflow's outcome. */
export interface WorkflowOutcome {
  workflowId: string;
  state: WorkflowState;
  result?: string | undefined;
  error?: StoredError | undefined;
}

/** Engine counters for metrics. */
export interface EngineMetrics {
  workflowsStarted: number;
  workflowsCompleted: number;
  workflowsFailed: number;
  workflowsCancelled: number;
  stepsCompleted: number;
  activeWorkers: number;
  byState: Record<WorkflowState, number>;
  persistence: PersistenceMode;
  store: string;
}

/** Events the engine emits for metrics, logs and the dashboard. */
export type EngineEvent =
  | { type: 'workflow.started'; workflow: WorkflowRecord }
  | { type: 'workflow.state'; workflow: WorkflowRecord }
  | { type: 'step.recorded'; step: StepRecord; durationMs: number }
  | { type: 'worker.connected'; workerId: string }
  | { type: 'worker.disconnected'; workerId: string };

/** The durable workflow engine. */
export interface Engine {
  readonly persistence: PersistenceMode;
  /** Lease, heartbeat and payload limits workers must follow. */
  readonly limits: { leaseMs: number; heartbeatIntervalMs: number; maxPayloadBytes: number };
  /** Loads active workflows and timers from the store; call once before use. */
  start(): Promise<void>;
  /** Stops timers and flushes pending snapshots; does not close the store. */
  stop(): Promise<void>;

  startWorkflow(options: StartOptions): Promise<StartResult>;
  getWorkflow(id: string): Promise<WorkflowRecord>;
  getSteps(id: string): Promise<StepRecord[]>;
  getActions(id: string): Promise<ActionRecord[]>;
  listWorkflows(filter: WorkflowFilter): Promise<WorkflowPage>;
  /** Resolves when the workflow ends, or with its current state after `timeoutMs`. */
  awaitResult(id: string, timeoutMs?: number): Promise<WorkflowOutcome>;
  cancel(id: string, reason?: string): Promise<WorkflowRecord>;
  /** Whether some worker registered this type (now or before a restart). */
  knowsType(type: string): boolean;
  /**
   * Makes workflow types startable before their worker's task stream is up
   * (a worker's Register): startWorkflow then queues them instead of refusing.
   */
  declareTypes(types: readonly string[]): void;

  connectWorker(options: ConnectWorkerOptions): WorkerSession;
  metrics(): Promise<EngineMetrics>;
  /** Subscribes to engine events; returns the unsubscribe function. */
  subscribe(listener: (event: EngineEvent) => void): () => void;
}

export type { CommandResult, StepKind, WorkerCommand, WorkerTask };

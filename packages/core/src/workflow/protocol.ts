/**
 * The engine <-> worker protocol types (notes/engine-protocol.md): tasks the
 * engine pushes to a worker and commands a worker sends back. Shared by the
 * engine, the gRPC server and the SDK, which must not import the engine.
 */
import type { StepRecord, StoredError } from './types.js';

/** A task pushed to a worker. */
export type WorkerTask =
  | {
      kind: 'run';
      workflowId: string;
      workflowType: string;
      /** JSON text of the argument array. */
      input: string;
      /** Fencing token: every command about this run carries it. */
      leaseToken: string;
      attempt: number;
      /** Recorded journal entries, in `seq` order. */
      journal: StepRecord[];
    }
  | { kind: 'cancel'; workflowId: string; leaseToken: string; reason: string };

/** What a worker records or asks for while it runs a workflow. */
export type WorkerCommand =
  | {
      kind: 'step' | 'activity' | 'invoke';
      stepId: string;
      name: string;
      status: 'completed' | 'failed';
      /** JSON text of the result (completed); `undefined` is the empty string. */
      result?: string | undefined;
      error?: StoredError | undefined;
      attempts: number;
      startedAt: number;
    }
  | { kind: 'sleep'; stepId: string; name: string; durationMs: number }
  | { kind: 'child'; stepId: string; name: string; childType: string; childInput: string }
  | { kind: 'workflow_completed'; result: string }
  | { kind: 'workflow_failed'; error: StoredError }
  | { kind: 'suspend' };

/** The engine's answer to a command. */
export interface CommandResult {
  /** The journal entry as recorded (the first one wins for a duplicate stepId). */
  step?: StepRecord | undefined;
  /** The workflow was cancelled meanwhile: stop running it. */
  cancelled: boolean;
}

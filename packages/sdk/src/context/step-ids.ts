/**
 * Deterministic step ids (notes/engine-protocol.md): top-level ctx calls are
 * numbered 0, 1, 2...; `ctx.parallel` takes one position `p` and runs branch
 * `i` with the prefix `p.i/` and its own counter. The branch a call belongs to
 * is found through AsyncLocalStorage, so ids do not depend on the order in
 * which branches happen to make progress.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Execution } from '../worker/execution.js';

/** A counter of ctx calls under one prefix (the workflow body or one branch). */
export class StepScope {
  private counter = 0;
  constructor(readonly prefix: string) {}

  /** The id of the next ctx call in this scope. */
  next(): string {
    return this.prefix + String(this.counter++);
  }

  /** The scope of branch `index` of a parallel that took the id `position`. */
  static branch(position: string, index: number): StepScope {
    return new StepScope(`${position}.${index}/`);
  }
}

/**
 * What AsyncLocalStorage carries through workflow code: the run it belongs to
 * and the scope that numbers its ctx calls. `scope` is null inside a step or
 * activity body, where ctx calls are not allowed and `startAndWait` is a plain
 * client call.
 */
export interface WorkflowFrame {
  readonly run: Execution;
  readonly scope: StepScope | null;
}

/** The one AsyncLocalStorage of the SDK. */
export const workflowStorage = new AsyncLocalStorage<WorkflowFrame>();

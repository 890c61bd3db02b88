/**
 * Connected workers and the run queue: which worker may take which workflow
 * type, how many it runs at once, and round-robin hand-out of queued runs.
 */
import type { WorkerTask } from './types.js';

/** A connected worker as the engine tracks it. */
export interface WorkerState {
  readonly id: string;
  readonly types: ReadonlySet<string>;
  readonly max: number;
  /** Workflow ids this worker holds a lease on. */
  readonly running: Set<string>;
  readonly onTask: (task: WorkerTask) => void;
  readonly onClose: ((reason: string) => void) | undefined;
  lastSeen: number;
  closed: boolean;
}

/** FIFO of runnable workflow ids per type, and the workers serving each type. */
export class WorkerPool {
  private readonly queues = new Map<string, { items: string[]; head: number }>();
  private readonly byType = new Map<string, WorkerState[]>();
  private readonly rr = new Map<string, number>();
  readonly workers = new Map<string, WorkerState>();

  add(worker: WorkerState): void {
    this.workers.set(worker.id, worker);
    for (const t of worker.types) {
      const list = this.byType.get(t) ?? [];
      list.push(worker);
      this.byType.set(t, list);
    }
  }

  remove(worker: WorkerState): void {
    if (this.workers.get(worker.id) === worker) this.workers.delete(worker.id);
    for (const t of worker.types) {
      const list = this.byType.get(t);
      if (!list) continue;
      const i = list.indexOf(worker);
      if (i >= 0) list.splice(i, 1);
    }
  }

  enqueue(type: string, workflowId: string): void {
    let q = this.queues.get(type);
    if (!q) {
      q = { items: [], head: 0 };
      this.queues.set(type, q);
    }
    q.items.push(workflowId);
  }

  queued(type: string): number {
    const q = this.queues.get(type);
    return q ? q.items.length - q.head : 0;
  }

  /** The next queued id of `type`, if any. */
  shift(type: string): string | undefined {
    const q = this.queues.get(type);
    if (!q || q.head >= q.items.length) return undefined;
    const id = q.items[q.head++];
    if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    return id;
  }

  /** A worker of `type` with a free slot, round-robin; undefined when all are busy. */
  pickWorker(type: string): WorkerState | undefined {
    const list = this.byType.get(type);
    if (!list || list.length === 0) return undefined;
    const start = this.rr.get(type) ?? 0;
    for (let k = 0; k < list.length; k++) {
      const i = (start + k) % list.length;
      const w = list[i]!;
      if (!w.closed && w.running.size < w.max) {
        this.rr.set(type, i + 1);
        return w;
      }
    }
    return undefined;
  }

  hasWorkerFor(type: string): boolean {
    return (this.byType.get(type)?.length ?? 0) > 0;
  }
}

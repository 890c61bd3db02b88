/**
 * Durable timers in memory: the engine loads every waiting sleep from the store
 * at start-up and keeps them here; one clock timeout is armed for the earliest.
 */
import type { Clock } from './options.js';

interface Entry {
  at: number;
  workflowId: string;
  stepId: string;
}

/** A min-heap of timers with one armed clock timeout. */
export class TimerQueue {
  private heap: Entry[] = [];
  private armedAt = Infinity;
  private handle: unknown;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (workflowId: string, stepId: string) => void,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(workflowId: string, stepId: string, at: number): void {
    this.push({ at, workflowId, stepId });
    this.arm();
  }

  /** Drops every timer of a workflow (cancelled or ended). */
  removeWorkflow(workflowId: string): void {
    const before = this.heap.length;
    this.heap = this.heap.filter((e) => e.workflowId !== workflowId);
    if (this.heap.length !== before) this.heapify();
  }

  stop(): void {
    this.stopped = true;
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    const first = this.heap[0];
    if (!first || first.at >= this.armedAt) return;
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.armedAt = first.at;
    this.handle = this.clock.setTimeout(() => this.onTimeout(), Math.max(0, first.at - this.clock.now()));
  }

  private onTimeout(): void {
    this.handle = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    const due: Entry[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at <= now) due.push(this.pop()!);
    this.arm();
    for (const e of due) this.fire(e.workflowId, e.stepId);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.at < h[m]!.at) m = l;
      if (r < h.length && h[r]!.at < h[m]!.at) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }

  private heapify(): void {
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.armedAt = Infinity;
    this.arm();
  }
}

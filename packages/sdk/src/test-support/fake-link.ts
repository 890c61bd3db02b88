/**
 * Test doubles: a WorkerLink that records every command and answers as an
 * engine would (steps recorded, sleeps and children waiting), and a harness
 * that runs one Execution over it. Not part of the build.
 */
import type { StepRecord } from '@aether/core';
import type { CommandResult, WorkerCommand, WorkerLink, WorkerTask } from '../connection/types.js';
import { Execution, type RunHost, type WorkflowFunction } from '../worker/execution.js';

export interface SentCommand {
  workflowId: string;
  leaseToken: string;
  command: WorkerCommand;
}

/** How the fake answers one command: a result, or an error to throw. */
export type Responder = (command: WorkerCommand, sent: SentCommand[]) => CommandResult | Error | undefined;

export class FakeLink implements WorkerLink {
  heartbeatIntervalMs = 1000;
  maxPayloadBytes = 0;
  readonly sent: SentCommand[] = [];
  /** Tried before the default answer; return undefined to fall through. */
  responder: Responder | undefined;
  private seq = 0;
  private readonly waiters: { predicate: (c: WorkerCommand) => boolean; resolve: (c: WorkerCommand) => void }[] = [];

  command(workflowId: string, leaseToken: string, command: WorkerCommand): Promise<CommandResult> {
    this.sent.push({ workflowId, leaseToken, command });
    for (const w of [...this.waiters]) {
      if (w.predicate(command)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(command);
      }
    }
    const custom = this.responder?.(command, this.sent);
    if (custom instanceof Error) return Promise.reject(custom);
    if (custom !== undefined) return Promise.resolve(custom);
    return Promise.resolve(this.defaultAnswer(workflowId, command));
  }

  private defaultAnswer(workflowId: string, command: WorkerCommand): CommandResult {
    const base = { workflowId, seq: this.seq++, attempts: 1, startedAt: 0 };
    switch (command.kind) {
      case 'step':
      case 'activity':
      case 'invoke':
        return {
          cancelled: false,
          step: {
            ...base,
            stepId: command.stepId,
            name: command.name,
            kind: command.kind,
            status: command.status,
            result: command.status === 'completed' ? (command.result ?? '') : undefined,
            error: command.error,
            attempts: command.attempts,
          },
        };
      case 'sleep':
        return {
          cancelled: false,
          step: {
            ...base,
            stepId: command.stepId,
            name: command.name,
            kind: 'sleep',
            status: 'waiting',
            wakeAt: command.durationMs,
          },
        };
      case 'child':
        return {
          cancelled: false,
          step: {
            ...base,
            stepId: command.stepId,
            name: command.name,
            kind: 'child',
            status: 'waiting',
            childId: `${workflowId}/${command.stepId}`,
          },
        };
      default:
        return { cancelled: false };
    }
  }

  heartbeat(): Promise<string[]> {
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Commands sent so far, without workflow id and token. */
  get commands(): WorkerCommand[] {
    return this.sent.map((s) => s.command);
  }

  /** Resolves with the next command matching `predicate` (or one already sent). */
  next(predicate: (c: WorkerCommand) => boolean): Promise<WorkerCommand> {
    const already = this.sent.find((s) => predicate(s.command));
    if (already) return Promise.resolve(already.command);
    return new Promise((resolve) => this.waiters.push({ predicate, resolve }));
  }
}

/** Journal entry helpers. */
export function completed(stepId: string, name: string, value: unknown, kind: StepRecord['kind'] = 'step'): StepRecord {
  return {
    workflowId: 'wf-1',
    stepId,
    name,
    kind,
    status: 'completed',
    seq: 0,
    result: value === undefined ? '' : JSON.stringify(value),
    attempts: 1,
    startedAt: 0,
  };
}

export function failed(
  stepId: string,
  name: string,
  error: { code: string; message: string; name?: string },
): StepRecord {
  return { workflowId: 'wf-1', stepId, name, kind: 'step', status: 'failed', seq: 0, error, attempts: 1, startedAt: 0 };
}

export function waiting(stepId: string, name: string, kind: 'sleep' | 'child'): StepRecord {
  return { workflowId: 'wf-1', stepId, name, kind, status: 'waiting', seq: 0, attempts: 1, startedAt: 0 };
}

/** Runs one workflow function as a run task over a FakeLink. */
export class Harness implements RunHost {
  readonly link = new FakeLink();
  readonly warnings: { message: string; error: unknown }[] = [];
  run!: Execution;
  private finishedResolve!: () => void;
  /** Resolves when the run ended locally (completed, failed, suspended, dropped). */
  readonly finishedRun = new Promise<void>((resolve) => (this.finishedResolve = resolve));

  finished(): void {
    this.finishedResolve();
  }

  warn(message: string, error?: unknown): void {
    this.warnings.push({ message, error });
  }

  start(
    fn: WorkflowFunction,
    options: { input?: unknown[]; journal?: StepRecord[]; attempt?: number } = {},
  ): Execution {
    const task: Extract<WorkerTask, { kind: 'run' }> = {
      kind: 'run',
      workflowId: 'wf-1',
      workflowType: 'test-workflow',
      input: JSON.stringify(options.input ?? []),
      leaseToken: 'lease-1',
      attempt: options.attempt ?? 1,
      journal: options.journal ?? [],
    };
    this.run = new Execution(task, this);
    this.run.start(fn, task.input);
    return this.run;
  }

  /** The run's last command (completed / failed / suspend), once the run ended. */
  async outcome(): Promise<WorkerCommand> {
    await this.finishedRun;
    return this.link.commands[this.link.commands.length - 1]!;
  }

  /** Step-like commands sent (not the final one). */
  get recorded(): WorkerCommand[] {
    return this.link.commands.filter((c) => 'stepId' in c);
  }
}

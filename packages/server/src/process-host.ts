/**
 * The process-function half of a node: seed 000's orchestrator, created with
 * the node (`aether up` deploys its file into it, `aether deploy` later), with handler output
 * sent to the terminal (`up --foreground`) or the log.
 */
import {
  createOrchestrator,
  type DeployResult,
  type FunctionContext,
  type Orchestrator,
  type OrchestratorStatus,
} from '@aether/functions';
import type { ResolvedFunctionsFile } from '@aether/core';
import type { Logger } from 'pino';

/** The node's process functions. */
export interface ProcessHost {
  /** Applies a functions file (paths already absolute). */
  deploy(file: ResolvedFunctionsFile, fileName: string): Promise<DeployResult>;
  status(): OrchestratorStatus;
  /** Resolves once instances can cold-start at full speed. */
  ready(): Promise<void>;
  /** How instances start on this node, shared with node functions. */
  readonly context: FunctionContext;
  close(): Promise<void>;
}

/** Options of createProcessHost. */
export interface ProcessHostOptions {
  /** Address trigger ports bind to (the node's host). */
  host: string;
  logger: Logger;
  /** Each line a handler writes; default: logged at info with the function id. */
  onOutput?: ((functionId: string, line: string, stream: 'stdout' | 'stderr') => void) | undefined;
}

/** Creates the host and its orchestrator (no functions yet). */
export function createProcessHost(options: ProcessHostOptions): ProcessHost {
  let orchestrator: Orchestrator | null = null;
  const log = options.logger.child({ component: 'orchestrator' });
  const get = (): Orchestrator =>
    (orchestrator ??= createOrchestrator({
      host: options.host,
      logger: log,
      onOutput: options.onOutput ?? ((id, line, stream) => log.info({ function: id, stream }, line)),
    }));
  // Created now, so its launch stubs are in their cgroups before the first deploy.
  get();
  return {
    context: get().context,
    ready: () => get().ready(),
    deploy: (file, fileName) => get().deploy(file, fileName),
    status: () => get().status(),
    async close() {
      await orchestrator?.close();
    },
  };
}

/**
 * The process-function half of a node: seed 000's orchestrator, created on
 * first use (so `aether serve` pays nothing until a functions file is
 * deployed, and `aether up` starts it with its file), with handler output
 * sent to the terminal (`up --foreground`) or the log.
 */
import { createOrchestrator, type DeployResult, type Orchestrator, type OrchestratorStatus } from '@aether/functions';
import type { ResolvedFunctionsFile } from '@aether/core';
import type { Logger } from 'pino';

/** The node's process functions. */
export interface ProcessHost {
  /** Applies a functions file (paths already absolute). */
  deploy(file: ResolvedFunctionsFile, fileName: string): Promise<DeployResult>;
  status(): OrchestratorStatus;
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

/** Creates the host; the orchestrator itself starts on the first call. */
export function createProcessHost(options: ProcessHostOptions): ProcessHost {
  let orchestrator: Orchestrator | null = null;
  const log = options.logger.child({ component: 'orchestrator' });
  const get = (): Orchestrator =>
    (orchestrator ??= createOrchestrator({
      host: options.host,
      logger: log,
      onOutput: options.onOutput ?? ((id, line, stream) => log.info({ function: id, stream }, line)),
    }));
  return {
    deploy: (file, fileName) => get().deploy(file, fileName),
    status: () => get().status(),
    async close() {
      await orchestrator?.close();
    },
  };
}

/**
 * The process-function half of a node: seed 000's orchestrator, created with
 * the node (`aether up` deploys its file into it, `aether deploy` later), with handler output
 * sent to the terminal (`up --foreground`) or the log.
 */
import { createOrchestrator, type Orchestrator } from '@aether/functions';
import type { Logger } from 'pino';

/** The node's process functions: the parts of its orchestrator the node uses. */
export type ProcessHost = Pick<Orchestrator, 'deploy' | 'status' | 'ready' | 'close' | 'context'>;

/** Options of createProcessHost. */
export interface ProcessHostOptions {
  /** Address trigger ports bind to (the node's host). */
  host: string;
  logger: Logger;
  /** Each line a handler writes; default: logged at info with the function id. */
  onOutput?: ((functionId: string, line: string, stream: 'stdout' | 'stderr') => void) | undefined;
}

/**
 * Creates the node's orchestrator (no functions yet) now, so its launch stubs sit in
 * their cgroups before the first deploy; handler output defaults to the log.
 */
export function createProcessHost(options: ProcessHostOptions): ProcessHost {
  const log = options.logger.child({ component: 'orchestrator' });
  return createOrchestrator({
    host: options.host,
    logger: log,
    onOutput: options.onOutput ?? ((id, line, stream) => log.info({ function: id, stream }, line)),
  });
}

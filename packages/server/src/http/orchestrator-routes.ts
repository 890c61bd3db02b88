/**
 * Routes of seed 000's orchestrator on the node's HTTP API: its status
 * (`aether list`, `aether stats`), hot-loading a functions file (`aether
 * deploy`) and stopping the node (`aether down`).
 */
import path from 'node:path';
import { aetherError } from '@aether/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { loadFunctionsFile } from '../config/functions-file.js';
import { parseBody } from './errors.js';
import type { ProcessHost } from '../process-host.js';

const deployBody = z.strictObject({
  /** Absolute path of the file on the node's machine: relative handler paths are resolved from its directory. */
  file: z
    .string()
    .min(1)
    .refine((f) => path.isAbsolute(f), 'must be an absolute path'),
  /** The file's YAML text. */
  text: z.string(),
});

/** What the orchestrator routes need. */
export interface OrchestratorRoutesOptions {
  processes: ProcessHost;
  /** Called after `POST /api/shutdown` has been answered. */
  onShutdown?: (() => void) | undefined;
}

export function registerOrchestratorRoutes(app: FastifyInstance, options: OrchestratorRoutesOptions): void {
  const { processes } = options;
  app.get('/api/orchestrator', () => processes.status());

  app.post('/api/orchestrator/deploy', async (request, reply) => {
    const { file, text } = parseBody(
      deployBody,
      request.body,
      'deploy body',
      'AETHER_E_INVALID_ARGUMENT',
      '{"file": "/abs/path.yaml", "text": "..."}',
    );
    const functionsFile = loadFunctionsFile(text, path.basename(file), file);
    const result = await processes.deploy(functionsFile, file);
    return reply.code(200).send({ ...result, status: processes.status() });
  });

  app.post('/api/shutdown', async (_request, reply) => {
    if (options.onShutdown === undefined) {
      throw aetherError('AETHER_E_INVALID_ARGUMENT', 'this node cannot be stopped over HTTP');
    }
    reply.raw.once('finish', () => options.onShutdown?.());
    return reply.code(202).send({ status: 'stopping' });
  });
}

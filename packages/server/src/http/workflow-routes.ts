/**
 * The workflow routes of the HTTP API (DESIGN.md 4.4): list, detail with the
 * journal and action log, cancel, and start (handy for curl).
 */
import { WORKFLOW_STATES, aetherError, isWorkflowState, type WorkflowFilter } from '@aether/core';
import type { Engine } from '@aether/engine';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actionToJson, stepToJson, workflowToJson, type WorkflowDetailJson } from './serialize.js';

/** Largest page of `GET /api/workflows`. */
const MAX_LIMIT = 1000;

function queryString(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', `query parameter "${name}" must be given once`);
  }
  return value;
}

/** Reads and checks the query of `GET /api/workflows`. */
export function parseListQuery(query: Record<string, unknown>): WorkflowFilter {
  const filter: WorkflowFilter = {};
  const type = queryString(query, 'type');
  if (type !== undefined) filter.type = type;
  const state = queryString(query, 'state')?.toUpperCase();
  if (state !== undefined) {
    if (!isWorkflowState(state)) {
      throw aetherError(
        'AETHER_E_INVALID_ARGUMENT',
        `unknown state "${state}": expected one of ${WORKFLOW_STATES.join(', ')}`,
        { state },
      );
    }
    filter.state = state;
  }
  const cursor = queryString(query, 'cursor');
  if (cursor !== undefined) filter.cursor = cursor;
  const limit = queryString(query, 'limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (!/^\d+$/.test(limit) || n < 1 || n > MAX_LIMIT) {
      throw aetherError('AETHER_E_INVALID_ARGUMENT', `limit must be a whole number from 1 to ${MAX_LIMIT}`, {
        limit,
      });
    }
    filter.limit = n;
  }
  return filter;
}

/** Body of `POST /api/workflows`. */
interface StartBody {
  type: string;
  input: unknown[];
  workflowId?: string | undefined;
}

function parseStartBody(body: unknown): StartBody {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', 'the body must be a JSON object {type, input, workflow_id?}');
  }
  const b = body as Record<string, unknown>;
  const known = new Set(['type', 'input', 'workflow_id']);
  const unknown = Object.keys(b).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw aetherError(
      'AETHER_E_INVALID_ARGUMENT',
      `unknown field(s) ${unknown.join(', ')}: expected type, input, workflow_id`,
    );
  }
  if (typeof b.type !== 'string' || b.type.length === 0) {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', '"type" must be a non-empty string');
  }
  const input = b.input === undefined ? [] : b.input;
  if (!Array.isArray(input)) {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', '"input" must be the array of the workflow\'s arguments');
  }
  if (b.workflow_id !== undefined && (typeof b.workflow_id !== 'string' || b.workflow_id.length === 0)) {
    throw aetherError('AETHER_E_INVALID_ARGUMENT', '"workflow_id" must be a non-empty string');
  }
  return { type: b.type, input, workflowId: b.workflow_id };
}

/** The workflow with its journal and action log. */
async function workflowDetail(engine: Engine, id: string): Promise<WorkflowDetailJson> {
  const workflow = await engine.getWorkflow(id);
  const [steps, actions] = await Promise.all([engine.getSteps(id), engine.getActions(id)]);
  return { ...workflowToJson(workflow), steps: steps.map(stepToJson), actions: actions.map(actionToJson) };
}

async function cancelWorkflow(engine: Engine, id: string): Promise<unknown> {
  const workflow = await engine.cancel(id, 'cancelled through the HTTP API');
  return workflowToJson(workflow);
}

/** Registers the `/api/workflows` routes on a fastify app. */
export function registerWorkflowRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/api/workflows', async (request: FastifyRequest) => {
    const page = await engine.listWorkflows(parseListQuery(request.query as Record<string, unknown>));
    const now = Date.now();
    return { workflows: page.items.map((w) => workflowToJson(w, now)), next_cursor: page.nextCursor ?? null };
  });

  app.post('/api/workflows', async (request: FastifyRequest, reply: FastifyReply) => {
    const body = parseStartBody(request.body);
    const started = await engine.startWorkflow({
      type: body.type,
      input: JSON.stringify(body.input),
      workflowId: body.workflowId,
    });
    return reply
      .status(started.alreadyStarted ? 200 : 201)
      .send({ workflow_id: started.workflowId, already_started: started.alreadyStarted, state: started.state });
  });

  // Workflow ids may contain "/" (child workflows are "<parent>/<step>"): clients
  // should percent-encode them, and the wildcard routes accept them raw too.
  app.get('/api/workflows/:id', async (request: FastifyRequest<{ Params: { id: string } }>) =>
    workflowDetail(engine, request.params.id),
  );
  app.get('/api/workflows/*', async (request: FastifyRequest<{ Params: { '*': string } }>) =>
    workflowDetail(engine, request.params['*']),
  );
  app.post('/api/workflows/:id/cancel', async (request: FastifyRequest<{ Params: { id: string } }>) =>
    cancelWorkflow(engine, request.params.id),
  );
  app.post('/api/workflows/*', async (request: FastifyRequest<{ Params: { '*': string } }>) => {
    const rest = request.params['*'];
    if (!rest.endsWith('/cancel')) {
      throw aetherError('AETHER_E_NOT_FOUND', `no route POST ${request.url.split('?')[0] ?? request.url}`);
    }
    return cancelWorkflow(engine, rest.slice(0, -'/cancel'.length));
  });
}

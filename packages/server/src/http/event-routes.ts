/**
 * `GET /api/events` (DESIGN.md 4.4): the engine's events as server-sent
 * events, for the dashboard's live views.
 *
 *   event: workflow   data: the workflow as GET /api/workflows/{id} shows it (started, every state change)
 *   event: step       data: {workflow_id, duration_ms, step} (each journal entry recorded)
 *   event: worker     data: {worker_id, connected}
 *
 * `?workflow=<id>` keeps one workflow's events. A comment line every 15 s
 * keeps proxies from closing a quiet stream. A client that stops reading
 * (more than 1 MiB waiting) is disconnected rather than buffered without
 * bound; EventSource reconnects by itself (`retry: 2000`). There is no
 * replay: after a reconnect, clients read the state they show again.
 */
import type { Engine, EngineEvent } from '@aether/engine';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { stepToJson, workflowToJson } from './serialize.js';

const HEARTBEAT_MS = 15_000;
const MAX_BUFFERED = 1024 * 1024;

/** One SSE frame of an engine event, or null when `only` filters it out. */
export function eventFrame(event: EngineEvent, only?: string): string | null {
  let name: string;
  let data: unknown;
  switch (event.type) {
    case 'workflow.started':
    case 'workflow.state':
      if (only !== undefined && event.workflow.id !== only) return null;
      name = 'workflow';
      data = workflowToJson(event.workflow);
      break;
    case 'step.recorded':
      if (only !== undefined && event.step.workflowId !== only) return null;
      name = 'step';
      data = { workflow_id: event.step.workflowId, duration_ms: event.durationMs, step: stepToJson(event.step) };
      break;
    case 'worker.connected':
    case 'worker.disconnected':
      if (only !== undefined) return null;
      name = 'worker';
      data = { worker_id: event.workerId, connected: event.type === 'worker.connected' };
      break;
  }
  // JSON has no raw newlines, so one data line per event.
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Registers `GET /api/events`; open streams end when the app closes. */
export function registerEventRoutes(app: FastifyInstance, engine: Engine): void {
  const open = new Set<FastifyReply>();
  app.addHook('preClose', (done) => {
    for (const reply of open) reply.raw.end();
    done();
  });

  app.get('/api/events', (request: FastifyRequest<{ Querystring: { workflow?: string } }>, reply) => {
    const only =
      typeof request.query.workflow === 'string' && request.query.workflow !== '' ? request.query.workflow : undefined;
    const raw = reply.raw;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write(`retry: 2000\n: connected${only === undefined ? '' : ` to workflow ${only}`}\n\n`);
    open.add(reply);
    const unsubscribe = engine.subscribe((event) => {
      const frame = eventFrame(event, only);
      if (frame === null) return;
      if (raw.writableLength > MAX_BUFFERED) {
        raw.destroy();
        return;
      }
      raw.write(frame);
    });
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    raw.on('close', () => {
      unsubscribe();
      clearInterval(heartbeat);
      open.delete(reply);
    });
  });
}

/**
 * The control plane's edge-node routes (seed 002): `POST /register` (also the
 * heartbeat), `POST /callback {event, data}`, `GET /api/nodes` and the
 * recent events nodes reported.
 */
import { aetherError, type ErrorCode } from '@aether/core';
import type { EdgeNodeView, FunctionService, NodeEvent, NodeRegistry } from '@aether/functions';
import type { FastifyInstance } from 'fastify';
import { seedTime } from './function-routes.js';

const EVENT_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;

function objectBody(
  body: unknown,
  example: string,
  code: ErrorCode = 'AETHER_E_INVALID_ARGUMENT',
): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw aetherError(code, `the body must be a JSON object such as ${example}`);
  }
  return body as Record<string, unknown>;
}

/** An edge node as `GET /api/nodes` shows it. */
export function nodeToJson(node: EdgeNodeView): Record<string, unknown> {
  return {
    node_id: node.nodeId,
    url: node.url,
    status: node.status,
    ...(node.downReason !== undefined ? { down_reason: node.downReason } : {}),
    registered_at: seedTime(node.registeredAt),
    last_seen_at: node.lastSeenAt,
    stats: node.stats,
  };
}

function eventToJson(event: NodeEvent): Record<string, unknown> {
  return { at: event.at, event: event.event, node_id: event.nodeId ?? null, data: event.data };
}

/** Registers the edge routes of a control plane. */
export function registerEdgeRoutes(
  app: FastifyInstance,
  options: { nodes: NodeRegistry; functions: FunctionService },
): void {
  const { nodes, functions } = options;

  app.post('/register', async (request) => {
    const body = objectBody(request.body, '{"node_id": "edge-01", "url": "http://10.0.0.5:9091"}');
    const { node_id: nodeId, url, ...rest } = body;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined)
      throw aetherError('AETHER_E_INVALID_ARGUMENT', `unknown field "${extra}" (known: node_id, url)`);
    if (typeof nodeId !== 'string')
      throw aetherError('AETHER_E_INVALID_ARGUMENT', 'node_id must be a string', { field: 'node_id' });
    if (typeof url !== 'string')
      throw aetherError('AETHER_E_INVALID_ARGUMENT', 'url must be a string', { field: 'url' });
    const node = await nodes.register(nodeId, url);
    return {
      status: 'registered',
      node_id: node.nodeId,
      heartbeat_interval_ms: nodes.heartbeatIntervalMs,
      functions_etag: functions.etag(),
    };
  });

  app.post('/callback', async (request) => {
    const body = objectBody(request.body, '{"event": "deployed", "data": {"node_id": "edge-01"}}');
    const { event, data, ...rest } = body;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined)
      throw aetherError('AETHER_E_INVALID_ARGUMENT', `unknown field "${extra}" (known: event, data)`);
    if (typeof event !== 'string' || !EVENT_PATTERN.test(event)) {
      throw aetherError(
        'AETHER_E_INVALID_ARGUMENT',
        'event must be a lower-case name such as "deployed" or "execution_error"',
        {
          field: 'event',
        },
      );
    }
    const payload = data === undefined ? {} : data;
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw aetherError('AETHER_E_INVALID_ARGUMENT', 'data must be a JSON object', { field: 'data' });
    }
    const recorded = await nodes.recordEvent(event, payload as Record<string, unknown>);
    return { status: 'ok', at: recorded.at };
  });

  app.get('/api/nodes', () => ({ nodes: nodes.list().map(nodeToJson) }));
  app.get('/api/nodes/events', () => ({ events: nodes.events().map(eventToJson) }));
}

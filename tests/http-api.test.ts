/**
 * End-to-end tests of a node started in-process with `startServer` on the real
 * engine: HTTP API over real sockets (start, list, detail with journal and
 * actions, cancel, auth, errors), metrics fed by engine events, the separate
 * metrics port, bind safety, a port in use, and graceful close.
 */
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AetherError, defaultServerConfig, type ResolvedServerConfig } from '@aether/core';
import type { WorkerSession, WorkerTask } from '@aether/engine';
import { startServer, type RunningServer } from '@aether/server';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './support/processes.js';

const nodes: RunningServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function config(patch: (c: ResolvedServerConfig) => void = () => {}): ResolvedServerConfig {
  const c = defaultServerConfig();
  c.server.grpcPort = 0;
  c.server.httpPort = 0;
  c.persistence.mode = 'memory';
  patch(c);
  return c;
}

async function start(c: ResolvedServerConfig, insecure = false): Promise<RunningServer & { url: string }> {
  const node = await startServer(c, { insecure });
  nodes.push(node);
  return Object.assign(node, { url: `http://127.0.0.1:${node.httpPort}` });
}

async function thrown(p: Promise<unknown>): Promise<AetherError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return err as AetherError;
  }
  throw new Error('expected a rejection');
}

/**
 * A worker connected straight to the engine that runs `greet` as seed 003's
 * quick start does: two steps, then the result. Workflows of type `hang` stay running.
 */
function connectGreetWorker(node: RunningServer): WorkerSession {
  const session: WorkerSession = node.engine.connectWorker({
    workerId: 'test-worker',
    workflowTypes: ['greet', 'hang'],
    onTask: (task: WorkerTask) => {
      if (task.kind !== 'run' || task.workflowType !== 'greet') return;
      const [name] = JSON.parse(task.input) as [string];
      const greeting = `Hello, ${name}!`;
      void (async () => {
        const startedAt = Date.now();
        await session.command(task.workflowId, task.leaseToken, {
          kind: 'step',
          stepId: '0',
          name: 'create-greeting',
          status: 'completed',
          result: JSON.stringify(greeting),
          attempts: 1,
          startedAt,
        });
        await session.command(task.workflowId, task.leaseToken, {
          kind: 'step',
          stepId: '1',
          name: 'log-greeting',
          status: 'completed',
          result: '',
          attempts: 1,
          startedAt,
        });
        await session.command(task.workflowId, task.leaseToken, {
          kind: 'workflow_completed',
          result: JSON.stringify({ message: greeting }),
        });
      })();
    },
  });
  return session;
}

describe('a node started in-process', () => {
  it('runs a workflow started over HTTP and shows it with its journal and actions', async () => {
    const node = await start(config());
    const worker = connectGreetWorker(node);
    const started = await fetch(`${node.url}/api/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'greet', input: ['World'], workflow_id: 'hello-1' }),
    });
    expect(started.status).toBe(201);
    expect(await started.json()).toEqual({ workflow_id: 'hello-1', already_started: false, state: 'PENDING' });

    const detail = await waitFor(async () => {
      const body = (await (await fetch(`${node.url}/api/workflows/hello-1`)).json()) as Record<string, unknown>;
      return body.state === 'COMPLETED' ? body : undefined;
    }, 'the workflow to complete');
    expect(detail).toMatchObject({
      id: 'hello-1',
      type: 'greet',
      input: ['World'],
      result: { message: 'Hello, World!' },
      error: null,
      attempts: 1,
    });
    const steps = detail.steps as { name: string; status: string; result: unknown }[];
    expect(steps.map((s) => [s.name, s.status, s.result])).toEqual([
      ['create-greeting', 'completed', 'Hello, World!'],
      ['log-greeting', 'completed', null],
    ]);
    const actions = (detail.actions as { action: string }[]).map((a) => a.action);
    expect(actions[0]).toBe('workflow.started');
    expect(actions.length).toBeGreaterThan(2);

    const list = (await (await fetch(`${node.url}/api/workflows?state=COMPLETED`)).json()) as {
      workflows: { id: string }[];
      next_cursor: string | null;
    };
    expect(list.workflows.map((w) => w.id)).toEqual(['hello-1']);
    expect(list.next_cursor).toBeNull();

    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toContain('aether_workflows_started_total 1');
    expect(metrics).toContain('aether_workflows_completed_total 1');
    expect(metrics).toContain('aether_workflows{state="COMPLETED"} 1');
    expect(metrics).toContain('aether_active_workers 1');
    expect(metrics).toMatch(/aether_step_duration_seconds_count\{kind="step",status="completed"\} 2/);
    worker.close();
  });

  it('streams workflow, step and worker events on GET /api/events, filtered by ?workflow=', async () => {
    const node = await start(config());
    /** Reads an SSE stream into frames {event, data} until `until` holds. */
    const listen = async (query: string) => {
      const res = await fetch(`${node.url}/api/events${query}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const reader = res.body!.getReader();
      const frames: { event: string; data: Record<string, unknown> }[] = [];
      let text = '';
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += Buffer.from(value).toString('utf8');
          let end: number;
          while ((end = text.indexOf('\n\n')) >= 0) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            const event = /^event: (.+)$/m.exec(block)?.[1];
            const data = /^data: (.+)$/m.exec(block)?.[1];
            if (event !== undefined && data !== undefined) frames.push({ event, data: JSON.parse(data) });
          }
        }
      })();
      return { frames, close: () => reader.cancel().then(() => pump) };
    };
    const all = await listen('');
    const one = await listen('?workflow=hello-2');
    const worker = connectGreetWorker(node);
    for (const id of ['hello-1', 'hello-2']) {
      await node.engine.startWorkflow({ type: 'greet', input: JSON.stringify(['World']), workflowId: id });
    }
    await waitFor(
      () =>
        all.frames.filter((f) => f.event === 'workflow' && f.data.state === 'COMPLETED').length === 2 &&
        one.frames.some((f) => f.event === 'workflow' && f.data.state === 'COMPLETED'),
      'both workflows to complete on the streams',
    );
    expect(all.frames.find((f) => f.event === 'worker')?.data).toEqual({ worker_id: 'test-worker', connected: true });
    const steps = all.frames.filter((f) => f.event === 'step' && f.data.workflow_id === 'hello-1');
    expect(steps.map((f) => (f.data.step as { name: string }).name)).toEqual(['create-greeting', 'log-greeting']);
    // The filtered stream saw only hello-2: its states in order, and its steps.
    expect(new Set(one.frames.map((f) => f.data.workflow_id ?? f.data.id))).toEqual(new Set(['hello-2']));
    expect(one.frames.filter((f) => f.event === 'workflow').map((f) => f.data.state)).toEqual(
      expect.arrayContaining(['PENDING', 'COMPLETED']),
    );
    worker.close();
    await one.close();
    // Closing the node ends the streams still open (it does not wait for them).
    await node.close();
    await all.close();
  });

  it('pages through workflows with next_cursor', async () => {
    const node = await start(config());
    const worker = connectGreetWorker(node);
    for (let i = 0; i < 5; i++) await node.engine.startWorkflow({ type: 'hang', input: '[]', workflowId: `h${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `${node.url}/api/workflows?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await (await fetch(url)).json()) as { workflows: { id: string }[]; next_cursor: string | null };
      expect(page.workflows.length).toBeLessThanOrEqual(2);
      seen.push(...page.workflows.map((w) => w.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen.sort()).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    worker.close();
  });

  it('cancels a running workflow and counts it', async () => {
    const node = await start(config());
    const worker = connectGreetWorker(node);
    await node.engine.startWorkflow({ type: 'hang', input: '[]', workflowId: 'h1' });
    const res = await fetch(`${node.url}/api/workflows/h1/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'h1', state: 'CANCELLED' });
    const again = await fetch(`${node.url}/api/workflows/h1/cancel`, { method: 'POST' });
    expect(again.status).toBeGreaterThanOrEqual(400);
    expect(((await again.json()) as { error: { code: string } }).error.code).toMatch(/^AETHER_E_/);
    expect(await (await fetch(`${node.url}/metrics`)).text()).toContain('aether_workflows_cancelled_total 1');
    worker.close();
  });

  it('answers errors in the API shape with catalogue statuses', async () => {
    const node = await start(config((c) => (c.server.maxPayloadBytes = 1024)));
    const missing = await fetch(`${node.url}/api/workflows/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'AETHER_E_WF_NOT_FOUND' } });

    const unknownType = await fetch(`${node.url}/api/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'nobody-serves-this', input: [] }),
    });
    expect(unknownType.status).toBe(400);
    expect(await unknownType.json()).toMatchObject({ error: { code: 'AETHER_E_WF_UNKNOWN_TYPE' } });

    const tooLarge = await fetch(`${node.url}/api/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'greet', input: ['x'.repeat(4096)] }),
    });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { code: 'AETHER_E_PAYLOAD_TOO_LARGE' } });

    const noRoute = await fetch(`${node.url}/api/nothing`);
    expect(noRoute.status).toBe(404);
    expect(await noRoute.json()).toEqual({
      error: { code: 'AETHER_E_NOT_FOUND', message: 'no route GET /api/nothing' },
    });
  });

  it('requires the bearer token everywhere but /health when [auth] token is set', async () => {
    const node = await start(config((c) => (c.auth.token = 'tok-123')));
    expect((await fetch(`${node.url}/health`)).status).toBe(200);
    const denied = await fetch(`${node.url}/api/workflows`);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ error: { code: 'AETHER_E_UNAUTHENTICATED' } });
    expect((await fetch(`${node.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${node.url}/api/workflows`, { headers: { authorization: 'Bearer tok-124' } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`${node.url}/api/workflows`, { headers: { authorization: 'Bearer tok-123' } });
    expect(ok.status).toBe(200);
  });

  it('answers /health with persistence, store and uptime', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-http-'));
    dirs.push(dir);
    const db = path.join(dir, 'data', 'aether.db');
    const node = await start(config((c) => ((c.persistence.mode = 'state-action-log'), (c.server.dbPath = db))));
    const health = await (await fetch(`${node.url}/health`)).json();
    expect(health).toMatchObject({
      status: 'ok',
      persistence: 'state-action-log',
      store: `sqlite ${db}`,
      uptime_s: 0,
      functions: 0,
      edge_nodes: 0,
    });
    expect(Object.keys(health.wasm).sort()).toEqual(['cache', 'transport', 'workers']);
    expect(node.banner[0]).toBe(
      `aether serve: gRPC 127.0.0.1:${node.grpcPort}, HTTP http://127.0.0.1:${node.httpPort}, ` +
        `persistence state-action-log (sqlite ${db})`,
    );
  });

  it('serves /metrics on the separate [metrics] port, and not at all when disabled', async () => {
    const withPort = await start(config((c) => (c.metrics.port = 0)));
    expect(withPort.metricsPort).toBeGreaterThan(0);
    expect(withPort.banner[1]).toBe(`aether serve: metrics http://127.0.0.1:${withPort.metricsPort}/metrics`);
    const res = await fetch(`http://127.0.0.1:${withPort.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('aether_workflows_started_total');
    expect((await fetch(`${withPort.url}/metrics`)).status).toBe(200);

    const disabled = await start(config((c) => (c.metrics.enabled = false)));
    expect((await fetch(`${disabled.url}/metrics`)).status).toBe(404);
  });

  it('refuses a non-loopback host without a token unless insecure', async () => {
    const err = await thrown(startServer(config((c) => (c.server.host = '0.0.0.0'))));
    expect(err.code).toBe('AETHER_E_INSECURE_BIND');
    const node = await start(
      config((c) => (c.server.host = '0.0.0.0')),
      true,
    );
    expect(node.httpPort).toBeGreaterThan(0);
    const tokened = await start(config((c) => ((c.server.host = '0.0.0.0'), (c.auth.token = 't'))));
    expect(tokened.httpPort).toBeGreaterThan(0);
  });

  it('reports a taken HTTP port as AETHER_E_PORT_IN_USE and releases what it opened', async () => {
    const blocker: Server = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await thrown(startServer(config((c) => (c.server.httpPort = port))));
      expect(err.code).toBe('AETHER_E_PORT_IN_USE');
      expect(err.details).toMatchObject({ port });
      const grpcErr = await thrown(startServer(config((c) => (c.server.grpcPort = port))));
      expect(grpcErr.code).toBe('AETHER_E_PORT_IN_USE');
    } finally {
      blocker.close();
    }
  });

  it('reports a file that is not a database as a store error', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'aether-http-'));
    dirs.push(dir);
    const db = path.join(dir, 'garbage.db');
    writeFileSync(db, 'this is not a sqlite database, not at all '.repeat(100));
    const err = await thrown(
      startServer(config((c) => ((c.persistence.mode = 'state-action-log'), (c.server.dbPath = db)))),
    );
    expect(err.code).toMatch(/^AETHER_E_STORE_/);
  });

  it('closes idempotently and frees its ports', async () => {
    const node = await startServer(config());
    const { httpPort } = node;
    await Promise.all([node.close(), node.close()]);
    await expect(fetch(`http://127.0.0.1:${httpPort}/health`)).rejects.toThrow();
  });
});

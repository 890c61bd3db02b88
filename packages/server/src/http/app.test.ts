/**
 * Tests of the HTTP API against a small in-memory fake Engine: routes, snake_case
 * bodies, error shapes and statuses, bearer auth, body limit and metrics.
 */
import { TerminalError, type StepRecord, type WorkflowRecord, type WorkflowState } from '@aether/core';
import type { Engine, EngineEvent, EngineMetrics } from '@aether/engine';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp, createMetricsApp, type HttpAppOptions } from './app.js';
import { createNodeMetrics } from './metrics.js';

/** A fake engine plus helpers to seed it. */
interface FakeEngine extends Engine {
  add(workflow: Partial<WorkflowRecord> & { id: string }, steps?: Partial<StepRecord>[]): WorkflowRecord;
  emit(event: EngineEvent): void;
}

/** Creates an empty in-memory fake engine (until the real engine is used in e2e tests). */
function createFakeEngine(): FakeEngine {
  const workflows = new Map<string, WorkflowRecord>();
  const steps = new Map<string, StepRecord[]>();
  const listeners = new Set<(event: EngineEvent) => void>();
  const emit = (event: EngineEvent): void => listeners.forEach((l) => l(event));
  const get = (id: string): WorkflowRecord => {
    const w = workflows.get(id);
    if (w === undefined)
      throw new TerminalError('AETHER_E_WF_NOT_FOUND', `workflow ${id} not found`, { workflowId: id });
    return w;
  };
  let n = 0;
  const engine: FakeEngine = {
    persistence: 'memory',
    limits: { leaseMs: 10_000, heartbeatIntervalMs: 3_000, maxPayloadBytes: 2 * 1024 * 1024 },
    add(partial, stepList = []) {
      const now = Date.UTC(2025, 0, 1) + n++ * 1000;
      const w: WorkflowRecord = {
        type: 'greet',
        state: 'PENDING',
        input: '[]',
        createdAt: now,
        updatedAt: now,
        attempts: 0,
        version: 1,
        ...partial,
      };
      workflows.set(w.id, w);
      steps.set(
        w.id,
        stepList.map((s, i) => ({
          workflowId: w.id,
          stepId: String(i),
          name: `step-${i}`,
          kind: 'step',
          status: 'completed',
          seq: i,
          attempts: 1,
          startedAt: now,
          ...s,
        })),
      );
      return w;
    },
    emit,
    async start() {},
    async stop() {},
    async startWorkflow(options) {
      if (options.type === 'unknown') {
        throw new TerminalError('AETHER_E_WF_UNKNOWN_TYPE', `unknown workflow type ${options.type}`);
      }
      const id = options.workflowId ?? `wf-${n + 1}`;
      const existing = workflows.get(id);
      if (existing) return { workflowId: id, alreadyStarted: true, state: existing.state };
      const w = engine.add({ id, type: options.type, input: options.input });
      emit({ type: 'workflow.started', workflow: w });
      return { workflowId: id, alreadyStarted: false, state: w.state };
    },
    async getWorkflow(id) {
      return get(id);
    },
    async getSteps(id) {
      get(id);
      return steps.get(id) ?? [];
    },
    async getActions(id) {
      const w = get(id);
      return [{ workflowId: id, action: 'workflow.started', at: w.createdAt, data: { type: w.type } }];
    },
    async listWorkflows(filter) {
      let items = [...workflows.values()].sort((a, b) => b.createdAt - a.createdAt);
      if (filter.type) items = items.filter((w) => w.type === filter.type);
      if (filter.state) items = items.filter((w) => w.state === filter.state);
      const start = filter.cursor ? Number(filter.cursor) : 0;
      const limit = filter.limit ?? 50;
      const page = items.slice(start, start + limit);
      return { items: page, nextCursor: start + limit < items.length ? String(start + limit) : undefined };
    },
    async awaitResult(id) {
      const w = get(id);
      return { workflowId: id, state: w.state, result: w.result, error: w.error };
    },
    async cancel(id) {
      const w = get(id);
      if (w.state === 'COMPLETED' || w.state === 'FAILED' || w.state === 'CANCELLED') {
        throw new TerminalError(
          'AETHER_E_WF_ILLEGAL_TRANSITION',
          `workflow ${id} cannot go from ${w.state} to CANCELLED`,
        );
      }
      const next: WorkflowRecord = { ...w, state: 'CANCELLED', completedAt: Date.now(), version: w.version + 1 };
      workflows.set(id, next);
      emit({ type: 'workflow.state', workflow: next });
      return next;
    },
    knowsType: () => true,
    declareTypes: () => {},
    connectWorker() {
      throw new Error('not supported by the fake engine');
    },
    async metrics(): Promise<EngineMetrics> {
      const byState = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 } as Record<
        WorkflowState,
        number
      >;
      for (const w of workflows.values()) byState[w.state]++;
      return {
        workflowsStarted: workflows.size,
        workflowsCompleted: byState.COMPLETED,
        workflowsFailed: byState.FAILED,
        workflowsCancelled: byState.CANCELLED,
        stepsCompleted: 0,
        activeWorkers: 2,
        byState,
        persistence: 'memory',
        store: 'memory',
      };
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return engine;
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function app(engine: Engine, options: Partial<HttpAppOptions> = {}): Promise<FastifyInstance> {
  const a = await createHttpApp({ engine, maxPayloadBytes: 1024, ...options });
  apps.push(a);
  return a;
}

describe('HTTP API', () => {
  it('answers /health with persistence, store and uptime', async () => {
    const a = await app(createFakeEngine(), { store: 'memory' });
    const res = await a.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', persistence: 'memory', store: 'memory', uptime_s: 0 });
  });

  it('lists workflows with snake_case fields, filters and a cursor', async () => {
    const engine = createFakeEngine();
    engine.add({ id: 'a', type: 'greet', state: 'COMPLETED', input: '["World"]', result: '{"message":"hi"}' });
    engine.add({ id: 'b', type: 'order', state: 'RUNNING', startedAt: Date.now() });
    engine.add({ id: 'c', type: 'greet', state: 'RUNNING' });
    const a = await app(engine);

    const all = (await a.inject({ method: 'GET', url: '/api/workflows?limit=2' })).json();
    expect(all.workflows.map((w: { id: string }) => w.id)).toEqual(['c', 'b']);
    expect(all.next_cursor).toBe('2');
    const next = (await a.inject({ method: 'GET', url: `/api/workflows?limit=2&cursor=${all.next_cursor}` })).json();
    expect(next).toMatchObject({ workflows: [{ id: 'a' }], next_cursor: null });
    expect(next.workflows[0]).toMatchObject({
      type: 'greet',
      state: 'COMPLETED',
      input: ['World'],
      result: { message: 'hi' },
      error: null,
      parent_id: null,
      created_at: '2025-01-01T00:00:00.000Z',
    });

    const greetRunning = (await a.inject({ method: 'GET', url: '/api/workflows?type=greet&state=running' })).json();
    expect(greetRunning.workflows.map((w: { id: string }) => w.id)).toEqual(['c']);
  });

  it('rejects a bad state or limit with 400 AETHER_E_INVALID_ARGUMENT', async () => {
    const a = await app(createFakeEngine());
    for (const url of ['/api/workflows?state=SLEEPING', '/api/workflows?limit=0', '/api/workflows?limit=abc']) {
      const res = await a.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('AETHER_E_INVALID_ARGUMENT');
    }
  });

  it('shows a workflow with its steps and actions', async () => {
    const engine = createFakeEngine();
    engine.add({ id: 'w1', state: 'COMPLETED' }, [
      { name: 'create-greeting', result: '"Hello"', completedAt: Date.UTC(2025, 0, 1) + 5 },
      { name: 'log-greeting', result: '' },
    ]);
    const res = await (await app(engine)).inject({ method: 'GET', url: '/api/workflows/w1' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.id).toBe('w1');
    expect(body.steps).toHaveLength(2);
    expect(body.steps[0]).toMatchObject({ step_id: '0', name: 'create-greeting', result: 'Hello', duration_ms: 5 });
    expect(body.steps[1]).toMatchObject({ name: 'log-greeting', result: null, completed_at: null });
    expect(body.actions).toEqual([
      { action: 'workflow.started', at: '2025-01-01T00:00:00.000Z', data: { type: 'greet' } },
    ]);
  });

  it('accepts workflow ids containing "/" both percent-encoded and raw', async () => {
    const engine = createFakeEngine();
    engine.add({ id: 'parent/2.1/0', state: 'RUNNING' });
    const a = await app(engine);
    expect((await a.inject({ method: 'GET', url: '/api/workflows/parent%2F2.1%2F0' })).json().id).toBe('parent/2.1/0');
    expect((await a.inject({ method: 'GET', url: '/api/workflows/parent/2.1/0' })).json().id).toBe('parent/2.1/0');
    const cancel = await a.inject({ method: 'POST', url: '/api/workflows/parent/2.1/0/cancel' });
    expect(cancel.json()).toMatchObject({ id: 'parent/2.1/0', state: 'CANCELLED' });
  });

  it('answers an unknown workflow with 404 AETHER_E_WF_NOT_FOUND', async () => {
    const res = await (await app(createFakeEngine())).inject({ method: 'GET', url: '/api/workflows/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: { code: 'AETHER_E_WF_NOT_FOUND', message: 'workflow nope not found', details: { workflowId: 'nope' } },
    });
  });

  it('cancels a workflow, and answers 409 when it already ended', async () => {
    const engine = createFakeEngine();
    engine.add({ id: 'w1', state: 'RUNNING' });
    const a = await app(engine);
    const res = await a.inject({ method: 'POST', url: '/api/workflows/w1/cancel' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: 'w1', state: 'CANCELLED' });
    const again = await a.inject({ method: 'POST', url: '/api/workflows/w1/cancel' });
    expect(again.statusCode).toBe(409);
    engine.add({ id: 'w2', state: 'RUNNING' });
    const emptyJson = await a.inject({
      method: 'POST',
      url: '/api/workflows/w2/cancel',
      headers: { 'content-type': 'application/json' },
      payload: '',
    });
    expect(emptyJson.statusCode).toBe(200);
    expect(again.json().error.code).toBe('AETHER_E_WF_ILLEGAL_TRANSITION');
  });

  it('starts a workflow with 201, and 200 when the workflow_id already exists', async () => {
    const a = await app(createFakeEngine());
    const body = { type: 'greet', input: ['World'], workflow_id: 'hello-1' };
    const first = await a.inject({ method: 'POST', url: '/api/workflows', payload: body });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ workflow_id: 'hello-1', already_started: false, state: 'PENDING' });
    const second = await a.inject({ method: 'POST', url: '/api/workflows', payload: body });
    expect(second.statusCode).toBe(200);
    expect(second.json().already_started).toBe(true);
    const shown = (await a.inject({ method: 'GET', url: '/api/workflows/hello-1' })).json();
    expect(shown.input).toEqual(['World']);
  });

  it('validates the start body', async () => {
    const a = await app(createFakeEngine());
    for (const payload of [{ input: [] }, { type: 'greet', input: 'x' }, { type: 'greet', extra: 1 }, [1]]) {
      const res = await a.inject({ method: 'POST', url: '/api/workflows', payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('AETHER_E_INVALID_ARGUMENT');
    }
    const unknown = await a.inject({ method: 'POST', url: '/api/workflows', payload: { type: 'unknown' } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('AETHER_E_WF_UNKNOWN_TYPE');
  });

  it("gives fastify's own errors the API's shape and the catalogue's status", async () => {
    const a = await app(createFakeEngine(), { maxPayloadBytes: 64 });
    const notFound = await a.inject({ method: 'GET', url: '/nope?x=1' });
    expect(notFound.statusCode).toBe(404);
    expect(notFound.json()).toEqual({ error: { code: 'AETHER_E_NOT_FOUND', message: 'no route GET /nope' } });

    const badJson = await a.inject({
      method: 'POST',
      url: '/api/workflows',
      headers: { 'content-type': 'application/json' },
      payload: '{"type":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error.code).toBe('AETHER_E_INVALID_ARGUMENT');

    const poisoned = await a.inject({
      method: 'POST',
      url: '/api/workflows',
      headers: { 'content-type': 'application/json' },
      payload: '{"type":"greet","__proto__":{"x":1}}',
    });
    expect(poisoned.statusCode).toBe(400);
    expect(poisoned.json().error.code).toBe('AETHER_E_INVALID_ARGUMENT');

    const tooLarge = await a.inject({
      method: 'POST',
      url: '/api/workflows',
      payload: { type: 'greet', input: ['x'.repeat(200)] },
    });
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.code).toBe('AETHER_E_PAYLOAD_TOO_LARGE');

    const media = await a.inject({
      method: 'POST',
      url: '/api/workflows',
      headers: { 'content-type': 'application/x-yaml' },
      payload: 'type: greet',
    });
    expect(media.statusCode).toBe(415);
    expect(media.json().error.code).toBe('AETHER_E_UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers an unexpected engine failure with 500 AETHER_E_INTERNAL', async () => {
    const engine = createFakeEngine();
    engine.listWorkflows = () => Promise.reject(new Error('disk on fire'));
    const res = await (await app(engine)).inject({ method: 'GET', url: '/api/workflows' });
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toMatchObject({ code: 'AETHER_E_INTERNAL', message: 'internal error: disk on fire' });
  });
});

describe('HTTP bearer auth', () => {
  it('requires the token on every route but /health', async () => {
    const engine = createFakeEngine();
    const metrics = createNodeMetrics(engine);
    const a = await app(engine, { token: 's3cret', metrics });
    expect((await a.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    for (const [method, url] of [
      ['GET', '/api/workflows'],
      ['GET', '/metrics'],
      ['POST', '/api/workflows/x/cancel'],
      ['GET', '/nope'],
    ] as const) {
      const res = await a.inject({ method, url });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="aether"');
      expect(res.json().error.code).toBe('AETHER_E_UNAUTHENTICATED');
    }
    metrics.close();
  });

  it('rejects a wrong token and accepts the right one', async () => {
    const a = await app(createFakeEngine(), { token: 's3cret' });
    const wrong = await a.inject({ method: 'GET', url: '/api/workflows', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.message).toBe('the bearer token is not valid');
    const basic = await a.inject({ method: 'GET', url: '/api/workflows', headers: { authorization: 'Basic s3cret' } });
    expect(basic.statusCode).toBe(401);
    const right = await a.inject({ method: 'GET', url: '/api/workflows', headers: { authorization: 'Bearer s3cret' } });
    expect(right.statusCode).toBe(200);
  });
});

describe('metrics', () => {
  it('counts engine events and reads gauges from engine.metrics()', async () => {
    const engine = createFakeEngine();
    const metrics = createNodeMetrics(engine);
    const a = await app(engine, { metrics });
    await engine.startWorkflow({ type: 'greet', input: '[]', workflowId: 'm1' });
    await engine.cancel('m1');
    const w = engine.add({ id: 'm2', state: 'COMPLETED' });
    engine.emit({ type: 'workflow.state', workflow: w });
    engine.emit({ type: 'workflow.state', workflow: { ...w, state: 'FAILED' } });
    engine.emit({
      type: 'step.recorded',
      step: {
        workflowId: 'm2',
        stepId: '0',
        name: 's',
        kind: 'step',
        status: 'completed',
        seq: 0,
        attempts: 1,
        startedAt: 0,
      },
      durationMs: 20,
    });

    const res = await a.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toContain('aether_workflows_started_total 1');
    expect(text).toContain('aether_workflows_completed_total 1');
    expect(text).toContain('aether_workflows_failed_total 1');
    expect(text).toContain('aether_workflows_cancelled_total 1');
    expect(text).toContain('aether_step_duration_seconds_bucket{le="0.025",kind="step",status="completed"} 1');
    expect(text).toContain('aether_active_workers 2');
    expect(text).toContain('aether_workflows{state="CANCELLED"} 1');
    expect(text).toContain('aether_workflows{state="RUNNING"} 0');
    metrics.close();
  });

  it('has no /metrics route when metrics are disabled, and serves them on a separate app', async () => {
    const engine = createFakeEngine();
    const a = await app(engine);
    expect((await a.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    const metrics = createNodeMetrics(engine);
    const m = await createMetricsApp({ metrics });
    apps.push(m);
    const res = await m.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('aether_workflows_started_total 0');
    expect((await m.inject({ method: 'GET', url: '/api/workflows' })).statusCode).toBe(404);
    metrics.close();
  });
});

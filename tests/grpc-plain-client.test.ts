/**
 * Any gRPC client can drive Aether: this test loads proto/aether/v1 with
 * @grpc/proto-loader and uses plain grpc-js calls (no SDK) to start, query,
 * await and cancel workflows, and to act as a bare worker itself.
 */
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ROOT, startAether, type AetherServer } from './support/processes.js';

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type Unary = (req: object, cb: Callback<any>) => void;
type AnyClient = grpc.Client & { [method: string]: Unary & ((req: object) => grpc.ClientReadableStream<any>) };

const def = protoLoader.loadSync(path.join(ROOT, 'proto/aether/v1/aether.proto'), {
  keepCase: true,
  longs: Number,
  defaults: true,
});
const pkg = grpc.loadPackageDefinition(def) as any;

function call<T>(client: AnyClient, method: string, req: object): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(req, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

function code(err: unknown): string | undefined {
  return (err as grpc.ServiceError).metadata?.get('aether-error-code')[0] as string | undefined;
}

let tmp: string;
let server: AetherServer;
let clientSvc: AnyClient;
let workerSvc: AnyClient;
let adminSvc: AnyClient;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'aether-grpc-'));
  server = await startAether({ db: path.join(tmp, 'a.db') });
  const addr = `127.0.0.1:${server.grpcPort}`;
  const creds = grpc.credentials.createInsecure();
  clientSvc = new pkg.aether.v1.ClientService(addr, creds);
  workerSvc = new pkg.aether.v1.WorkerService(addr, creds);
  adminSvc = new pkg.aether.v1.AdminService(addr, creds);
});

afterAll(async () => {
  for (const c of [clientSvc, workerSvc, adminSvc]) c?.close();
  await server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('plain grpc-js client', () => {
  it('starts, queries, awaits and cancels workflows, with a bare worker written against the proto', async () => {
    await call(workerSvc, 'Register', {
      worker_id: 'bare',
      workflow_types: ['double', 'wait-forever'],
      max_concurrency: 4,
    });
    const stream = workerSvc.PollTasks!({ worker_id: 'bare' });
    const cancels: string[] = [];
    stream.on('data', (task: any) => {
      if (task.kind === 'cancel') {
        cancels.push(task.workflow_id);
        return;
      }
      const input = JSON.parse(task.input_json) as number[];
      const base = { worker_id: 'bare', workflow_id: task.workflow_id, lease_token: task.lease_token };
      void (async () => {
        if (task.workflow_type === 'wait-forever') {
          await call(workerSvc, 'CompleteStep', {
            ...base,
            kind: 'sleep',
            step_id: '0',
            name: 'sleep',
            duration_ms: 3_600_000,
          });
          await call(workerSvc, 'CompleteStep', { ...base, kind: 'suspend' });
          return;
        }
        const recorded = task.journal.find((s: any) => s.step_id === '0');
        const doubled = recorded
          ? JSON.parse(recorded.result_json)
          : (
              await call<any>(workerSvc, 'CompleteStep', {
                ...base,
                kind: 'step',
                step_id: '0',
                name: 'double',
                status: 'completed',
                result_json: JSON.stringify(input[0]! * 2),
                attempts: 1,
                started_at_ms: Date.now(),
              })
            ).step.result_json;
        await call(workerSvc, 'CompleteStep', {
          ...base,
          kind: 'workflow_completed',
          result_json: JSON.stringify({ doubled: Number(doubled) }),
        });
      })();
    });
    stream.on('error', () => {});

    const started = await call<any>(clientSvc, 'StartWorkflow', {
      workflow_type: 'double',
      input_json: '[21]',
      workflow_id: 'plain-1',
    });
    expect(started).toMatchObject({ workflow_id: 'plain-1', already_started: false });
    const again = await call<any>(clientSvc, 'StartWorkflow', {
      workflow_type: 'double',
      input_json: '[21]',
      workflow_id: 'plain-1',
    });
    expect(again.already_started).toBe(true);

    const result = await call<any>(clientSvc, 'AwaitResult', { workflow_id: 'plain-1', timeout_ms: 10_000 });
    expect(result, JSON.stringify(result)).toMatchObject({ state: 'COMPLETED' });
    expect(JSON.parse(result.result_json)).toEqual({ doubled: 42 });

    const status = await call<any>(clientSvc, 'GetWorkflowStatus', { workflow_id: 'plain-1', include_steps: true });
    expect(status).toMatchObject({ workflow_type: 'double', state: 'COMPLETED', input_json: '[21]' });
    expect(status.steps.map((s: any) => [s.name, s.status, s.result_json])).toEqual([['double', 'completed', '42']]);

    // start and wait in one call
    const oneTrip = await call<any>(clientSvc, 'StartWorkflow', {
      workflow_type: 'double',
      input_json: '[5]',
      workflow_id: 'plain-3',
      wait_ms: 10_000,
    });
    expect(oneTrip).toMatchObject({ workflow_id: 'plain-3', result: { state: 'COMPLETED' } });
    expect(JSON.parse(oneTrip.result.result_json)).toEqual({ doubled: 10 });

    // cancel a sleeping workflow
    await call(clientSvc, 'StartWorkflow', { workflow_type: 'wait-forever', input_json: '[]', workflow_id: 'plain-2' });
    const sleeping = await waitForState('plain-2', (s) => s.steps.some((x: any) => x.status === 'waiting'));
    expect(sleeping.state).toBe('RUNNING');
    const cancelled = await call<any>(clientSvc, 'CancelWorkflow', { workflow_id: 'plain-2', reason: 'test' });
    expect(cancelled.state).toBe('CANCELLED');
    const after = await call<any>(clientSvc, 'AwaitResult', { workflow_id: 'plain-2' });
    expect(after).toMatchObject({ state: 'CANCELLED', error: { code: 'AETHER_E_WF_CANCELLED' } });

    // cancelling again is an illegal transition
    const err = await call(clientSvc, 'CancelWorkflow', { workflow_id: 'plain-2' }).catch((e: unknown) => e);
    expect((err as grpc.ServiceError).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(code(err)).toBe('AETHER_E_WF_ILLEGAL_TRANSITION');

    // list through the admin stream
    const listed: any[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = adminSvc.ListWorkflows!({ workflow_type: 'double' });
      s.on('data', (w: any) => listed.push(w));
      s.on('end', resolve);
      s.on('error', reject);
    });
    expect(listed.map((w) => w.workflow_id).sort()).toEqual(['plain-1', 'plain-3']);
    const metrics = await call<any>(adminSvc, 'GetMetrics', {});
    expect(metrics.workflows_completed).toBeGreaterThanOrEqual(1);
    stream.cancel();
  });

  it("makes a worker's types startable once Register answers, before its task stream opens", async () => {
    // The SDK's serve() resolves after Register; a start right after it must not race PollTasks.
    await call(workerSvc, 'Register', { worker_id: 'late', workflow_types: ['late-type'], max_concurrency: 1 });
    const started = await call<any>(clientSvc, 'StartWorkflow', {
      workflow_type: 'late-type',
      input_json: '[]',
      workflow_id: 'late-1',
    });
    expect(started.workflow_id).toBe('late-1');
    const status = await call<any>(clientSvc, 'GetWorkflowStatus', { workflow_id: 'late-1' });
    expect(status).toMatchObject({ workflow_type: 'late-type', state: 'PENDING' });
  });

  it('answers bad calls with codes and keeps serving', async () => {
    const unknown = await call(clientSvc, 'StartWorkflow', { workflow_type: 'no-such-type', input_json: '[]' }).catch(
      (e: unknown) => e,
    );
    expect(code(unknown)).toBe('AETHER_E_WF_UNKNOWN_TYPE');
    const bad = await call(clientSvc, 'StartWorkflow', { workflow_type: 'double', input_json: '{not json' }).catch(
      (e: unknown) => e,
    );
    expect(code(bad)).toBe('AETHER_E_WF_INPUT_NOT_SERIALIZABLE');
    const big = await call(clientSvc, 'StartWorkflow', {
      workflow_type: 'double',
      input_json: JSON.stringify(['x'.repeat(3 * 1024 * 1024)]),
    }).catch((e: unknown) => e);
    expect(code(big)).toBe('AETHER_E_PAYLOAD_TOO_LARGE');
    const missing = await call(clientSvc, 'GetWorkflowStatus', { workflow_id: 'nope' }).catch((e: unknown) => e);
    expect((missing as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
    expect(code(missing)).toBe('AETHER_E_WF_NOT_FOUND');
    const health = await fetch(`${server.httpUrl}/health`);
    expect(health.status).toBe(200);
  });
});

async function waitForState(id: string, ok: (s: any) => boolean): Promise<any> {
  const end = Date.now() + 10_000;
  for (;;) {
    const s = await call<any>(clientSvc, 'GetWorkflowStatus', { workflow_id: id, include_steps: true });
    if (ok(s)) return s;
    if (Date.now() > end) throw new Error(`workflow ${id} never reached the expected state: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

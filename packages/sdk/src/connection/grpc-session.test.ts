/**
 * The lean HTTP/2 transport against a real grpc-js server: unary calls,
 * errors in trailers, deadlines, server streams with messages split across
 * frames, size limits, the bearer token, and reconnecting after a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServerWritableStream,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { proto, type AetherError } from '@aether/core';
import { RPC } from './grpc-methods.js';
import { GrpcTransport } from './grpc-transport.js';

type Handlers = Partial<proto.ClientServiceServer & proto.WorkerServiceServer>;

const servers: Server[] = [];
const transports: GrpcTransport[] = [];

async function serve(handlers: Handlers, port = 0): Promise<number> {
  const server = new Server();
  const unimplemented = (_call: unknown, cb: sendUnaryData<never>) => cb({ code: status.UNIMPLEMENTED, details: 'no' });
  server.addService(proto.ClientServiceService, {
    startWorkflow: unimplemented,
    getWorkflowStatus: unimplemented,
    awaitResult: unimplemented,
    cancelWorkflow: unimplemented,
    ...handlers,
  });
  server.addService(proto.WorkerServiceService, {
    register: unimplemented,
    pollTasks: (call: ServerWritableStream<proto.PollRequest, proto.Task>) => call.end(),
    completeStep: unimplemented,
    heartbeat: unimplemented,
    ...handlers,
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  servers.push(server);
  return bound;
}

function transport(port: number, extra: { token?: string; unavailableRetryMs?: number } = {}): GrpcTransport {
  const t = new GrpcTransport({
    serverUrl: `http://127.0.0.1:${port}`,
    callTimeoutMs: 5000,
    unavailableRetryMs: extra.unavailableRetryMs ?? 0,
    token: extra.token,
  });
  transports.push(t);
  return t;
}

afterEach(() => {
  for (const t of transports.splice(0)) t.close();
  for (const s of servers.splice(0)) s.forceShutdown();
});

const task = (i: number, input = ''): proto.Task => ({
  kind: 'run',
  workflowId: `w${i}`,
  workflowType: 't',
  inputJson: input,
  leaseToken: 'L',
  attempt: 1,
  journal: [],
  reason: '',
});

describe('unary calls', () => {
  it('sends the request and decodes the response, with the bearer token', async () => {
    let auth: unknown;
    const port = await serve({
      startWorkflow: (call: ServerUnaryCall<proto.StartWorkflowRequest, proto.StartWorkflowResponse>, cb) => {
        auth = call.metadata.get('authorization')[0];
        cb(null, {
          workflowId: call.request.workflowId,
          alreadyStarted: false,
          state: call.request.inputJson,
          result: undefined,
        });
      },
    });
    const t = transport(port, { token: 't0k' });
    const r = await t.call(RPC.startWorkflow, { workflowType: 'x', inputJson: '["é"]', workflowId: 'id-1', waitMs: 0 });
    expect(r).toEqual({ workflowId: 'id-1', alreadyStarted: false, state: '["é"]', result: undefined });
    expect(auth).toBe('Bearer t0k');
  });

  it('maps an error status with aether trailers to the AetherError of its code', async () => {
    const port = await serve({
      getWorkflowStatus: (_call, cb: sendUnaryData<proto.WorkflowStatus>) => {
        const metadata = new Metadata();
        metadata.set('aether-error-code', 'AETHER_E_WF_NOT_FOUND');
        metadata.set('aether-error-details', '{"workflowId":"nope"}');
        cb({ code: status.NOT_FOUND, details: 'workflow nope not found: 100% gone', metadata });
      },
    });
    const error = (await transport(port)
      .call(RPC.getWorkflowStatus, { workflowId: 'nope', includeSteps: false })
      .catch((e: unknown) => e)) as AetherError;
    expect(error.code).toBe('AETHER_E_WF_NOT_FOUND');
    expect(error.message).toBe('workflow nope not found: 100% gone');
    expect(error.details).toMatchObject({
      workflowId: 'nope',
      grpcCode: status.NOT_FOUND,
      method: 'GetWorkflowStatus',
    });
  });

  it('times out with AETHER_E_TIMEOUT when the server does not answer', async () => {
    const port = await serve({ awaitResult: () => {} });
    const error = (await transport(port)
      .call(RPC.awaitResult, { workflowId: 'w', timeoutMs: 0 }, 100)
      .catch((e: unknown) => e)) as AetherError;
    expect(error.code).toBe('AETHER_E_TIMEOUT');
  });

  it('reports AETHER_E_UNAVAILABLE when nothing listens, then reconnects once the server is back', async () => {
    const port = await serve({});
    servers.pop()!.forceShutdown();
    const t = transport(port);
    const error = (await t
      .call(RPC.register, { workerId: 'w', workflowTypes: [], maxConcurrency: 1 })
      .catch((e: unknown) => e)) as AetherError;
    expect(error.code).toBe('AETHER_E_UNAVAILABLE');
    await serve(
      {
        register: (call: ServerUnaryCall<proto.RegisterRequest, proto.RegisterResponse>, cb) =>
          cb(null, { workerId: call.request.workerId, leaseMs: 1, heartbeatIntervalMs: 2, maxPayloadBytes: 3 }),
      },
      port,
    );
    expect(await t.call(RPC.register, { workerId: 'w', workflowTypes: [], maxConcurrency: 1 })).toMatchObject({
      workerId: 'w',
    });
  });

  it('retries idempotent calls while the server is unavailable', async () => {
    const port = await serve({});
    servers.pop()!.forceShutdown();
    const t = transport(port, { unavailableRetryMs: 10_000 });
    let calls = 0;
    const pending = t.retrying(
      () => (calls++, t.call(RPC.register, { workerId: 'w', workflowTypes: [], maxConcurrency: 1 })),
    );
    while (calls < 2) await new Promise((r) => setImmediate(r));
    await serve(
      {
        register: (_c, cb: sendUnaryData<proto.RegisterResponse>) =>
          cb(null, { workerId: 'back', leaseMs: 0, heartbeatIntervalMs: 0, maxPayloadBytes: 0 }),
      },
      port,
    );
    expect((await pending).workerId).toBe('back');
    expect(calls).toBeGreaterThan(1);
  });

  it('refuses to send a message over 16 MiB', async () => {
    const port = await serve({});
    const big = 'x'.repeat(17 * 1024 * 1024);
    const error = (await transport(port)
      .call(RPC.startWorkflow, { workflowType: 't', inputJson: big, workflowId: 'w', waitMs: 0 })
      .catch((e: unknown) => e)) as AetherError;
    expect(error.code).toBe('AETHER_E_PAYLOAD_TOO_LARGE');
  });
});

describe('server streams', () => {
  it('delivers every message, small and large (split across frames), then the end', async () => {
    const large = 'y'.repeat(200_000);
    const port = await serve({
      pollTasks: (call: ServerWritableStream<proto.PollRequest, proto.Task>) => {
        call.write(task(1));
        call.write(task(2, large));
        call.write(task(3));
        call.end();
      },
    });
    const seen: proto.Task[] = [];
    const ended = await new Promise<AetherError | undefined>((resolve) => {
      transport(port).stream(RPC.pollTasks, { workerId: 'w' }, (m) => seen.push(m), resolve);
    });
    expect(ended).toBeUndefined();
    expect(seen.map((t) => [t.workflowId, t.inputJson.length])).toEqual([
      ['w1', 0],
      ['w2', large.length],
      ['w3', 0],
    ]);
  });

  it('ends with AETHER_E_UNAVAILABLE when the server goes away', async () => {
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const port = await serve({
      pollTasks: (call: ServerWritableStream<proto.PollRequest, proto.Task>) => {
        call.write(task(1));
        opened();
      },
    });
    const ended = new Promise<AetherError | undefined>((resolve) => {
      transport(port).stream(RPC.pollTasks, { workerId: 'w' }, () => {}, resolve);
    });
    await open;
    servers.pop()!.forceShutdown();
    expect((await ended)?.code).toBe('AETHER_E_UNAVAILABLE');
  });
});

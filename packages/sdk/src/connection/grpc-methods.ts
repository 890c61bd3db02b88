/**
 * The RPCs of proto/aether/v1 the SDK calls: path plus message codecs from
 * the generated ts-proto code, so requests are encoded once, straight into
 * the frame.
 */
import { proto } from '@aether/core';

/** One RPC: where it goes and how its messages are (de)coded. */
export interface GrpcMethod<Req, Res> {
  readonly path: string;
  /** Short name for errors, e.g. `CompleteStep`. */
  readonly name: string;
  encode(request: Req): Uint8Array;
  decode(bytes: Uint8Array): Res;
}

function method<Req, Res>(
  path: string,
  request: proto.MessageFns<Req>,
  response: proto.MessageFns<Res>,
): GrpcMethod<Req, Res> {
  return {
    path,
    name: path.slice(path.lastIndexOf('/') + 1),
    encode: (r) => request.encode(r).finish(),
    decode: (b) => response.decode(b),
  };
}

const C = proto.ClientServiceService;
const W = proto.WorkerServiceService;
const A = proto.AdminServiceService;

export const RPC = {
  startWorkflow: method(C.startWorkflow.path, proto.StartWorkflowRequest, proto.StartWorkflowResponse),
  getWorkflowStatus: method(C.getWorkflowStatus.path, proto.GetStatusRequest, proto.WorkflowStatus),
  awaitResult: method(C.awaitResult.path, proto.AwaitResultRequest, proto.WorkflowResult),
  cancelWorkflow: method(C.cancelWorkflow.path, proto.CancelRequest, proto.CancelResponse),
  register: method(W.register.path, proto.RegisterRequest, proto.RegisterResponse),
  pollTasks: method(W.pollTasks.path, proto.PollRequest, proto.Task),
  completeStep: method(W.completeStep.path, proto.CompleteStepRequest, proto.CompleteStepResponse),
  heartbeat: method(W.heartbeat.path, proto.HeartbeatRequest, proto.HeartbeatResponse),
  listWorkflows: method(A.listWorkflows.path, proto.ListRequest, proto.WorkflowInfo),
} as const;

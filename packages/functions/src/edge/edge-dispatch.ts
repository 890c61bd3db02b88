/**
 * The control plane's side of talking to edge nodes: `/execute` sent to a
 * healthy node (round robin; a node that cannot be reached is marked down and
 * the next one tried), and deploy/delete notifications to every healthy node.
 * Answers of a node are passed through unchanged, so a function's own error
 * (timeout, trap) reaches the caller as the node reported it.
 */
import { Agent, request } from 'undici';
import type { NodeRegistry } from './node-registry.js';

/** An edge node's answer, passed through to the caller. */
export interface EdgeAnswer {
  nodeId: string;
  status: number;
  contentType: string;
  body: Buffer;
}

/** What `createEdgeDispatch` needs. */
export interface EdgeDispatchOptions {
  nodes: NodeRegistry;
  /** Token sent to nodes (they check it on `/notify`). */
  token?: string | undefined;
  /** Time to connect to a node before trying the next. @default 2000 */
  connectTimeoutMs?: number | undefined;
  /** Told about nodes that failed and notifications that did not arrive. */
  onProblem?: ((problem: { nodeId: string; what: string; err: unknown }) => void) | undefined;
}

/** The control plane's client of its edge nodes. */
export interface EdgeDispatch {
  /**
   * Sends an `/execute` body to a healthy node, trying the others in turn when
   * one cannot be reached. Undefined when no node could take it (run locally).
   * @param timeoutMs - how long the function may run, plus transport margin
   */
  execute(body: Buffer, timeoutMs: number): Promise<EdgeAnswer | undefined>;
  /** Tells every healthy node about a registry change; failures are reported, not thrown. */
  notifyAll(event: 'deployed' | 'deleted', data: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/**
 * Creates the dispatcher.
 * @example
 * const edges = createEdgeDispatch({ nodes, token });
 * const answer = await edges.execute(Buffer.from(JSON.stringify({ function: 'f', input: {} })), 3000);
 */
export function createEdgeDispatch(options: EdgeDispatchOptions): EdgeDispatch {
  const { nodes } = options;
  const connectTimeout = options.connectTimeoutMs ?? 2000;
  const agent = new Agent({ connectTimeout, keepAliveTimeout: 30_000 });
  const auth: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };

  return {
    async execute(body, timeoutMs) {
      for (const node of nodes.pickOrder()) {
        try {
          const res = await request(`${node.url}/execute`, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json', ...auth },
            body,
            headersTimeout: timeoutMs + 5000,
            bodyTimeout: timeoutMs + 5000,
          });
          const answer = Buffer.from(await res.body.arrayBuffer());
          const type = res.headers['content-type'];
          return {
            nodeId: node.nodeId,
            status: res.statusCode,
            contentType: typeof type === 'string' ? type : 'application/json; charset=utf-8',
            body: answer,
          };
        } catch (err) {
          // The node is gone or hung: stop sending it traffic until it heartbeats again.
          nodes.markDown(node.nodeId, `execute failed: ${(err as Error).message}`);
          options.onProblem?.({ nodeId: node.nodeId, what: 'execute', err });
        }
      }
      return undefined;
    },

    async notifyAll(event, data) {
      await Promise.all(
        nodes.pickOrder().map(async (node) => {
          try {
            const res = await request(`${node.url}/notify`, {
              method: 'POST',
              dispatcher: agent,
              headers: { 'content-type': 'application/json', ...auth },
              body: JSON.stringify({ event, data }),
              headersTimeout: 30_000,
              bodyTimeout: 30_000,
            });
            const text = await res.body.text();
            if (res.statusCode >= 400) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
          } catch (err) {
            options.onProblem?.({ nodeId: node.nodeId, what: `notify ${event}`, err });
          }
        }),
      );
    },

    close: () => agent.close(),
  };
}

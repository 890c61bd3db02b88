/**
 * @aetherframework.ai/sdk: define durable workflows in TypeScript, run them on
 * an Aether server over gRPC or on an engine embedded in this process.
 */

/**
 * Creates a client: with `serverUrl` (or `AETHER_SERVER_URL`) it talks gRPC to
 * `aether serve`; without one it runs an embedded engine in this process.
 * @example
 * import { aether } from '@aetherframework.ai/sdk';
 *
 * const client = aether({ serverUrl: 'http://localhost:7233' });
 * const helloWorld = client.workflow('hello-world', async (ctx, name: string) => {
 *   const greeting = await ctx.step('create-greeting', async () => `Hello, ${name}!`);
 *   return { message: greeting };
 * });
 * await client.serve([helloWorld]);
 * const result = await helloWorld.startAndWait('World'); // { message: 'Hello, World!' }
 */
export { aether, AetherClient } from './client.js';

/**
 * Options of `aether()` (`serverUrl`, `workerId`, `token`, embedded `persistence`
 * and `db`, ...), listing filters and summaries, and what `serve` accepts.
 * @example
 * const embedded = aether({ persistence: 'state-action-log', db: './data/aether.db' });
 */
export type {
  AetherOptions,
  ListWorkflowsFilter,
  PersistenceMode,
  ServableWorkflow,
  WorkflowSummary,
} from './client.js';

/**
 * A workflow type defined by `client.workflow(name, fn)`: `start`, `startAndWait`,
 * `withOptions({ workflowId })`. Inside a running workflow, `startAndWait` is a
 * durable child workflow.
 * @example
 * const id = await orderProcessing.start('order-123', { workflowId: 'order-123' }); // idempotent
 * const same = await orderProcessing.withOptions({ workflowId: 'order-123' }).start('order-123');
 */
export type { StartOptions, WorkflowDefinition, WorkflowStarter } from './workflow-definition.js';

/**
 * The context a workflow function receives, and what step and activity bodies get.
 * @example
 * const wf = client.workflow('charge', async (ctx, orderId: string) => {
 *   const charge = await ctx.activity('charge-card', async ({ signal, heartbeat }) => pay(orderId, { signal, heartbeat }), {
 *     retry: { maxAttempts: 5, initialIntervalMs: 200 },
 *     timeoutMs: 10_000,
 *   });
 *   await ctx.sleep({ minutes: 5 });
 *   const [a, b] = await ctx.parallel([() => ctx.step('a', () => 1), () => ctx.step('b', () => 2)]);
 *   return { charge, sum: a + b };
 * });
 */
export type {
  ActivityContext,
  ActivityOptions,
  ParallelResults,
  RetryPolicy,
  SleepDuration,
  StepContext,
  WorkflowContext,
  WorkflowRef,
} from './context/types.js';

/**
 * A started workflow (`client.getHandle(id)`): `result()`, `status()`, `cancel()`.
 * @example
 * const handle = client.getHandle(id);
 * const { state } = await handle.status();
 * await handle.cancel('no longer needed');
 * await handle.result(); // rejects with AetherError AETHER_E_WF_CANCELLED
 */
export type { StepStatusInfo, WorkflowHandle, WorkflowStatusInfo } from './handle.js';

/**
 * Errors: every error the SDK raises is an AetherError with a stable `code`.
 * Throw a TerminalError from an activity to stop its retries.
 * @example
 * await ctx.activity('charge', async () => {
 *   if (declined) throw new TerminalError('AETHER_E_STEP_FAILED', 'card declined');
 * });
 * try { await wf.startAndWait(); } catch (e) { if (e instanceof AetherError) console.log(e.code); }
 */
export { AetherError, NonDeterminismError, RetryableError, TerminalError } from '@aether/core';

/**
 * Error codes and the records the SDK reports (workflow states, stored errors).
 * @example
 * const code: ErrorCode = 'AETHER_E_WF_CANCELLED';
 */
export type { ErrorCode, StoredError, WorkflowState } from '@aether/core';

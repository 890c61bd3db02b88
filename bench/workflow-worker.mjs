// Benchmark worker: serves the 3-step workflow over gRPC from its own process.
import { aether } from '@aetherframework.ai/sdk';

const client = aether({ serverUrl: process.env.AETHER_SERVER_URL, workerId: `bench-${process.pid}` });
const threeSteps = client.workflow('three-steps', async (ctx, n) => {
  const a = await ctx.step('one', async () => n + 1);
  const b = await ctx.step('two', async () => a * 2);
  const c = await ctx.step('three', async () => b + 3);
  return c;
});
await client.serve([threeSteps]);
console.log('ready');

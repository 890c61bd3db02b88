import { aether } from '@aetherframework.ai/sdk';

const client = aether({ serverUrl: 'http://localhost:7233' });

// Define a simple workflow
const greet = client.workflow('greet', async (ctx, name: string) => {
  const greeting = await ctx.step('create-message', async () => {
    return `Hello, ${name}!`;
  });

  await ctx.step('log', async () => {
    console.log(greeting);
  });

  return { message: greeting };
});

async function main() {
  // Register and serve
  await client.serve([greet]);

  // Run workflow
  const result = await greet.startAndWait('World');
  console.log(result.message); // "Hello, World!"
}

main();

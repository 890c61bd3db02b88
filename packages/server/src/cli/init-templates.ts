/**
 * The files `aether init` writes: a runnable TypeScript project around seed
 * 003's quick start.
 */

/** What the templates need to know. */
export interface TemplateValues {
  /** npm package name of the new project. */
  name: string;
  /** Version spec of the SDK dependency (`file:...` inside this checkout, else a registry range). */
  sdkSpec: string;
}

/** The SDK's published name (seed 003). */
export const SDK_PACKAGE = '@aetherframework.ai/sdk';

function packageJson(v: TemplateValues): string {
  const pkg = {
    name: v.name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      dev: 'tsx src/index.ts',
      build: 'tsc',
      start: 'node dist/index.js',
      typecheck: 'tsc --noEmit',
    },
    dependencies: { [SDK_PACKAGE]: v.sdkSpec },
    devDependencies: { '@types/node': '^20.19.0', tsx: '^4.20.0', typescript: '^5.9.0' },
    engines: { node: '>=20' },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      esModuleInterop: true,
      skipLibCheck: true,
      rootDir: 'src',
      outDir: 'dist',
    },
    include: ['src'],
  },
  null,
  2,
)}\n`;

const INDEX_TS = `// Seed 003's quick start: a workflow of two durable steps.
// Run \`aether serve\` first, then \`npm run dev\`. Without a serverUrl (and without
// AETHER_SERVER_URL) the SDK runs an embedded engine in this process instead.
import { aether } from '${SDK_PACKAGE}';

const client = aether({ serverUrl: process.env.AETHER_SERVER_URL ?? 'http://localhost:7233' });

// Define a simple workflow
const greet = client.workflow('greet', async (ctx, name: string) => {
  const greeting = await ctx.step('create-message', async () => {
    return \`Hello, \${name}!\`;
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
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;

function readme(v: TemplateValues): string {
  return `# ${v.name}

An [Aether](https://github.com/aetherframework) workflow project.

## Run it

\`\`\`bash
npm install
aether serve          # in another terminal: the Aether server (gRPC 7233, HTTP 7234)
npm run dev           # runs src/index.ts: registers the workflow and runs it once
\`\`\`

Then watch it:

\`\`\`bash
aether workflow list
aether status <workflow-id>
\`\`\`

Without \`aether serve\`, remove \`serverUrl\` from \`src/index.ts\` (and leave
\`AETHER_SERVER_URL\` unset): the SDK then runs an embedded engine in-process.

## Files

- \`src/index.ts\`: the \`greet\` workflow and a \`main()\` that serves and runs it
- \`tsconfig.json\`: strict TypeScript, ES modules
- \`npm run build\` compiles to \`dist/\`, \`npm start\` runs the compiled code
`;
}

const GITIGNORE = 'node_modules/\ndist/\ndata/\n';

/** The files of a new project, by path relative to its directory. */
export function projectFiles(values: TemplateValues): Record<string, string> {
  return {
    'package.json': packageJson(values),
    'tsconfig.json': TSCONFIG,
    'src/index.ts': INDEX_TS,
    'README.md': readme(values),
    '.gitignore': GITIGNORE,
  };
}

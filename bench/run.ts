/**
 * `npm run bench -- <scenario...>`: runs benchmark scenarios, prints a table
 * and writes the results as JSON under bench/results/. Timing lives here,
 * never in unit tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGatewayBench } from './gateway.js';
import { runProcessBench } from './process.js';
import { runWasmHttpBench } from './wasm-http.js';
import { runWasmTransportBench } from './wasm-transport.js';
import { runWorkflowsBench } from './workflows.js';

const scenarios: Record<string, (args: string[]) => Promise<Record<string, unknown>[]>> = {
  workflows: runWorkflowsBench,
  'wasm-transport': runWasmTransportBench,
  'wasm-http': runWasmHttpBench,
  process: runProcessBench,
  gateway: runGatewayBench,
};

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith('--'));
const selected = names.length > 0 ? names : Object.keys(scenarios);

for (const name of selected) {
  const run = scenarios[name];
  if (!run) {
    console.error(`error[AETHER_E_USAGE]: unknown benchmark "${name}"; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  const rows = await run(args.filter((a) => a.startsWith('--')));
  console.table(rows);
  const dir = path.join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { scenario: name, at: new Date().toISOString(), cpus: (await import('node:os')).cpus().length, rows },
      null,
      2,
    ),
  );
  writeFileSync(path.join(dir, `${name}-latest.json`), JSON.stringify({ scenario: name, rows }, null, 2));
  console.log(`results written to ${path.relative(process.cwd(), file)}`);
}

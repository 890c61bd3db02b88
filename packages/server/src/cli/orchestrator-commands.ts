/**
 * `aether deploy <file>` and `aether list` (seed 000): hot-load a functions
 * file into the running node, and list every function it runs (process
 * functions with their instances, and deployed WASM functions).
 */
import path from 'node:path';
import type { DeployResult, OrchestratorStatus, ProcessFunctionStatus } from '@aether/functions';
import { loadFunctionsFile } from '../config/functions-file.js';
import { readConfigText } from '../config/load-config.js';
import type { CliIo } from './io.js';
import { formatTable } from './table.js';
import { clientFor, type RemoteOptions } from './workflow-commands.js';

/** `aether deploy <file>`: checks the file here (line numbers), then the node applies it. */
export async function runDeploy(file: string, options: RemoteOptions, io: CliIo): Promise<number> {
  const text = readConfigText(file, io.cwd, true) ?? '';
  const full = path.resolve(io.cwd, file);
  loadFunctionsFile(text, file, full);
  const result = await clientFor(options, io).post<DeployResult & { status: OrchestratorStatus }>(
    '/api/orchestrator/deploy',
    { file: full, text },
  );
  if (options.json === true) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const parts = (['added', 'changed', 'removed', 'unchanged'] as const)
    .filter((k) => result[k].length > 0)
    .map((k) => `${k}: ${result[k].join(', ')}`);
  io.stdout(`✓ Deployed ${file} (${parts.join('; ') || 'no functions'})\n`);
  return 0;
}

/** "2 ready, 1 busy" */
export function instancesSummary(fn: ProcessFunctionStatus): string {
  const counts = new Map<string, number>();
  for (const i of fn.instances) counts.set(i.state, (counts.get(i.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state.toLowerCase()}`).join(', ') || 'none';
}

/** Up to three pids, then how many more. */
function pidList(fn: ProcessFunctionStatus): string {
  const pids = fn.instances.map((i) => i.pid).filter((p): p is number => p !== null);
  if (pids.length === 0) return '-';
  return pids.length <= 3 ? pids.join(',') : `${pids.slice(0, 3).join(',')} +${pids.length - 3}`;
}

interface WasmListItem {
  id: string;
  runtime: string;
  version?: number;
}

/** `aether list`: the process functions with their instances, then WASM functions. */
export async function runList(options: RemoteOptions, io: CliIo): Promise<number> {
  const client = clientFor(options, io);
  const [status, wasm] = await Promise.all([
    client.get<OrchestratorStatus>('/api/orchestrator'),
    client.get<{ functions: WasmListItem[] } | WasmListItem[]>('/api/functions'),
  ]);
  const wasmFunctions = Array.isArray(wasm) ? wasm : wasm.functions;
  if (options.json === true) {
    io.stdout(`${JSON.stringify({ process: status.functions, wasm: wasmFunctions }, null, 2)}\n`);
    return 0;
  }
  const rows = status.functions.map((f) => [
    f.id,
    'process',
    `http://localhost:${f.triggerPort}`,
    instancesSummary(f),
    pidList(f),
    String(f.restarts),
    f.lastExit === null ? '-' : `${f.lastExit.reason}: ${f.lastExit.message}`,
  ]);
  for (const w of wasmFunctions) {
    rows.push([w.id, w.runtime, w.runtime === 'node' ? `/functions/${w.id}/` : 'POST /execute', '-', '-', '-', '-']);
  }
  if (rows.length === 0) {
    io.stdout('No functions. Start some with `aether -c functions.yaml up` or `aether deploy functions.yaml`.\n');
    return 0;
  }
  io.stdout(formatTable(['FUNCTION', 'RUNTIME', 'ENDPOINT', 'INSTANCES', 'PIDS', 'RESTARTS', 'LAST EXIT'], rows));
  return 0;
}

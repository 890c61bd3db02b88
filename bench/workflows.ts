/**
 * Workflow throughput and latency: 3-step workflows, the worker in another
 * process over gRPC, for each persistence tier on SQLite and for PostgreSQL.
 * Load: 50 concurrent callers of startAndWait for 10 s, then 200 sequential
 * calls. Reports completed/s and p50/p99 of each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aether } from '@aetherframework.ai/sdk';
import { startPostgres } from '../tests/support/postgres.js';
import { childEnv, startAether, startProcess, waitFor } from '../tests/support/processes.js';
import { flag, pct } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Config {
  name: string;
  persistence: 'memory' | 'snapshot' | 'state-action-log';
  store: 'memory' | 'sqlite' | 'postgres';
}

const CONFIGS: Config[] = [
  { name: 'memory', persistence: 'memory', store: 'memory' },
  { name: 'snapshot / sqlite', persistence: 'snapshot', store: 'sqlite' },
  { name: 'state-action-log / sqlite', persistence: 'state-action-log', store: 'sqlite' },
  { name: 'state-action-log / postgres', persistence: 'state-action-log', store: 'postgres' },
];

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export async function runWorkflowsBench(flags: string[]): Promise<Record<string, unknown>[]> {
  const durationMs = flag(flags, 'duration', 10_000);
  const concurrency = flag(flags, 'concurrency', 50);
  const only = flags.find((f) => f.startsWith('--only='))?.split('=')[1];
  const tmp = mkdtempSync(path.join(tmpdir(), 'aether-bench-'));
  const pg = CONFIGS.some((c) => c.store === 'postgres' && (!only || c.name.includes(only)))
    ? await startPostgres()
    : undefined;
  const rows: Record<string, unknown>[] = [];
  try {
    for (const cfg of CONFIGS) {
      if (only && !cfg.name.includes(only)) continue;
      const db =
        cfg.store === 'postgres'
          ? pg!.url
          : cfg.store === 'sqlite'
            ? path.join(tmp, `${cfg.persistence}.db`)
            : undefined;
      const server = await startAether({ persistence: cfg.persistence, db });
      const worker = startProcess(
        process.execPath,
        [path.join(here, 'workflow-worker.mjs')],
        childEnv({ AETHER_SERVER_URL: server.grpcUrl }),
      );
      const client = aether({ serverUrl: server.grpcUrl });
      try {
        await waitFor(() => worker.output().includes('ready'), 'bench worker', 30_000);
        const wf = client.workflow('three-steps', async (_ctx, n: number) => n);
        // warm-up
        for (let i = 0; i < 200; i++) await wf.startAndWait(i);

        const lat: number[] = [];
        let done = 0;
        let errors = 0;
        const end = Date.now() + durationMs;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async (_, c) => {
            let i = 0;
            while (Date.now() < end) {
              const s = performance.now();
              try {
                const r = await wf.startAndWait(c * 1_000_000 + i);
                if (r !== (c * 1_000_000 + i + 1) * 2 + 3) errors++;
                done++;
                lat.push(performance.now() - s);
              } catch {
                errors++;
              }
              i++;
            }
          }),
        );
        const elapsed = (performance.now() - t0) / 1000;
        lat.sort((a, b) => a - b);

        const seq: number[] = [];
        for (let i = 0; i < 200; i++) {
          const s = performance.now();
          await wf.startAndWait(i);
          seq.push(performance.now() - s);
        }
        seq.sort((a, b) => a - b);
        rows.push({
          config: cfg.name,
          'completed/s': Math.round(done / elapsed),
          'p50 ms (50 conc)': round(pct(lat, 50)),
          'p99 ms (50 conc)': round(pct(lat, 99)),
          'seq p50 ms': round(pct(seq, 50)),
          'seq p99 ms': round(pct(seq, 99)),
          errors,
        });
      } finally {
        await client.close();
        await worker.kill('SIGKILL');
        await server.kill('SIGTERM');
      }
    }
  } finally {
    await pg?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

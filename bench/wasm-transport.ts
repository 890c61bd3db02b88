/**
 * WASM transport: the wasm runtime called directly (no HTTP) with a tiny echo
 * module, for each main thread <-> worker transport ('shared-memory' ring
 * buffers vs 'message' postMessage), with a tiny input and a 64 KB input, at
 * concurrency 1 and at twice the workers. Reports req/s and p50/p99 in µs;
 * the faster transport is the runtime's default.
 * Flags: --duration=MS per cell (default 3000), --rounds=N (default 1; rounds
 * alternate the transports so drift on a shared machine hits both).
 */
import { availableParallelism } from 'node:os';
import { createWasmRuntime, type WasmTransport } from '@aether/functions';
import { compileC } from '../packages/functions/src/test-support/compile-wasm.js';
import { ECHO_C } from '../packages/functions/src/wasm/test-fixtures.js';
import { flag, pct } from './stats.js';

const TRANSPORTS: WasmTransport[] = ['shared-memory', 'message'];
const INPUTS: { name: string; value: unknown }[] = [
  { name: 'tiny', value: { msg: 'hi' } },
  { name: '64 KB', value: 'x'.repeat(64 * 1024) },
];

export async function runWasmTransportBench(flags: string[]): Promise<Record<string, unknown>[]> {
  const durationMs = flag(flags, 'duration', 3000);
  const rounds = flag(flags, 'rounds', 1);
  const workers = availableParallelism();
  const code = compileC(ECHO_C);
  const rows: Record<string, unknown>[] = [];

  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? TRANSPORTS : [...TRANSPORTS].reverse();
    for (const transport of order) {
      const runtime = createWasmRuntime({ transport, workers });
      try {
        const { hash } = await runtime.prepare(code);
        const request = { name: 'echo', hash, loadCode: () => Promise.resolve(code) };
        // warm-up: every worker started, holds the module, and the JIT is warm
        await Promise.all(
          Array.from({ length: 2 * workers }, async () => {
            for (let i = 0; i < 200; i++) await runtime.execute({ ...request, input: i });
          }),
        );
        for (const input of INPUTS) {
          for (const concurrency of [1, 2 * workers]) {
            const lat: number[] = [];
            let errors = 0;
            const end = performance.now() + durationMs;
            const t0 = performance.now();
            await Promise.all(
              Array.from({ length: concurrency }, async () => {
                while (performance.now() < end) {
                  const s = performance.now();
                  try {
                    await runtime.execute({ ...request, input: input.value });
                    lat.push(performance.now() - s);
                  } catch {
                    errors++;
                  }
                }
              }),
            );
            const elapsedS = (performance.now() - t0) / 1000;
            lat.sort((a, b) => a - b);
            const row = {
              transport,
              input: input.name,
              concurrency,
              workers,
              'req/s': Math.round(lat.length / elapsedS),
              'p50 µs': Math.round(pct(lat, 50) * 1000),
              'p99 µs': Math.round(pct(lat, 99) * 1000),
              errors,
              ...(rounds > 1 ? { round: round + 1 } : {}),
            };
            console.log(JSON.stringify(row));
            rows.push(row);
          }
        }
      } finally {
        await runtime.close();
      }
    }
  }
  return rows;
}

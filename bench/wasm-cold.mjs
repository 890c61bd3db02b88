// Cold vs warm execution of hello.wasm on the built runtime, in plain node
// (run by bench/wasm-http.ts as a child process: under tsx's loader the first
// module hand-off to a worker is several times slower and would mislead).
// Prints one JSON line: {"coldP50Ms", "warmP50Ms"}.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWasmRuntime } from '../packages/functions/dist/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const hello = readFileSync(path.join(root, 'examples/wasm/build/hello.wasm'));
const cold = [];
const warm = [];
for (let i = 0; i < 30; i++) {
  const runtime = createWasmRuntime({ workers: 1 });
  const { hash } = await runtime.prepare(hello);
  runtime.evict(hash);
  const run = () => runtime.execute({ name: 'hello', hash, loadCode: async () => hello, input: { msg: 'x' } });
  await run(); // starts the worker thread
  runtime.evict(hash);
  let t = performance.now();
  await run(); // cache miss: inspect, instrument, compile, post to the worker, run
  cold.push(performance.now() - t);
  t = performance.now();
  await run(); // cache hit
  warm.push(performance.now() - t);
  await runtime.close();
}
const p50 = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ coldP50Ms: p50(cold), warmP50Ms: p50(warm) }));

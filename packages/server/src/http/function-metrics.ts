/**
 * Prometheus metrics of functions, on the node's registry: cold starts
 * (histogram), request latency through the gateway (histogram), queue depth
 * and instances per state (gauges read at scrape time from the node-function
 * pools and seed 000's orchestrator).
 */
import type { NodeFunctions } from '@aether/functions';
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { ProcessHost } from '../process-host.js';

/** What the gateway and the pools report into. */
export interface FunctionMetrics {
  coldStart(functionId: string, ms: number): void;
  request(functionId: string, status: number, seconds: number): void;
}

const COLD_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Registers the function metrics on `registry`.
 * @example
 * const fm = registerFunctionMetrics(metrics.registry, { nodeFunctions, processes });
 * fm.coldStart('hello', 43.1);
 */
export function registerFunctionMetrics(
  registry: Registry,
  sources: { nodeFunctions: NodeFunctions; processes: ProcessHost },
): FunctionMetrics {
  const cold = new Histogram({
    name: 'aether_function_cold_start_seconds',
    help: 'Time from spawning an instance to it being ready (READY sent and port accepting)',
    labelNames: ['function'] as const,
    buckets: COLD_BUCKETS,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'aether_function_request_duration_seconds',
    help: 'Gateway requests to node functions until the response headers, by status class',
    labelNames: ['function', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'aether_function_queue_depth',
    help: 'Requests waiting for an instance of a node function',
    labelNames: ['function'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources.nodeFunctions.stats()) this.set({ function: s.id }, s.queued);
    },
  });
  new Gauge({
    name: 'aether_function_instances',
    help: 'Function instances by state (node functions and process functions)',
    labelNames: ['function', 'runtime', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const count = (fn: string, runtime: string, states: string[]): void => {
        const by = new Map<string, number>();
        for (const st of states) by.set(st, (by.get(st) ?? 0) + 1);
        for (const [state, n] of by) this.set({ function: fn, runtime, state }, n);
      };
      for (const s of sources.nodeFunctions.stats()) {
        count(s.id, 'node', [...s.instances.map((i) => i.state), ...Array<string>(s.starting).fill('STARTING')]);
      }
      for (const f of sources.processes.status().functions)
        count(
          f.id,
          'process',
          f.instances.map((i) => i.state),
        );
    },
  });
  return {
    coldStart: (fn, ms) => cold.observe({ function: fn }, ms / 1000),
    request: (fn, status, seconds) =>
      latency.observe({ function: fn, status: `${Math.floor(status / 100)}xx` }, seconds),
  };
}

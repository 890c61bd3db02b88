/**
 * Seed 000's terminal output for `aether up`: the orchestrator banner, the
 * per-function start lines and the boxed status table.
 */
import type { OrchestratorStatus, ProcessFunctionStatus } from '@aether/functions';

const WIDTH = 62;

function boxLine(text: string): string {
  return `║ ${text.padEnd(WIDTH - 1)}║`;
}

/** The banner printed first. */
export function orchestratorBanner(): string {
  return [
    '',
    `╔${'═'.repeat(WIDTH)}╗`,
    `║${'AETHER ORCHESTRATOR'.padStart(33).padEnd(WIDTH)}║`,
    `╚${'═'.repeat(WIDTH)}╝`,
    '',
  ].join('\n');
}

/** `  ✓ hello-api started (PID: 12345, Port: 8080)`, with the instance count when there are several. */
export function startedLine(fn: ProcessFunctionStatus): string {
  const ready = fn.instances.filter((i) => i.state === 'READY' || i.state === 'BUSY');
  const first = ready[0] ?? fn.instances[0];
  const more = ready.length > 1 ? `, ${ready.length} instances` : '';
  return `  ✓ ${fn.id} started (PID: ${first?.pid ?? '-'}, Port: ${fn.triggerPort}${more})`;
}

function stateLabel(fn: ProcessFunctionStatus): string {
  const live = fn.instances.filter((i) => i.state === 'READY' || i.state === 'BUSY').length;
  if (live > 0) return 'Running';
  if (fn.instances.some((i) => i.state === 'STARTING')) return 'Starting';
  return 'Failed';
}

/** The boxed status table. */
export function statusTable(status: OrchestratorStatus, host: string): string {
  const shown = host === '0.0.0.0' || host === '127.0.0.1' || host === '::' ? 'localhost' : host;
  const running = status.functions.filter((f) => stateLabel(f) === 'Running').length;
  const lines = [
    `╔${'═'.repeat(WIDTH)}╗`,
    boxLine(`Status: ${running} functions running`),
    `╠${'═'.repeat(WIDTH)}╣`,
    ...status.functions.map((f) =>
      boxLine(`● ${f.id.padEnd(20)} → http://${shown}:${f.triggerPort}  [${stateLabel(f)}]`),
    ),
    `╚${'═'.repeat(WIDTH)}╝`,
  ];
  return lines.join('\n');
}

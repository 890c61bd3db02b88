/** Tests of seed 000's functions file: its schema as written, defaults, and errors naming file, line and field. */
import { describe, expect, it } from 'vitest';
import { TerminalError } from '../errors/aether-error.js';
import { parseFunctionsFile } from './functions-file.js';

function problem(text: string): TerminalError {
  try {
    parseFunctionsFile(text, 'f.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).code).toBe('AETHER_E_CONFIG_INVALID');
    return err as TerminalError;
  }
  throw new Error('expected parseFunctionsFile to throw');
}

const HELLO = `functions:
  - id: hello-api
    memory_limit_mb: 128
    trigger_port: 8080
    handler_path: /opt/handlers/hello.py
    timeout_ms: 30000
    environment:
      PYTHONUNBUFFERED: "1"
`;

describe('parseFunctionsFile', () => {
  it("reads seed 000's quick-start file with the orchestrator defaults", () => {
    const file = parseFunctionsFile(HELLO, 'hello.yaml');
    expect(file.orchestrator).toEqual({
      shmBufferSize: 4194304,
      warmPoolSize: 10,
      restoreTimeoutMs: 15,
      snapshotDir: '/dev/shm/aetherless',
      startTimeoutMs: 10_000,
    });
    expect(file.functions).toEqual([
      {
        id: 'hello-api',
        runtime: 'process',
        memoryLimitMb: 128,
        triggerPort: 8080,
        handlerPath: '/opt/handlers/hello.py',
        code: undefined,
        wasm: undefined,
        timeoutMs: 30000,
        environment: { PYTHONUNBUFFERED: '1' },
        scaling: { min: 1, max: 10, targetConcurrency: 1, idleTimeoutS: 300 },
        isolation: 'none',
      },
    ]);
  });

  it("reads seed 000's full schema and DESIGN's extensions", () => {
    const file = parseFunctionsFile(
      `orchestrator:
  shm_buffer_size: 4194304
  warm_pool_size: 2
  restore_timeout_ms: 15
  snapshot_dir: /dev/shm/aetherless
functions:
  - id: my-function
    memory_limit_mb: 128
    trigger_port: 8080
    handler_path: /path/to/handler.py
    timeout_ms: 30000
    environment:
      KEY: "value"
      N: 3
    scaling: { min: 0, max: 4, target_concurrency: 8, idle_timeout_s: 60 }
    isolation: sandbox
  - id: edge-fn
    runtime: wasm
    wasm: ./hello.wasm
`,
      'full.yaml',
    );
    expect(file.orchestrator.warmPoolSize).toBe(2);
    expect(file.functions[0]).toMatchObject({
      environment: { KEY: 'value', N: '3' },
      scaling: { min: 0, max: 4, targetConcurrency: 8, idleTimeoutS: 60 },
      isolation: 'sandbox',
    });
    expect(file.functions[1]).toMatchObject({
      id: 'edge-fn',
      runtime: 'wasm',
      wasm: './hello.wasm',
      triggerPort: undefined,
    });
    expect(file.functions[1]?.scaling.min).toBe(0);
  });

  it('names the line and field of an unknown key, with a suggestion', () => {
    const err = problem(HELLO.replace('timeout_ms: 30000', 'timeout: 30000'));
    expect(err.details).toMatchObject({ file: 'f.yaml', line: 6, key: 'functions[0].timeout' });
    expect(err.message).toContain('unknown key "timeout" in functions[0]');
  });

  it('refuses duplicate ids and ports, naming the second one', () => {
    const two = `${HELLO}  - id: hello-api\n    trigger_port: 8080\n    handler_path: ./b.py\n`;
    const err = problem(two);
    expect(err.details.problems).toEqual([
      expect.objectContaining({ line: 9, key: 'functions[1].id', message: expect.stringContaining('duplicate id') }),
      expect.objectContaining({ line: 10, key: 'functions[1].trigger_port' }),
    ]);
  });

  it('refuses a memory limit outside 1 MB-16 GB and a port out of range', () => {
    expect(problem(HELLO.replace('128', '0')).details).toMatchObject({ line: 3, key: 'functions[0].memory_limit_mb' });
    expect(problem(HELLO.replace('128', '16385')).message).toContain('between 1 MB and 16 GB');
    expect(problem(HELLO.replace('8080', '70000')).details).toMatchObject({
      line: 4,
      key: 'functions[0].trigger_port',
    });
  });

  it('requires what each runtime needs', () => {
    expect(problem('functions:\n  - id: a\n    trigger_port: 1\n').details).toMatchObject({
      key: 'functions[0].handler_path',
    });
    expect(problem('functions:\n  - id: a\n    handler_path: ./a\n').message).toContain(
      'trigger_port: is required for a process function',
    );
    expect(problem('functions:\n  - id: w\n    runtime: wasm\n').details).toMatchObject({ key: 'functions[0].wasm' });
  });

  it('reports YAML syntax errors and duplicate keys with their line', () => {
    const err = problem('functions:\n  - id: a\n    id: b\n');
    expect(err.details.line).toBe(3);
    expect(err.message).toMatch(/^f\.yaml:3:\d+: YAML syntax error/);
    expect(problem('functions: [\n').message).toMatch(/^f\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('accepts an empty file as no functions', () => {
    expect(parseFunctionsFile('', 'e.yaml').functions).toEqual([]);
  });
});

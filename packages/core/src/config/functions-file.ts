/**
 * The functions file of seed 000's orchestrator (`aether -c functions.yaml
 * up`, `aether validate`): `orchestrator:` settings and a `functions:` list,
 * with DESIGN 4.2's extensions (runtime, code, wasm, scaling, isolation).
 * Unknown keys, duplicate ids and ports, and out-of-range values are errors
 * naming the file, line and field. No I/O here: checks that need the disk
 * (does handler_path exist?) are the server's.
 */
import { LineCounter, parseDocument, isMap, isScalar, type Node } from 'yaml';
import { z } from 'zod';
import { TerminalError } from '../errors/aether-error.js';
import { nonEmptyStringSchema, portSchema, positiveIntSchema } from './schema-parts.js';
import { configInvalid, configProblems, type ConfigFormat, type ConfigProblem } from './toml-config.js';

/** Defaults of seed 000's `orchestrator:` settings and of a function's fields. */
export const FUNCTIONS_FILE_DEFAULTS = {
  shmBufferSize: 4_194_304,
  warmPoolSize: 10,
  restoreTimeoutMs: 15,
  snapshotDir: '/dev/shm/aetherless',
  startTimeoutMs: 10_000,
  memoryLimitMb: 128,
  timeoutMs: 30_000,
  maxInstances: 10,
  targetConcurrency: 1,
  idleTimeoutS: 300,
} as const;

/** The runtimes a function can use. */
export const FUNCTION_RUNTIMES = ['process', 'node', 'wasm'] as const;

const nonNegativeInt = z
  .number({ error: 'must be a whole number' })
  .int('must be a whole number')
  .min(0, 'must not be negative');

const functionSchema = z
  .strictObject({
    id: z.string({ error: 'must be a string' }).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
      error: 'must be 1-64 letters, digits, "_", "-" or "." starting with a letter or digit',
    }),
    runtime: z.enum(FUNCTION_RUNTIMES, { error: 'must be "process", "node" or "wasm"' }).default('process'),
    memory_limit_mb: z
      .number({ error: 'must be a number of MB' })
      .int('must be a whole number of MB')
      .min(1, 'must be between 1 MB and 16 GB (1-16384)')
      .max(16_384, 'must be between 1 MB and 16 GB (1-16384)')
      .default(FUNCTIONS_FILE_DEFAULTS.memoryLimitMb),
    trigger_port: portSchema.min(1, 'must be a port number (1-65535)').optional(),
    handler_path: nonEmptyStringSchema.optional(),
    code: nonEmptyStringSchema.optional(),
    wasm: nonEmptyStringSchema.optional(),
    timeout_ms: positiveIntSchema.default(FUNCTIONS_FILE_DEFAULTS.timeoutMs),
    environment: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()], { error: 'values must be strings' }), {
        error: 'must be a mapping of names to values',
      })
      .default({}),
    scaling: z
      .strictObject({
        min: nonNegativeInt.optional(),
        max: positiveIntSchema.optional(),
        target_concurrency: positiveIntSchema.optional(),
        idle_timeout_s: positiveIntSchema.optional(),
      })
      .optional(),
    isolation: z.enum(['none', 'sandbox'], { error: 'must be "none" or "sandbox"' }).default('none'),
  })
  .superRefine((fn, ctx) => {
    const needs = { process: 'handler_path', node: 'code', wasm: 'wasm' } as const;
    const field = needs[fn.runtime];
    if (fn[field] === undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: `is required for a ${fn.runtime} function` });
    }
    if (fn.runtime === 'process' && fn.trigger_port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['trigger_port'], message: 'is required for a process function' });
    }
    const min = fn.scaling?.min;
    const max = fn.scaling?.max;
    if (min !== undefined && max !== undefined && min > max) {
      ctx.addIssue({ code: 'custom', path: ['scaling', 'min'], message: `must not be above scaling.max (${max})` });
    }
  });

/** The zod schema of a functions file (snake_case keys as written). Unknown keys are errors. */
export const functionsFileSchema = z
  .strictObject({
    orchestrator: z
      .strictObject({
        shm_buffer_size: positiveIntSchema.default(FUNCTIONS_FILE_DEFAULTS.shmBufferSize),
        warm_pool_size: nonNegativeInt.default(FUNCTIONS_FILE_DEFAULTS.warmPoolSize),
        restore_timeout_ms: positiveIntSchema.default(FUNCTIONS_FILE_DEFAULTS.restoreTimeoutMs),
        snapshot_dir: nonEmptyStringSchema.default(FUNCTIONS_FILE_DEFAULTS.snapshotDir),
        // Aether's extension: how long a handler has to send READY and listen.
        start_timeout_ms: positiveIntSchema.default(FUNCTIONS_FILE_DEFAULTS.startTimeoutMs),
      })
      .prefault({}),
    functions: z.array(functionSchema, { error: 'must be a list of functions' }).default([]),
  })
  .superRefine((file, ctx) => {
    const ids = new Map<string, number>();
    const ports = new Map<number, number>();
    file.functions.forEach((fn, i) => {
      const sameId = ids.get(fn.id);
      if (sameId !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['functions', i, 'id'],
          message: `duplicate id "${fn.id}" (also functions[${sameId}])`,
        });
      } else ids.set(fn.id, i);
      if (fn.trigger_port === undefined) return;
      const samePort = ports.get(fn.trigger_port);
      if (samePort !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['functions', i, 'trigger_port'],
          message: `duplicate trigger_port ${fn.trigger_port} (also functions[${samePort}])`,
        });
      } else ports.set(fn.trigger_port, i);
    });
  });

/** One function of a functions file, with defaults filled in. */
export interface FunctionSpec {
  id: string;
  runtime: (typeof FUNCTION_RUNTIMES)[number];
  memoryLimitMb: number;
  /** The public port Aether owns for this function (required for process functions). */
  triggerPort?: number | undefined;
  /** Process runtime: the executable, relative paths from the file's directory. */
  handlerPath?: string | undefined;
  /** Node runtime: a zip or a directory. */
  code?: string | undefined;
  /** WASM runtime: the module. */
  wasm?: string | undefined;
  timeoutMs: number;
  environment: Record<string, string>;
  scaling: { min: number; max: number; targetConcurrency: number; idleTimeoutS: number };
  isolation: 'none' | 'sandbox';
}

/** A functions file with every default filled in. */
export interface ResolvedFunctionsFile {
  orchestrator: {
    shmBufferSize: number;
    warmPoolSize: number;
    restoreTimeoutMs: number;
    snapshotDir: string;
    /** How long a handler has to send READY and listen on its port. */
    startTimeoutMs: number;
  };
  functions: FunctionSpec[];
}

function toResolved(file: z.output<typeof functionsFileSchema>): ResolvedFunctionsFile {
  const o = file.orchestrator;
  const d = FUNCTIONS_FILE_DEFAULTS;
  return {
    orchestrator: {
      shmBufferSize: o.shm_buffer_size,
      warmPoolSize: o.warm_pool_size,
      restoreTimeoutMs: o.restore_timeout_ms,
      snapshotDir: o.snapshot_dir,
      startTimeoutMs: o.start_timeout_ms,
    },
    functions: file.functions.map((fn) => {
      // Process functions keep an instance up by default (seed 000 starts them with `up`).
      const min = fn.scaling?.min ?? (fn.runtime === 'process' ? 1 : 0);
      return {
        id: fn.id,
        runtime: fn.runtime,
        memoryLimitMb: fn.memory_limit_mb,
        triggerPort: fn.trigger_port,
        handlerPath: fn.handler_path,
        code: fn.code,
        wasm: fn.wasm,
        timeoutMs: fn.timeout_ms,
        environment: Object.fromEntries(Object.entries(fn.environment).map(([k, v]) => [k, String(v)])),
        scaling: {
          min,
          max: fn.scaling?.max ?? Math.max(min, d.maxInstances),
          targetConcurrency: fn.scaling?.target_concurrency ?? d.targetConcurrency,
          idleTimeoutS: fn.scaling?.idle_timeout_s ?? d.idleTimeoutS,
        },
        isolation: fn.isolation,
      };
    }),
  };
}

function yamlKeyName(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

type YamlDocument = ReturnType<typeof parseDocument>;

/** Finds the line of a key path in a parsed document: the key itself for a mapping entry, else the value's node. */
function yamlLocator(
  doc: YamlDocument,
  lines: LineCounter,
): (path: readonly (string | number)[]) => number | undefined {
  const lineOf = (node: Node | null | undefined): number | undefined =>
    node?.range ? lines.linePos(node.range[0]).line : undefined;
  return (path) => {
    const parent: unknown = path.length === 0 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (isMap(parent) && typeof last === 'string') {
      const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === last);
      if (pair !== undefined) return lineOf(pair.key as Node);
    }
    const node = doc.getIn(path, true) as Node | undefined;
    return lineOf(node) ?? lineOf(parent as Node | undefined);
  };
}

/**
 * The 1-based line of a key path (e.g. `['functions', 0, 'handler_path']`) in
 * a functions file's text, for problems found after parsing (a missing handler).
 */
export function functionsFileLine(text: string, path: readonly (string | number)[]): number | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return yamlLocator(doc, lines)(path);
}

/**
 * Parses the text of a functions file (YAML).
 * @throws TerminalError AETHER_E_CONFIG_INVALID with details `{file, line, key}`
 *   (`problems` when there are several)
 * @example
 * const file = parseFunctionsFile('functions:\n  - id: hello\n    trigger_port: 8080\n    handler_path: ./h.py\n', 'hello.yaml');
 */
export function parseFunctionsFile(text: string, fileName: string): ResolvedFunctionsFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const pos = lines.linePos(syntax.pos[0]);
    const firstLine = syntax.message.split('\n')[0] ?? syntax.message;
    throw new TerminalError(
      'AETHER_E_CONFIG_INVALID',
      `${fileName}:${pos.line}:${pos.col}: YAML syntax error: ${firstLine}`,
      { file: fileName, line: pos.line, column: pos.col },
    );
  }
  const data: unknown = doc.toJS() ?? {};
  const parsed = functionsFileSchema.safeParse(data);
  if (parsed.success) return toResolved(parsed.data);

  const format: ConfigFormat = {
    locate: yamlLocator(doc, lines),
    keyName: yamlKeyName,
    sectionName: (path) => (path.length === 0 ? 'the top level' : yamlKeyName(path)),
    objectWord: 'mapping',
  };
  const problems: ConfigProblem[] = configProblems(functionsFileSchema, parsed.error, data, format);
  throw configInvalid(fileName, problems);
}

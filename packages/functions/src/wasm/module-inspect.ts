/**
 * Checks an uploaded WebAssembly module before Aether compiles or runs it. The
 * JS API does not say how much memory a module asks for, so this file reads the
 * few sections that matter (import, memory, export) with the binary reader of
 * wasm-binary.ts. memory-import.ts reuses `readModule` to turn the module's
 * memory into an import the host bounds and pools.
 */
import { createHash } from 'node:crypto';

import { aetherError, type AetherError } from '@aether/core';

import {
  HEADER_BYTES,
  MalformedModule,
  Reader,
  SECTION_EXPORT,
  SECTION_IMPORT,
  SECTION_MEMORY,
  sections,
  type Limits,
  type Section,
} from './wasm-binary.js';

/** Bytes in one WebAssembly memory page. */
export const WASM_PAGE_BYTES = 65_536;

/** Largest page count of a 32-bit memory (4 GiB). */
export const MAX_PAGES_32 = 65_536;

/** The import module of WASI preview 1, the only host API Aether provides. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/** What Aether needs to know about a module's linear memory. */
export interface ModuleMemory {
  /** Defined by the module, imported from the host, or absent. */
  kind: 'defined' | 'imported' | 'none';
  /** Pages (64 KiB) the memory has at instantiation; 0 when absent. */
  initialPages: number;
  /** The declared maximum in pages, when the module declares one. */
  maxPages?: number;
  /** For an imported memory: the import's module name (usually `env`). */
  importModule?: string;
  /** For an imported memory: the import's field name (usually `memory`). */
  importName?: string;
}

/** The result of {@link inspectModule}. */
export interface ModuleInfo {
  /** sha256 of the module bytes as given, lower-case hex. */
  hash: string;
  sizeBytes: number;
  memory: ModuleMemory;
  /** Distinct names the module imports from `wasi_snapshot_preview1`, in import order. */
  wasiImports: string[];
}

/** Limits of {@link inspectModule}. */
export interface InspectOptions {
  /** Largest accepted module, in bytes. */
  maxModuleBytes: number;
  /** Memory limit of one instance, in bytes: the initial memory must fit in it. */
  memoryLimitBytes: number;
}

type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';
const EXTERN_KINDS: readonly ExternKind[] = ['function', 'table', 'memory', 'global', 'tag'];

/** An import as {@link readModule} decodes it. */
export interface ParsedImport {
  module: string;
  name: string;
  kind: ExternKind;
  /** Set for memory imports. */
  limits?: Limits;
}

/** The sections of a module up to its export section, as {@link readModule} decodes them. */
export interface ParsedModule {
  imports: ParsedImport[];
  /** Memories the module defines (memory section). */
  memories: Limits[];
  exports: { name: string; kind: ExternKind }[];
  /** Every section up to and including the export section, in module order (custom ones too). */
  sections: Section[];
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

function externKind(byte: number): ExternKind {
  const kind = EXTERN_KINDS[byte];
  if (kind === undefined) throw new MalformedModule(`unknown import/export kind 0x${byte.toString(16)}`);
  return kind;
}

function readImport(r: Reader): ParsedImport {
  const module = r.name();
  const name = r.name();
  const kind = externKind(r.byte());
  switch (kind) {
    case 'function':
      r.u32(); // type index
      return { module, name, kind };
    case 'table':
      r.valueType();
      r.limits();
      return { module, name, kind };
    case 'memory':
      return { module, name, kind, limits: r.limits() };
    case 'global':
      r.valueType();
      r.byte(); // mutability
      return { module, name, kind };
    case 'tag':
      r.byte(); // attribute
      r.u32(); // type index
      return { module, name, kind };
  }
}

function checkHeader(bytes: Uint8Array): void {
  if (bytes.byteLength < 4 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw aetherError('AETHER_E_WASM_INVALID_MODULE', 'not a WebAssembly module: bad magic number', {
      sizeBytes: bytes.byteLength,
    });
  }
  if (bytes.byteLength < HEADER_BYTES) {
    throw aetherError('AETHER_E_WASM_INVALID_MODULE', 'invalid WebAssembly module: truncated header', {
      sizeBytes: bytes.byteLength,
    });
  }
  const version = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES).getUint32(4, true);
  if (version !== 1) {
    throw aetherError(
      'AETHER_E_WASM_INVALID_MODULE',
      `invalid WebAssembly module: binary version ${version} is not supported (expected 1)`,
      { version },
    );
  }
}

/**
 * Reads the sections up to the export section; later ones (start, element,
 * code, data) hold nothing this file needs. Custom sections are skipped.
 */
function parseModule(bytes: Uint8Array): ParsedModule {
  const parsed: ParsedModule = { imports: [], memories: [], exports: [], sections: [] };
  for (const section of sections(bytes)) {
    parsed.sections.push(section);
    const r = new Reader(bytes, section.entries, section.end);
    if (section.id === SECTION_IMPORT) {
      for (let n = section.count; n > 0; n--) parsed.imports.push(readImport(r));
    } else if (section.id === SECTION_MEMORY) {
      for (let n = section.count; n > 0; n--) parsed.memories.push(r.limits());
    } else if (section.id === SECTION_EXPORT) {
      for (let n = section.count; n > 0; n--) {
        const name = r.name();
        const kind = externKind(r.byte());
        r.u32(); // index
        parsed.exports.push({ name, kind });
      }
      break;
    }
  }
  return parsed;
}

function parseOrThrow(bytes: Uint8Array): ParsedModule {
  try {
    return parseModule(bytes);
  } catch (e) {
    if (e instanceof MalformedModule) {
      throw aetherError('AETHER_E_WASM_INVALID_MODULE', `invalid WebAssembly module: ${e.message}`, {}, e);
    }
    throw e;
  }
}

/**
 * Checks the header, then decodes the sections up to the export section.
 * Throws `AETHER_E_WASM_INVALID_MODULE` for a bad header, truncated or
 * malformed sections, and sections out of order. Not a validator.
 */
export function readModule(bytes: Uint8Array): ParsedModule {
  checkHeader(bytes);
  return parseOrThrow(bytes);
}

/**
 * Throws `AETHER_E_WASM_INVALID_MODULE` for shared (threads) and 64-bit
 * memories, which would escape the cap and the host's memory handling.
 */
export function checkMemoryFlags(limits: Limits): void {
  if (limits.flags !== 0x00 && limits.flags !== 0x01) {
    throw aetherError('AETHER_E_WASM_INVALID_MODULE', 'shared or 64-bit memories are not supported', {
      limitsFlags: limits.flags,
    });
  }
}

/** The JS API takes views of an ArrayBuffer only; a view of a SharedArrayBuffer is copied. */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/** The reason V8 gives for rejecting the module; only called once validation failed. */
function compileErrorReason(bytes: Uint8Array): string {
  try {
    new WebAssembly.Module(ownBuffer(bytes));
  } catch (e) {
    if (e instanceof Error) return e.message.replace(/^WebAssembly\.Module\(\): /, '');
  }
  return 'validation failed';
}

function unsupportedImport(imp: ParsedImport, why: string): AetherError {
  return aetherError(
    'AETHER_E_WASM_UNSUPPORTED_IMPORT',
    `the module imports ${imp.kind} ${imp.module}.${imp.name}, ${why}`,
    { module: imp.module, name: imp.name, kind: imp.kind },
  );
}

function checkImportsAndMemory(parsed: ParsedModule): { memory: ModuleMemory; wasiImports: string[] } {
  const wasiImports = new Set<string>();
  let memory: ModuleMemory = { kind: 'none', initialPages: 0 };
  for (const imp of parsed.imports) {
    if (imp.kind === 'function' && imp.module === WASI_MODULE) {
      wasiImports.add(imp.name);
    } else if (imp.kind === 'memory' && imp.limits !== undefined && memory.kind === 'none') {
      checkMemoryFlags(imp.limits);
      memory = { kind: 'imported', ...pages(imp.limits), importModule: imp.module, importName: imp.name };
    } else if (imp.kind === 'memory') {
      throw unsupportedImport(imp, 'but the host provides only one memory');
    } else {
      throw unsupportedImport(imp, `but Aether provides only WASI preview 1 functions (${WASI_MODULE})`);
    }
  }
  const defined = parsed.memories[0];
  if (defined !== undefined) {
    if (memory.kind !== 'none' || parsed.memories.length > 1) {
      throw aetherError('AETHER_E_WASM_INVALID_MODULE', 'modules with more than one memory are not supported');
    }
    checkMemoryFlags(defined);
    memory = { kind: 'defined', ...pages(defined) };
  }
  return { memory, wasiImports: [...wasiImports] };
}

function pages(limits: Limits): { initialPages: number; maxPages?: number } {
  return limits.max === undefined
    ? { initialPages: limits.initial }
    : { initialPages: limits.initial, maxPages: limits.max };
}

/**
 * AETHER_E_WASM_MEMORY_LIMIT for a module whose memory at start does not fit
 * in the limit; inspectModule, importMemory and runInstance all check it.
 */
export function initialMemoryTooLarge(initialPages: number, limitBytes: number): AetherError {
  const initialBytes = initialPages * WASM_PAGE_BYTES;
  return aetherError(
    'AETHER_E_WASM_MEMORY_LIMIT',
    `the module needs ${initialBytes / 1024} KB of memory at start, above the limit of ${Math.floor(limitBytes / 1024)} KB`,
    { initialBytes, limitBytes },
  );
}

/**
 * Checks that `bytes` is a WASI command module Aether can run, in this order:
 * size, validity, a `_start` export, imports (only `wasi_snapshot_preview1`
 * functions and at most one memory), initial memory within the limit.
 * Throws `AETHER_E_WASM_TOO_LARGE`, `AETHER_E_WASM_INVALID_MODULE`,
 * `AETHER_E_WASM_NO_START`, `AETHER_E_WASM_UNSUPPORTED_IMPORT` or
 * `AETHER_E_WASM_MEMORY_LIMIT`.
 */
export function inspectModule(bytes: Uint8Array, opts: InspectOptions): ModuleInfo {
  if (bytes.byteLength > opts.maxModuleBytes) {
    throw aetherError(
      'AETHER_E_WASM_TOO_LARGE',
      `the module is ${bytes.byteLength} bytes, above the limit of ${opts.maxModuleBytes} bytes`,
      { sizeBytes: bytes.byteLength, maxBytes: opts.maxModuleBytes },
    );
  }
  checkHeader(bytes);
  if (!WebAssembly.validate(ownBuffer(bytes))) {
    throw aetherError('AETHER_E_WASM_INVALID_MODULE', `invalid WebAssembly module: ${compileErrorReason(bytes)}`, {
      sizeBytes: bytes.byteLength,
    });
  }
  const parsed = parseOrThrow(bytes);
  if (!parsed.exports.some((e) => e.name === '_start' && e.kind === 'function')) {
    throw aetherError(
      'AETHER_E_WASM_NO_START',
      'the module exports no _start function: it is a library (reactor), not a WASI command',
      { exports: parsed.exports.map((e) => e.name) },
    );
  }
  const { memory, wasiImports } = checkImportsAndMemory(parsed);
  if (memory.initialPages * WASM_PAGE_BYTES > opts.memoryLimitBytes) {
    throw initialMemoryTooLarge(memory.initialPages, opts.memoryLimitBytes);
  }
  return {
    hash: createHash('sha256').update(bytes).digest('hex'),
    sizeBytes: bytes.byteLength,
    memory,
    wasiImports,
  };
}

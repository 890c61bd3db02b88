/**
 * Turns a module's own memory into an imported one. A module that defines its
 * memory gets a fresh `WebAssembly.Memory` from V8 at every instantiation, and
 * that allocation (a large virtual reservation with guard pages) was ~80% of
 * a small function's run. A module that imports its memory can be handed one
 * the worker keeps and zeroes between runs (memory-pool.ts), and the host
 * bounds it with the maximum of the memory it creates.
 *
 * The rewrite is section-level: the memory section goes, and an import of
 * `aether.memory` with the same initial size and the capped maximum joins the
 * import section. Imported memories come before defined ones and there is only
 * one, so memory index 0 still names it: code, data segments and the `memory`
 * export stay as they are.
 */
import { aetherError } from '@aether/core';

import {
  MAX_PAGES_32,
  WASM_PAGE_BYTES,
  checkMemoryFlags,
  initialMemoryTooLarge,
  readModule,
  type ModuleMemory,
  type ParsedModule,
} from './module-inspect.js';
import {
  HEADER_BYTES,
  SECTION_CUSTOM,
  SECTION_IMPORT,
  SECTION_MEMORY,
  SECTION_TYPE,
  Writer,
  encodeU32,
  type Limits,
} from './wasm-binary.js';

/** Import module name of the memory {@link importMemory} makes a module import. */
export const AETHER_MEMORY_MODULE = 'aether';
/** Import field name of the memory {@link importMemory} makes a module import. */
export const AETHER_MEMORY_NAME = 'memory';

const KIND_MEMORY = 0x02;
const LIMITS_WITH_MAX = 0x01;
const encoder = new TextEncoder();

function encodeName(name: string): number[] {
  const bytes = encoder.encode(name);
  return [...encodeU32(bytes.length), ...bytes];
}

/** The module's only memory, imported or defined; throws for more than one. */
function onlyMemory(parsed: ParsedModule): { limits: Limits; imported: boolean } | undefined {
  const imported = parsed.imports.filter((i) => i.kind === 'memory');
  if (imported.length + parsed.memories.length > 1) {
    throw aetherError('AETHER_E_WASM_INVALID_MODULE', 'modules with more than one memory are not supported', {
      importedMemories: imported.length,
      definedMemories: parsed.memories.length,
    });
  }
  const limits = imported[0]?.limits;
  if (limits !== undefined) return { limits, imported: true };
  const defined = parsed.memories[0];
  return defined === undefined ? undefined : { limits: defined, imported: false };
}

/**
 * Returns a copy of `bytes` in which the memory the module defines is
 * imported as `aether.memory` ({@link AETHER_MEMORY_MODULE},
 * {@link AETHER_MEMORY_NAME}) with the same initial size and a maximum of
 * `min(declared maximum, maxPages)`. The import is appended to the import
 * section, which is created (after the type section, custom sections kept in
 * place) when the module has none. A module that already imports its memory,
 * or has none, is copied unchanged: the host bounds an imported memory with
 * the `WebAssembly.Memory` it passes ({@link importedMemory} says which).
 *
 * Throws `AETHER_E_WASM_MEMORY_LIMIT` when the initial memory exceeds
 * `maxPages`, and `AETHER_E_WASM_INVALID_MODULE` for shared or 64-bit
 * memories, more than one memory, an existing `aether.memory` import, and
 * malformed input. Not a validator: compile the result as usual.
 *
 * @example
 * const bytes = importMemory(instrumentMemoryGrow(code).bytes, limitPages);
 * const memory = importedMemory(inspectModule(code, limits).memory, limitPages);
 * runInstance(await WebAssembly.compile(bytes), stdin, { memoryLimitBytes, maxOutputBytes, memory });
 */
export function importMemory(bytes: Uint8Array, maxPages: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(maxPages) || maxPages < 0 || maxPages > MAX_PAGES_32) {
    throw new RangeError(`maxPages must be an integer from 0 to ${MAX_PAGES_32}, got ${maxPages}`);
  }
  const parsed = readModule(bytes);
  const memory = onlyMemory(parsed);
  if (memory !== undefined) {
    checkMemoryFlags(memory.limits);
    if (memory.limits.initial > maxPages)
      throw initialMemoryTooLarge(memory.limits.initial, maxPages * WASM_PAGE_BYTES);
  }
  // A copy either way: callers get bytes they may hand to WebAssembly.compile.
  if (memory === undefined || memory.imported) return bytes.slice();
  if (parsed.imports.some((i) => i.module === AETHER_MEMORY_MODULE && i.name === AETHER_MEMORY_NAME)) {
    throw aetherError(
      'AETHER_E_WASM_INVALID_MODULE',
      `the module already imports ${AETHER_MEMORY_MODULE}.${AETHER_MEMORY_NAME}`,
    );
  }

  const { initial, max } = memory.limits;
  const entry = [
    ...encodeName(AETHER_MEMORY_MODULE),
    ...encodeName(AETHER_MEMORY_NAME),
    KIND_MEMORY,
    LIMITS_WITH_MAX,
    ...encodeU32(initial),
    ...encodeU32(Math.min(max ?? maxPages, maxPages)),
  ];
  const out = new Writer(bytes.byteLength + entry.length + 16);
  out.bytes(bytes.subarray(0, HEADER_BYTES));
  const importSection = (existing: Uint8Array): void => {
    const content = new Writer(existing.length + entry.length + 5);
    content.u32(parsed.imports.length + 1);
    content.bytes(existing);
    content.bytes(entry);
    out.section(SECTION_IMPORT, content.view());
  };

  let inserted = parsed.sections.some((s) => s.id === SECTION_IMPORT);
  for (const s of parsed.sections) {
    // a created import section goes before the first section that must follow it (at the latest the memory section)
    if (!inserted && s.id !== SECTION_CUSTOM && s.id !== SECTION_TYPE) {
      importSection(new Uint8Array(0));
      inserted = true;
    }
    if (s.id === SECTION_IMPORT) importSection(bytes.subarray(s.entries, s.end));
    else if (s.id !== SECTION_MEMORY) out.bytes(bytes.subarray(s.start, s.end)); // the import replaces the memory section
  }
  // the sections after the export section, which readModule does not decode
  const last = parsed.sections[parsed.sections.length - 1];
  out.bytes(bytes.subarray(last === undefined ? HEADER_BYTES : last.end));
  return out.view().slice();
}

/**
 * What the memory of a module looks like after {@link importMemory} with the
 * same `maxPages`: a defined memory becomes an import of `aether.memory`, an
 * imported one keeps its module and name; both get `maxPages` = the cap
 * (`min(declared maximum, maxPages)`). No memory stays none. This is the
 * `memory` option runInstance needs for the rewritten module.
 */
export function importedMemory(memory: ModuleMemory, maxPages: number): ModuleMemory {
  if (memory.kind === 'none') return memory;
  const cap = Math.min(memory.maxPages ?? maxPages, maxPages);
  return memory.kind === 'imported'
    ? { ...memory, maxPages: cap }
    : {
        kind: 'imported',
        initialPages: memory.initialPages,
        maxPages: cap,
        importModule: AETHER_MEMORY_MODULE,
        importName: AETHER_MEMORY_NAME,
      };
}

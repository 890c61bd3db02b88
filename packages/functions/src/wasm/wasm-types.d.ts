/**
 * WebAssembly's JS API types (WebAssembly.Module, Memory, Instance...) exist
 * only in TypeScript's DOM lib: @types/node 20 has none. This one reference
 * brings them to every file of the package (and to the lint program, which
 * includes it), instead of a `/// <reference lib="dom" />` in each file.
 * Import MessagePort from node:worker_threads: the DOM has one of its own.
 */
/// <reference lib="dom" />

/**
 * @aether/functions: the function registry and the runtimes that execute
 * functions (WebAssembly/WASI in worker threads).
 */
export {};

/**
 * The error catalogue: every error Aether reports has a stable code, an HTTP
 * status, a gRPC status and a disposition (what the engine should do with it).
 * Codes are part of the public API: never rename or reuse a retired code.
 */

/** What the engine should do when it meets an error of this kind. */
export type ErrorDisposition = 'retryable' | 'terminal' | 'determinism';

/** One entry of the catalogue. */
export interface ErrorSpec {
  /** HTTP status used when the error crosses the HTTP API. */
  readonly http: number;
  /** gRPC status code (numeric, as in @grpc/grpc-js `status`). */
  readonly grpc: number;
  /** Whether a retry may succeed. */
  readonly disposition: ErrorDisposition;
  /** A short hint printed by the CLI under the message. */
  readonly hint?: string;
}

// gRPC status codes, spelled out so core does not depend on a gRPC library.
const G = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** Every error code Aether can report, with its transport mapping. */
export const ERROR_CATALOGUE = {
  // generic / transport
  AETHER_E_INTERNAL: { http: 500, grpc: G.INTERNAL, disposition: 'retryable' },
  AETHER_E_INVALID_ARGUMENT: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, disposition: 'terminal' },
  AETHER_E_PAYLOAD_TOO_LARGE: {
    http: 413,
    grpc: G.RESOURCE_EXHAUSTED,
    disposition: 'terminal',
    hint: 'raise [server] max_payload_bytes in aether.toml, or send less data',
  },
  AETHER_E_UNAUTHENTICATED: {
    http: 401,
    grpc: G.UNAUTHENTICATED,
    disposition: 'terminal',
    hint: 'send "Authorization: Bearer <token>" with the token of [auth] token',
  },
  AETHER_E_UNAVAILABLE: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'is the server running? start it with `aether serve`',
  },
  AETHER_E_TIMEOUT: { http: 504, grpc: G.DEADLINE_EXCEEDED, disposition: 'retryable' },
  AETHER_E_SHUTTING_DOWN: { http: 503, grpc: G.UNAVAILABLE, disposition: 'retryable' },
  AETHER_E_UNSUPPORTED_MEDIA_TYPE: {
    http: 415,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'send JSON bodies with "Content-Type: application/json"',
  },

  // CLI and configuration
  AETHER_E_USAGE: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal', hint: 'see `aether --help`' },
  AETHER_E_CONFIG_INVALID: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_CONFIG_UNREADABLE: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_INSECURE_BIND: {
    http: 400,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'terminal',
    hint: 'set [auth] token (or AETHER_TOKEN), bind to 127.0.0.1, or pass --insecure',
  },
  AETHER_E_PORT_IN_USE: {
    http: 409,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'terminal',
    hint: 'another process listens on that port; choose another with --grpc-port/--http-port',
  },
  AETHER_E_INIT_TARGET_EXISTS: {
    http: 409,
    grpc: G.ALREADY_EXISTS,
    disposition: 'terminal',
    hint: 'choose another --output directory or remove the existing one',
  },

  // stores
  AETHER_E_STORE_UNAVAILABLE: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'check that the database server is running and the URL in --db is right',
  },
  AETHER_E_STORE_UNREADABLE: {
    http: 500,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'terminal',
    hint: 'check the file permissions of the database file and its directory',
  },
  AETHER_E_STORE_LOCKED: {
    http: 500,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'terminal',
    hint: 'another Aether server uses this database file; stop it or use another --db',
  },
  AETHER_E_STORE_CORRUPT: {
    http: 500,
    grpc: G.DATA_LOSS,
    disposition: 'terminal',
    hint: 'the file is not an Aether SQLite database; restore a backup or point --db elsewhere',
  },
  AETHER_E_STORE_FAILED: { http: 500, grpc: G.INTERNAL, disposition: 'retryable' },

  // workflows
  AETHER_E_WF_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, disposition: 'terminal' },
  AETHER_E_WF_UNKNOWN_TYPE: {
    http: 400,
    grpc: G.NOT_FOUND,
    disposition: 'terminal',
    hint: 'no worker has registered this workflow type; start a worker with client.serve([...])',
  },
  AETHER_E_WF_INPUT_NOT_SERIALIZABLE: {
    http: 400,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'workflow arguments and step results must be JSON-serializable',
  },
  AETHER_E_WF_ILLEGAL_TRANSITION: { http: 409, grpc: G.FAILED_PRECONDITION, disposition: 'terminal' },
  AETHER_E_WF_ALREADY_EXISTS: { http: 409, grpc: G.ALREADY_EXISTS, disposition: 'terminal' },
  AETHER_E_WF_FAILED: { http: 500, grpc: G.ABORTED, disposition: 'terminal' },
  AETHER_E_WF_CANCELLED: { http: 409, grpc: G.CANCELLED, disposition: 'terminal' },
  AETHER_E_WF_NON_DETERMINISM: {
    http: 500,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'determinism',
    hint: 'workflow code must call the same steps in the same order on every replay',
  },
  AETHER_E_WF_LEASE_LOST: { http: 409, grpc: G.ABORTED, disposition: 'retryable' },
  AETHER_E_STEP_FAILED: { http: 500, grpc: G.ABORTED, disposition: 'terminal' },
  AETHER_E_ACTIVITY_TIMEOUT: { http: 504, grpc: G.DEADLINE_EXCEEDED, disposition: 'retryable' },
  AETHER_E_ACTIVITY_HEARTBEAT_TIMEOUT: { http: 504, grpc: G.DEADLINE_EXCEEDED, disposition: 'retryable' },
  AETHER_E_WORKER_NOT_REGISTERED: { http: 409, grpc: G.FAILED_PRECONDITION, disposition: 'retryable' },

  // functions (registry, WASM runtime)
  AETHER_E_FN_NOT_FOUND: {
    http: 404,
    grpc: G.NOT_FOUND,
    disposition: 'terminal',
    hint: 'list deployed functions with GET /api/functions/manifest',
  },
  AETHER_E_FN_INVALID: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_FN_EXISTS: {
    http: 409,
    grpc: G.ALREADY_EXISTS,
    disposition: 'terminal',
    hint: 'function names are unique across runtimes: pick another name or delete the other function',
  },
  AETHER_E_FN_HANDLER_ERROR: {
    http: 500,
    grpc: G.INTERNAL,
    disposition: 'retryable',
    hint: "the function's handler threw: see the node's log for its stack",
  },
  AETHER_E_FN_NO_CODE: {
    http: 409,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'terminal',
    hint: 'upload its code first: POST /api/functions/{id}/code with file=@code.zip',
  },
  AETHER_E_FN_RUNTIME_UNSUPPORTED: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_FN_OVERLOADED: {
    http: 503,
    grpc: G.RESOURCE_EXHAUSTED,
    disposition: 'retryable',
    hint: 'every worker is busy and the queue is full: retry after the Retry-After delay',
  },
  AETHER_E_WASM_INVALID_BASE64: {
    http: 400,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'wasm_b64 must be the module bytes in standard base64, e.g. `base64 -w0 fn.wasm`',
  },
  AETHER_E_WASM_INVALID_MODULE: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_WASM_NO_START: {
    http: 400,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'build a WASI command module (e.g. `clang --target=wasm32-wasi`), which exports _start',
  },
  AETHER_E_WASM_UNSUPPORTED_IMPORT: { http: 400, grpc: G.INVALID_ARGUMENT, disposition: 'terminal' },
  AETHER_E_WASM_TOO_LARGE: {
    http: 413,
    grpc: G.RESOURCE_EXHAUSTED,
    disposition: 'terminal',
    hint: 'raise [functions] max_module_size in aether.toml, or strip the module (wasm-strip)',
  },
  AETHER_E_WASM_TIMEOUT: {
    http: 504,
    grpc: G.DEADLINE_EXCEEDED,
    disposition: 'retryable',
    hint: 'the function ran past its exec_timeout and was stopped',
  },
  AETHER_E_WASM_MEMORY_LIMIT: {
    http: 500,
    grpc: G.RESOURCE_EXHAUSTED,
    disposition: 'terminal',
    hint: 'raise the function memory_limit_mb or [functions] memory_limit',
  },
  AETHER_E_WASM_TRAP: { http: 500, grpc: G.ABORTED, disposition: 'terminal' },
  AETHER_E_WASM_EXIT: { http: 500, grpc: G.ABORTED, disposition: 'terminal' },
  AETHER_E_WASM_OUTPUT_TOO_LARGE: { http: 502, grpc: G.RESOURCE_EXHAUSTED, disposition: 'terminal' },
  AETHER_E_WASM_WORKER_CRASHED: { http: 500, grpc: G.INTERNAL, disposition: 'retryable' },
  AETHER_E_WASM_TRANSPORT_CORRUPT: { http: 500, grpc: G.DATA_LOSS, disposition: 'retryable' },

  // process functions (seed 000's handler protocol, instances, limits)
  AETHER_E_FN_START_TIMEOUT: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'the handler must connect to $AETHER_SOCKET and send READY; raise orchestrator.start_timeout_ms if it is slow to start',
  },
  AETHER_E_FN_HANDSHAKE_INVALID: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'terminal',
    hint: 'the handler must send exactly the 5 bytes READY on $AETHER_SOCKET',
  },
  AETHER_E_FN_EXITED_EARLY: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'the handler exited before it sent READY: see its stderr above',
  },
  AETHER_E_FN_SPAWN_FAILED: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'terminal',
    hint: 'check that handler_path exists and is executable (chmod +x) with a valid #! line',
  },
  AETHER_E_FN_PORT_IN_USE: {
    http: 409,
    grpc: G.ALREADY_EXISTS,
    disposition: 'terminal',
    hint: 'another process listens on this trigger_port: stop it or choose another port',
  },
  AETHER_E_FN_TIMEOUT: {
    http: 504,
    grpc: G.DEADLINE_EXCEEDED,
    disposition: 'retryable',
    hint: 'the handler did not answer within the function timeout_ms',
  },
  AETHER_E_FN_INSTANCE_CRASHED: {
    http: 502,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'the instance serving the request exited; it is replaced with backoff',
  },
  AETHER_E_FN_OOM: {
    http: 502,
    grpc: G.RESOURCE_EXHAUSTED,
    disposition: 'retryable',
    hint: 'the instance was killed by the kernel at its memory limit: raise memory_limit_mb',
  },
  AETHER_E_FN_UNAVAILABLE: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'no instance of the function is ready: see `aether list` for its last exit',
  },
  AETHER_E_FN_LIMIT_UNAVAILABLE: { http: 500, grpc: G.FAILED_PRECONDITION, disposition: 'terminal' },
  AETHER_E_SANDBOX_UNAVAILABLE: {
    http: 500,
    grpc: G.FAILED_PRECONDITION,
    disposition: 'terminal',
    hint: 'isolation: sandbox needs bubblewrap (apt-get install bubblewrap)',
  },
  AETHER_E_ORCHESTRATOR_NOT_RUNNING: {
    http: 503,
    grpc: G.UNAVAILABLE,
    disposition: 'terminal',
    hint: 'start one with `aether -c functions.yaml up`',
  },

  // node functions: code store and zips
  AETHER_E_CODE_INVALID_ZIP: {
    http: 400,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'upload an unencrypted zip made with stored or deflate entries, e.g. `cd my-fn && zip -r ../code.zip .`',
  },
  AETHER_E_CODE_UNSAFE_PATH: {
    http: 400,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'zip entries must be plain files and folders with relative paths: no "..", absolute paths, backslashes or symlinks',
  },
  AETHER_E_CODE_TOO_LARGE: {
    http: 413,
    grpc: G.RESOURCE_EXHAUSTED,
    disposition: 'terminal',
    hint: 'unpacked code has limits on files, bytes and compression ratio: drop dev dependencies (`npm prune --omit=dev`) or bundle the function',
  },
  AETHER_E_CODE_NO_HANDLER: {
    http: 400,
    grpc: G.INVALID_ARGUMENT,
    disposition: 'terminal',
    hint: 'handler.js must be at the root of the zip: zip the contents of the function folder (`cd my-fn && zip -r ../code.zip .`)',
  },

  // edge nodes
  AETHER_E_NODE_NOT_FOUND: { http: 404, grpc: G.NOT_FOUND, disposition: 'terminal' },
  AETHER_E_NODE_UNREACHABLE: { http: 502, grpc: G.UNAVAILABLE, disposition: 'retryable' },
  AETHER_E_CONTROL_PLANE_UNREACHABLE: {
    http: 502,
    grpc: G.UNAVAILABLE,
    disposition: 'retryable',
    hint: 'check --control-plane and that `aether serve` runs there',
  },
} as const satisfies Record<string, ErrorSpec>;

/** A stable Aether error code such as `AETHER_E_WF_NOT_FOUND`. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Returns true when `code` is a code of the catalogue. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}

/** The catalogue entry of a code. */
export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_CATALOGUE[code];
}

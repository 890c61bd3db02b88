/**
 * @aether/core: shared types, the error catalogue, ids, config schemas and the
 * generated gRPC definitions. No I/O happens here.
 */
export { ERROR_CATALOGUE, errorSpec, isErrorCode } from './errors/catalogue.js';
export type { ErrorCode, ErrorDisposition, ErrorSpec } from './errors/catalogue.js';
export {
  AetherError,
  NonDeterminismError,
  RetryableError,
  TerminalError,
  aetherError,
  fromErrorBody,
  toAetherError,
} from './errors/aether-error.js';
export type { ErrorBody } from './errors/aether-error.js';
export {
  TERMINAL_STATES,
  WORKFLOW_STATES,
  assertTransition,
  canTransition,
  isTerminal,
  isWorkflowState,
} from './workflow/types.js';
export type {
  ActionRecord,
  StepKind,
  StepRecord,
  StepStatus,
  StoredError,
  WorkflowFilter,
  WorkflowPage,
  WorkflowRecord,
  WorkflowState,
} from './workflow/types.js';
export type { CommandResult, WorkerCommand, WorkerTask } from './workflow/protocol.js';
export * as proto from './proto/aether/v1/aether.js';
export {
  PERSISTENCE_MODES,
  SERVER_CONFIG_DEFAULTS,
  defaultServerConfig,
  isPersistenceMode,
  parseServerConfig,
  serverConfigFileSchema,
} from './config/server-config.js';
export type { PersistenceModeName, ResolvedServerConfig, ServerConfigFile } from './config/server-config.js';
export { durationSchema, parseDuration, parseSize, sizeSchema } from './config/units.js';
export { configInvalid, parseTomlConfig } from './config/toml-config.js';
export type { ConfigProblem } from './config/toml-config.js';
export { FUNCTIONS_CONFIG_DEFAULTS, NODE_FUNCTIONS_CONFIG_DEFAULTS, WASM_TRANSPORTS } from './config/schema-parts.js';
export type { ResolvedFunctionsConfig, ResolvedNodeFunctionsConfig } from './config/schema-parts.js';
export {
  EDGE_CONFIG_DEFAULTS,
  defaultEdgeConfig,
  edgeConfigFileSchema,
  parseEdgeConfig,
} from './config/edge-config.js';
export type { ResolvedEdgeConfig } from './config/edge-config.js';
export {
  FUNCTIONS_FILE_DEFAULTS,
  FUNCTION_RUNTIMES,
  functionsFileLine,
  functionsFileSchema,
  parseFunctionsFile,
} from './config/functions-file.js';
export type { FunctionSpec, ResolvedFunctionsFile } from './config/functions-file.js';

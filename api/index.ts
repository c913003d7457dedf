// The Function resource for the rest of Flint: types, names, durations, the manifest parser, and
// the management API's wire types.
export * from "./types.js";
export * from "./names.js";
export * from "./duration.js";
export { FUNCTION_API, FUNCTION_SCHEMA } from "./crd.generated.js";
export {
  MANIFEST_LIMITS,
  ManifestInvalidError,
  type ManifestErrorCode,
  formatFieldError,
  parseFunction,
  parseManifests,
  validateFunction,
  type FieldError,
  type ParseOptions,
  type ValidationResult,
} from "./parse.js";
export { parseManifestFile, readManifestFile } from "./manifest-file.js";
export { DEFAULT_UPSTREAM_PORT, watchdogEnv } from "./watchdog-env.js";
export type {
  AttemptRecord,
  CallRecord,
  CallState,
  DeadLetterEntry,
  DeadLetterList,
  ErrorBody,
  FunctionList,
  LogLine,
  LogList,
  PurgeResult,
  RedriveResult,
  ReplicaEntry,
  ReplicaList,
  ScaleAccepted,
  ScaleRequestBody,
  SystemInfo,
} from "./management.js";

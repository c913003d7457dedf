// The Function resource's TypeScript types: generated ones from the CRD plus the hand-written metadata.
import type { FunctionObject, FunctionSpec, FunctionStatus } from "./types.generated.js";

export type * from "./types.generated.js";

/** The parts of Kubernetes ObjectMeta that Flint reads; objects from the API server carry more. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  [field: string]: unknown;
}

/**
 * A validated Function with defaults applied: what the parser returns and what the controller,
 * gateway and local platform work with. The name and namespace are always set.
 */
export interface FunctionResource extends FunctionObject {
  apiVersion: "flint.dev/v1alpha1";
  kind: "Function";
  metadata: ObjectMeta & { name: string; namespace: string };
  spec: FunctionSpec;
  status?: FunctionStatus;
}

// Names and labels derived from a Function: one place, so the controller, gateway and CLI agree.
import { FUNCTION_API } from "./crd.generated.js";

/** Namespace used when a manifest or a call does not name one. */
export const DEFAULT_NAMESPACE = "default";

/** Label carried by every object Flint makes for a function: its name. */
export const FUNCTION_LABEL = `${FUNCTION_API.group}/function`;

/** Annotation holding the hash of the desired spec, so unchanged objects are not rewritten. */
export const SPEC_HASH_ANNOTATION = `${FUNCTION_API.group}/spec-hash`;

/**
 * Annotation `flint up` sets to a stamp of the files in a function's folder (names, sizes, change
 * times), so editing the handler's code rolls the function like editing its manifest does.
 */
export const SOURCE_STAMP_ANNOTATION = `${FUNCTION_API.group}/source-stamp`;

/** DNS-1123 label: what a Function (and so its Deployment and Service) may be called. */
export const DNS1123_LABEL_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_LABEL_MAX_LENGTH = 63;

/** Identifies one function across namespaces. */
export interface FunctionRef {
  name: string;
  namespace: string;
}

/** "namespace/name": the key for maps, logs and metrics labels. */
export function functionKey(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** Whether `name` is a valid function name. */
export function isValidFunctionName(name: string): boolean {
  return name.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL_RE.test(name);
}

/**
 * Parses the name in a call path: "hello" or "hello.staging" (OpenFaaS style). Returns undefined
 * when either part is not a DNS-1123 label.
 */
export function parseFunctionRef(
  text: string,
  defaultNamespace = DEFAULT_NAMESPACE,
): FunctionRef | undefined {
  const dot = text.indexOf(".");
  const name = dot === -1 ? text : text.slice(0, dot);
  const namespace = dot === -1 ? defaultNamespace : text.slice(dot + 1);
  if (!isValidFunctionName(name) || !isValidFunctionName(namespace)) return undefined;
  return { name, namespace };
}

/** Names of the Kubernetes objects made for a function. */
export const names = {
  deployment: (ref: FunctionRef): string => ref.name,
  service: (ref: FunctionRef): string => ref.name,
  /** Labels that select the function's pods; stable across spec changes. */
  selector: (ref: FunctionRef): Record<string, string> => ({ [FUNCTION_LABEL]: ref.name }),
};

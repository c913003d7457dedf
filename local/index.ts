// The local platform's adapters, for embedded/ (`flint up`): replicas as child processes (the
// supervisor is the EndpointSource and the autoscaler's target) and Functions from a manifest folder.
export { LiveStatusStore, observeReplicas, type LiveStatusOptions, type ReplicaView } from "./live-status.js";
export {
  FOLDER_LIMITS,
  ManifestFolder,
  scanFolder,
  type FolderScan,
  type ManifestEvent,
} from "./manifests.js";
export {
  DEFAULT_SUPERVISOR_OPTIONS,
  ReplicaSupervisor,
  type SupervisorEvent,
  type SupervisorOptions,
} from "./supervisor.js";

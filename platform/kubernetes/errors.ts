// Errors of the gateway's Kubernetes adapters; the gateway's own errors are in gateway/errors.ts.

/**
 * The API server could not be reached, or refused a request for a reason the caller cannot fix
 * (403 from missing RBAC, 5xx). Not a GatewayError: the client gets a 500 without the detail, which
 * is logged. `cause` holds the client's error.
 */
export class KubernetesApiError extends Error {
  readonly code = "KUBERNETES_API";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubernetesApiError";
  }
}

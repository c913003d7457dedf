// Every error the controller's pure parts raise, each with a stable `code`. A FunctionProblem also
// names the status condition it sets and the reason shown in `kubectl get functions`
// (platform/status.ts holds the condition set and the reasons).
import { REASON, type ProblemCondition, type StatusProblem } from "../platform/status.js";

/** The stable codes. */
export type ControllerErrorCode = "IMAGE_MISSING" | "PORT_CONFLICT" | "NOT_OWNED";

/** Base class: callers branch on `code` or `instanceof`, never on the message. */
export abstract class ControllerError extends Error {
  abstract readonly code: ControllerErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The conditions a problem can set to False; Ready follows from them (platform/status.ts). */
export type { ProblemCondition } from "../platform/status.js";

/**
 * Something about one Function that the user has to fix; retrying will not help. The reconciler
 * records it in the Function's status (condition `condition`, `reason`, the message) and waits
 * for the next change instead of retrying with backoff.
 */
export abstract class FunctionProblem extends ControllerError implements StatusProblem {
  abstract readonly condition: ProblemCondition;
  /** One CamelCase word, shown in the Reason column. */
  abstract readonly reason: string;
}

/** A Function without spec.image: Kubernetes has nothing to run. */
export class ImageMissingError extends FunctionProblem {
  readonly code = "IMAGE_MISSING";
  readonly condition = "ConfigValid";
  readonly reason = REASON.ImageMissing;
  constructor() {
    super(
      "spec.image is required on Kubernetes: build the function's folder into an image FROM the Flint watchdog " +
        "base image (docs/kubernetes.md) and set spec.image; `flint up` runs functions from their folder instead",
    );
  }
}

/** An http-mode server would listen on the watchdog's own port in the same pod. */
export class PortConflictError extends FunctionProblem {
  readonly code = "PORT_CONFLICT";
  readonly condition = "ConfigValid";
  readonly reason = REASON.PortConflict;
  constructor(readonly port: number) {
    super(
      `spec.handler.port ${port} is the watchdog's port in the pod; let the server listen on another port ` +
        "(the default is 8081) and set spec.handler.port to it",
    );
  }
}

/** An object with the name Flint would use exists and belongs to something else; Flint leaves it alone. */
export class NotOwnedError extends FunctionProblem {
  readonly code = "NOT_OWNED";
  readonly condition = "DeploymentReady";
  readonly reason = REASON.NotOwned;
  constructor(
    readonly kind: "Deployment" | "Service",
    readonly namespace: string,
    readonly objectName: string,
  ) {
    super(
      `${kind} ${namespace}/${objectName} already exists and is not owned by this Function; ` +
        `delete or rename it (kubectl -n ${namespace} delete ${kind.toLowerCase()} ${objectName}), or rename the Function`,
    );
  }
}

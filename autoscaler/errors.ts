// The autoscaler's errors: small classes with a stable `code`; callers branch on `code` or `instanceof`.

/** A scale spec that cannot be used, naming the field and the value. */
export class InvalidScaleSpecError extends Error {
  readonly code = "INVALID_SCALE_SPEC";
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`scale.${field} ${message}`, options);
    this.name = "InvalidScaleSpecError";
  }
}

/** A stored policy state that does not have the shape this policy writes (another policy's, or damaged). */
export class InvalidPolicyStateError extends Error {
  readonly code = "INVALID_POLICY_STATE";
  constructor(
    readonly policy: string,
    message: string,
  ) {
    super(`${policy} state: ${message}`);
    this.name = "InvalidPolicyStateError";
  }
}

/** A policy name that no policy answers to, e.g. on the simulator's command line. */
export class UnknownPolicyError extends Error {
  readonly code = "UNKNOWN_POLICY";
  constructor(
    readonly text: string,
    known: readonly string[],
  ) {
    super(`unknown policy ${JSON.stringify(text)}; known: ${known.join(", ")}`);
    this.name = "UnknownPolicyError";
  }
}

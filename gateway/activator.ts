// The activator: one function's scale-from-zero pokes. While calls wait and no replica is ready,
// exactly one poke is outstanding; one that has not produced a ready replica within the activation
// timeout is taken as lost and sent again. The calls themselves wait in the ReplicaPool's queue.
import type { FunctionRef } from "../api/index.js";
import type { Logger } from "pino";
import type { Clock, ScaleTarget } from "../platform/ports.js";

export interface ActivatorOptions {
  readonly ref: FunctionRef;
  readonly clock: Clock;
  readonly scaleTarget: ScaleTarget;
  readonly logger: Logger;
  /** How long a poke may go without a ready replica before it is sent again, in ms. */
  readonly activationTimeoutMs: number;
  /** Told about each poke sent (for metrics). */
  readonly onActivation?: () => void;
}

export class Activator {
  /** Pokes sent. */
  sent = 0;
  /** When the outstanding poke was sent; undefined when none is outstanding. */
  private sentMs: number | undefined;

  constructor(private readonly options: ActivatorOptions) {}

  /** Whether a poke is outstanding. */
  get outstanding(): boolean {
    return this.sentMs !== undefined;
  }

  /** Calls wait and no replica is ready: poke the platform, unless a poke is already outstanding. */
  request(waiting: number): void {
    if (this.sentMs !== undefined) return;
    const { clock, scaleTarget, logger, onActivation } = this.options;
    this.sentMs = clock.now();
    this.sent++;
    onActivation?.();
    logger.info({ waiting }, "no ready replica; activating");
    const failed = (error: unknown): void => logger.error({ err: error }, "activation request failed");
    try {
      scaleTarget.activate(this.options.ref).catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** A replica is ready: the outstanding poke (if any) has done its work. */
  satisfied(): void {
    this.sentMs = undefined;
  }

  /**
   * At a queue deadline with still no ready replica: a poke older than the activation timeout has
   * failed, so forget it and, when calls still wait, ask again rather than trust a lost poke.
   */
  checkOverdue(waiting: number): void {
    if (this.sentMs === undefined) return;
    const waitedMs = this.options.clock.now() - this.sentMs;
    if (waitedMs < this.options.activationTimeoutMs) return;
    this.options.logger.warn({ waitedMs }, "activation produced no ready replica in time");
    this.sentMs = undefined;
    if (waiting > 0) this.request(waiting);
  }
}

// One replica of a function as the dispatcher sees it: its address, its calls in flight, and a
// keep-alive connection pool bounded to what the dispatcher will ever send it.
import { Agent, request } from "node:http";

/**
 * `starting`: not seen ready yet (probed). `ready`: takes new calls. `draining`: finishes the calls it
 * has. `removed`: gone from the platform's replica set; its agent closes when its last call ends.
 */
export type ReplicaState = "starting" | "ready" | "draining" | "removed";

/** The readiness route every watchdog serves (DESIGN §4). */
export const READY_PATH = "/_/ready";

export class Replica {
  /** Calls sent to this replica and not yet finished. */
  inFlight = 0;
  /** The state the platform last reported; `state` may be ahead of it (a probe saw it ready first). */
  reported: ReplicaState;
  readonly agent: Agent;

  constructor(
    readonly id: string,
    readonly host: string,
    readonly port: number,
    public state: ReplicaState,
    maxSockets: number,
  ) {
    this.reported = state;
    // LIFO reuse keeps the busiest sockets warm and lets the rest reach the server's idle timeout;
    // Node honours the replica's `Keep-Alive: timeout` hint, so it never reuses a socket being closed.
    // noDelay: a call is one write each way; waiting for Nagle's ACK would only add latency.
    this.agent = new Agent({
      keepAlive: true,
      maxSockets,
      maxFreeSockets: maxSockets,
      scheduling: "lifo",
      noDelay: true,
    });
  }

  /** Sets the connection bound (the function's concurrency limit, or the gateway's default). */
  setMaxSockets(maxSockets: number): void {
    this.agent.maxSockets = maxSockets;
    this.agent.maxFreeSockets = maxSockets;
  }

  /**
   * Asks the replica's watchdog whether it is ready, over the replica's own agent: the connection a
   * successful probe leaves behind is the first call's warm socket. Resolves true only on 200.
   */
  probe(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const probe = request(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method: "GET",
          path: READY_PATH,
          timeout: timeoutMs,
        },
        (res) => {
          res.resume();
          res.once("end", () => resolve(res.statusCode === 200));
          res.once("error", () => resolve(false));
        },
      );
      probe.once("timeout", () => probe.destroy());
      probe.once("error", () => resolve(false));
      probe.end();
    });
  }

  /** Closes every connection to the replica. */
  close(): void {
    this.agent.destroy();
  }
}

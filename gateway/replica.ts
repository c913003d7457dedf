// One replica of a function as its ReplicaPool sees it: its address, its calls in flight, and a
// keep-alive connection pool bounded to what the pool will ever send it.
import { Pool } from "undici";

/**
 * `starting`: not seen ready yet (probed). `ready`: takes new calls. `draining`: finishes the calls it
 * has. `removed`: gone from the platform's replica set; its pool closes when its last call ends.
 */
export type ReplicaState = "starting" | "ready" | "draining" | "removed";

/** The readiness route every watchdog serves (DESIGN §4). */
export const READY_PATH = "/_/ready";

const ignore = (): void => undefined;

export class Replica {
  /** Calls sent to this replica and not yet finished. */
  inFlight = 0;
  /** The state the platform last reported; `state` may be ahead of it (a probe saw it ready first). */
  reported: ReplicaState;
  /** The connections to this replica (undici, ADR 0007). Replaced when the bound changes. */
  pool: Pool;
  private connections: number;

  constructor(
    readonly id: string,
    readonly host: string,
    readonly port: number,
    public state: ReplicaState,
    maxSockets: number,
  ) {
    this.reported = state;
    this.connections = maxSockets;
    this.pool = this.openPool(maxSockets);
  }

  /**
   * Sets the connection bound (the function's concurrency limit, or the gateway's default). The old
   * pool finishes the calls it has, then closes.
   */
  setMaxSockets(maxSockets: number): void {
    if (maxSockets === this.connections) return;
    const old = this.pool;
    this.connections = maxSockets;
    this.pool = this.openPool(maxSockets);
    old.close().catch(ignore);
  }

  /**
   * Asks the replica's watchdog whether it is ready, over the replica's own pool: the connection a
   * successful probe leaves behind is the first call's warm socket. Resolves true only on 200.
   */
  async probe(timeoutMs: number): Promise<boolean> {
    try {
      const { statusCode, body } = await this.pool.request({
        method: "GET",
        path: READY_PATH,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await body.dump();
      return statusCode === 200;
    } catch {
      return false;
    }
  }

  /** Closes every connection to the replica. */
  close(): void {
    this.pool.destroy().catch(ignore);
  }

  private openPool(connections: number): Pool {
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    return new Pool(`http://${host}:${this.port}`, {
      connections,
      // One call per connection at a time: a slow call must not hold up the next one behind it.
      pipelining: 1,
      // The call's own deadline (the function's timeout) bounds it; undici's 300 s defaults would cut
      // off a long stream that the function's timeout allows.
      headersTimeout: 0,
      bodyTimeout: 0,
      // Idle connections close after 4 s, or 1 s before the replica's Keep-Alive hint, whichever is
      // sooner, so the gateway never reuses a socket the watchdog is closing.
      keepAliveTimeout: 4_000,
      keepAliveTimeoutThreshold: 1_000,
    });
  }
}

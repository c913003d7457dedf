// Assembles a watchdog from its configuration: metrics, the selected mode and the HTTP front.
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { WatchdogConfig } from "./config.js";
import { WatchdogMetrics } from "./metrics.js";
import { createMode } from "./modes/index.js";
import type { Mode } from "./modes/mode.js";
import { WatchdogServer } from "./server.js";

export class Watchdog {
  readonly metrics = new WatchdogMetrics();
  readonly mode: Mode;
  readonly server: WatchdogServer;

  constructor(
    private readonly config: WatchdogConfig,
    logger: Logger,
  ) {
    this.mode = createMode(config.handler, {
      functionName: config.functionName,
      readyTimeoutMs: config.readyTimeoutMs,
      logger,
      metrics: this.metrics,
    });
    this.server = new WatchdogServer({ mode: this.mode, limits: config, logger, metrics: this.metrics });
  }

  /**
   * Listens first, so /_/health answers while the handler starts (an http upstream may take a while),
   * then starts the mode; /_/ready turns 200 when this resolves. `onListening` gets the bound address.
   */
  async start(onListening: (address: AddressInfo) => void): Promise<void> {
    onListening(await this.server.listen(this.config.port, this.config.host));
    await this.mode.start();
  }

  /** Drains calls in flight (up to the call timeout), closes the listener, then stops the mode. */
  async close(): Promise<void> {
    await this.server.close();
    await this.mode.close();
  }
}

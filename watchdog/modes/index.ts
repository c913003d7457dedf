// Picks the mode for a handler configuration: the one exhaustive switch over FLINT_MODE.
import type { Logger } from "pino";
import type { HandlerConfig } from "../config.js";
import type { WatchdogMetrics } from "../metrics.js";
import { ExecMode } from "./exec.js";
import { HttpMode } from "./http.js";
import type { Mode } from "./mode.js";
import { ModuleMode } from "./module.js";
import { SidecarUpstream, UpstreamProcess, type Upstream } from "../upstream.js";

export interface ModeDependencies {
  readonly functionName: string;
  /** How long an http upstream may take to accept connections at start, in milliseconds. */
  readonly readyTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: WatchdogMetrics;
}

export function createMode(config: HandlerConfig, deps: ModeDependencies): Mode {
  switch (config.mode) {
    case "module":
      return new ModuleMode(config, deps.functionName, deps.logger);
    case "http": {
      const { upstream } = config;
      const target: Upstream =
        upstream.kind === "command"
          ? new UpstreamProcess(upstream.command, upstream.port, deps.readyTimeoutMs, deps.logger, () =>
              deps.metrics.upstreamRestarted(),
            )
          : new SidecarUpstream(upstream.url, deps.readyTimeoutMs);
      return new HttpMode(target);
    }
    case "exec":
      return new ExecMode(config.command, deps.logger);
  }
}

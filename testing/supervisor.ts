// Test support: a local replica supervisor on real watchdog processes, with the timings tests want.
import { systemClock } from "../platform/clock.js";
import type { MemoryEndpointSource } from "../platform/memory.js";
import type { Endpoint } from "../platform/ports.js";
import type { FunctionRef } from "../api/index.js";
import {
  DEFAULT_SUPERVISOR_OPTIONS,
  ReplicaSupervisor,
  type SupervisorOptions,
} from "../local/supervisor.js";
import { WATCHDOG_MAIN } from "./watchdog.js";

/**
 * A supervisor running dist/watchdog/main.js on the system clock, restarting crashed replicas after
 * 50 ms (doubling to 2 s), with only PATH inherited; `options` override any of it.
 */
export function testSupervisor(
  endpoints: MemoryEndpointSource,
  options: Partial<SupervisorOptions> = {},
): ReplicaSupervisor {
  return new ReplicaSupervisor(
    {
      ...DEFAULT_SUPERVISOR_OPTIONS,
      restartBackoff: { initialMs: 50, maxMs: 2000 },
      watchdogMain: WATCHDOG_MAIN,
      clock: systemClock,
      baseEnv: { PATH: process.env["PATH"] ?? "" },
      ...options,
    },
    endpoints,
  );
}

/** The ready replicas of `ref` in `endpoints`. */
export function readyEndpoints(endpoints: MemoryEndpointSource, ref: FunctionRef): Endpoint[] {
  return endpoints.get(ref).filter((e) => e.state === "ready");
}

/** http://host:port of an endpoint. */
export function endpointUrl(endpoint: Endpoint | undefined): string {
  return `http://${endpoint?.host}:${endpoint?.port}`;
}

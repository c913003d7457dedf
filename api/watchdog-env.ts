// How a Function's spec becomes the watchdog's environment: one mapping for the local supervisor
// (child processes) and the controller (pod env), so both run a function the same way.
import { functionKey } from "./names.js";
import type { FunctionResource } from "./types.js";

/** The upstream port an http-mode server listens on when the spec does not say. */
export const DEFAULT_UPSTREAM_PORT = 8081;

/**
 * The watchdog's FLINT_* variables for `fn`, followed by the function's own env. Paths in the spec
 * (handler.entry, a relative command) are relative to the function's folder, which the caller makes
 * the working directory (the manifest's folder locally, the image's WORKDIR on Kubernetes).
 */
export function watchdogEnv(fn: FunctionResource): Record<string, string> {
  const { handler, timeout, maxBodyBytes, scale } = fn.spec;
  const env: Record<string, string> = {
    FLINT_FUNCTION: functionKey(fn.metadata),
    FLINT_MODE: handler.mode,
    FLINT_TIMEOUT: timeout,
    FLINT_MAX_BODY_BYTES: String(maxBodyBytes),
    FLINT_MAX_INFLIGHT: String(scale.concurrency),
  };
  switch (handler.mode) {
    case "module":
      env["FLINT_ENTRY"] = handler.entry ?? "";
      if (handler.export !== undefined) env["FLINT_EXPORT"] = handler.export;
      if (handler.shape !== undefined) env["FLINT_HANDLER_SHAPE"] = handler.shape;
      break;
    case "http": {
      const port = handler.port ?? DEFAULT_UPSTREAM_PORT;
      if (handler.command === undefined) {
        // Sidecar: the image's own process serves HTTP; the watchdog only proxies to it.
        env["FLINT_UPSTREAM_URL"] = `http://127.0.0.1:${port}`;
      } else {
        env["FLINT_COMMAND"] = JSON.stringify(handler.command);
        env["FLINT_UPSTREAM_PORT"] = String(port);
      }
      break;
    }
    case "exec":
      env["FLINT_COMMAND"] = JSON.stringify(handler.command ?? []);
      break;
  }
  for (const variable of fn.spec.env ?? []) env[variable.name] = variable.value ?? "";
  return env;
}

// Finding a workload from what the user typed: a synthetic name, an Azure-layout folder, or a requests CSV.
import { statSync } from "node:fs";
import type { ScaleSettings } from "../types.js";
import { azureWorkload, readAzureTrace } from "./azure.js";
import { UnknownWorkloadError } from "./errors.js";
import { readRequestsCsv } from "./requests-csv.js";
import { SYNTHETIC_WORKLOADS } from "./synthetic.js";
import type { Workload } from "./workload.js";

/** How to build a workload: the seed spreads minute counts and draws service times and synthetic arrivals. */
export interface LoadOptions {
  readonly seed: number;
  /** Scale settings for every function of a trace (synthetic workloads bring their own). */
  readonly spec?: ScaleSettings;
  /** Measured span of a requests CSV, ms (default: its last request, rounded up to a minute). */
  readonly durationMs?: number;
}

/** `synthetic:<name>` (or just the name), a folder in the Azure layout, or a requests CSV file. */
export function loadWorkload(source: string, options: LoadOptions): Workload {
  const syntheticName = source.startsWith("synthetic:") ? source.slice("synthetic:".length) : source;
  const generate = SYNTHETIC_WORKLOADS[syntheticName];
  if (generate !== undefined) return generate(options.seed);
  const known = Object.keys(SYNTHETIC_WORKLOADS).map((name) => `synthetic:${name}`);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(source).isDirectory();
  } catch {
    throw new UnknownWorkloadError(source, known);
  }
  if (isDirectory) {
    const name = source.replace(/\/+$/, "").split("/").pop() ?? source;
    return azureWorkload(readAzureTrace(source), { name, seed: options.seed, spec: options.spec });
  }
  return readRequestsCsv(source, { spec: options.spec, durationMs: options.durationMs });
}

// A plain CSV of requests (`t_ms,function,duration_ms`, header line, sorted by time): reading it into a workload.
import { readFileSync } from "node:fs";
import { resolveScaleSpec } from "../spec.js";
import type { ScaleSettings } from "../types.js";
import { MIN_DURATION_MS } from "./azure.js";
import { csvRows, numberField } from "./csv.js";
import { TraceFormatError } from "./errors.js";
import type { FunctionWorkload, Workload } from "./workload.js";

export const REQUESTS_CSV_HEADER = "t_ms,function,duration_ms";

/** Reads a requests CSV file; a missing or malformed file is a `TraceFormatError` naming file and line. */
export function readRequestsCsv(
  file: string,
  options: { spec?: ScaleSettings; durationMs?: number } = {},
): Workload {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new TraceFormatError(file, 0, "cannot be read", { cause: error });
  }
  return parseRequestsCsv({ name: file, text }, options);
}

/**
 * Parses a requests CSV. Functions appear in the order of their first request. The measured span is
 * `durationMs` if given, else the last arrival rounded up to a whole minute.
 */
export function parseRequestsCsv(
  file: { name: string; text: string },
  options: { spec?: ScaleSettings; durationMs?: number } = {},
): Workload {
  const rows = csvRows(file.text);
  const head = rows[0];
  if (head === undefined) throw new TraceFormatError(file.name, 0, "is empty");
  if (head.fields.join(",") !== REQUESTS_CSV_HEADER) {
    throw new TraceFormatError(
      file.name,
      head.line,
      `header must be ${REQUESTS_CSV_HEADER}, was ${JSON.stringify(head.fields.join(","))}`,
    );
  }
  const byFunction = new Map<string, { arrivals: number[]; durations: number[] }>();
  let lastMs = 0;
  for (const row of rows.slice(1)) {
    if (row.fields.length !== 3) {
      throw new TraceFormatError(
        file.name,
        row.line,
        `must have 3 fields (${REQUESTS_CSV_HEADER}), has ${row.fields.length}`,
      );
    }
    const atMs = numberField(file.name, row, 0, "t_ms");
    const name = row.fields[1] as string;
    if (name === "") throw new TraceFormatError(file.name, row.line, "function must not be empty");
    const durationMs = numberField(file.name, row, 2, "duration_ms");
    if (atMs < lastMs) {
      throw new TraceFormatError(
        file.name,
        row.line,
        `t_ms ${atMs} is before the previous line's ${lastMs}; lines must be sorted by time`,
      );
    }
    lastMs = atMs;
    let fn = byFunction.get(name);
    if (fn === undefined) {
      fn = { arrivals: [], durations: [] };
      byFunction.set(name, fn);
    }
    fn.arrivals.push(atMs);
    fn.durations.push(Math.max(MIN_DURATION_MS, durationMs));
  }
  const spec = options.spec ?? resolveScaleSpec();
  const functions: FunctionWorkload[] = [...byFunction].map(([name, fn]) => ({
    name,
    spec,
    requests: { arrivalMs: Float64Array.from(fn.arrivals), durationMs: Float64Array.from(fn.durations) },
  }));
  const durationMs = options.durationMs ?? Math.max(60_000, Math.ceil((lastMs + 1) / 60_000) * 60_000);
  return { name: file.name, durationMs, functions };
}

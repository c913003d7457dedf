// The Azure Functions trace layout (a folder with inv.csv, run.csv, mem.csv): reading it, and expanding
// its per-minute counts into requests.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveScaleSpec } from "../spec.js";
import type { ScaleSettings } from "../types.js";
import { csvRows, numberField, type CsvRow } from "./csv.js";
import { TraceFormatError } from "./errors.js";
import { seededRandom, type Random } from "./random.js";
import type { FunctionWorkload, Workload } from "./workload.js";

/** The execution-time percentiles run.csv gives, in order. */
export const DURATION_PERCENTILES = [0, 1, 25, 50, 75, 99, 100] as const;

/** Shorter service times are replayed as this, ms, so every request shows as concurrency > 0 in its second. */
export const MIN_DURATION_MS = 1;

/** One function of the trace. */
export interface AzureFunction {
  readonly name: string;
  /** Invocations in each minute of the trace. */
  readonly perMinute: readonly number[];
  /** Execution time, ms, at each of `DURATION_PERCENTILES`. */
  readonly durationPercentilesMs: readonly number[];
  /** Average allocated memory, MB. */
  readonly memoryMb: number;
}

export interface AzureTrace {
  readonly minutes: number;
  readonly functions: readonly AzureFunction[];
}

/** A file's name (for messages) and its text. */
export interface TraceFile {
  readonly name: string;
  readonly text: string;
}

/** Reads the three files of the layout from `dir`; a missing or malformed one is a `TraceFormatError`. */
export function readAzureTrace(dir: string): AzureTrace {
  const read = (file: string): TraceFile => {
    const name = join(dir, file);
    try {
      return { name, text: readFileSync(name, "utf8") };
    } catch (error) {
      throw new TraceFormatError(name, 0, "cannot be read", { cause: error });
    }
  };
  return parseAzureTrace(read("inv.csv"), read("run.csv"), read("mem.csv"));
}

/** Parses the three files; row N of each is the same function. */
export function parseAzureTrace(inv: TraceFile, run: TraceFile, mem: TraceFile): AzureTrace {
  const invRows = csvRows(inv.text);
  const runRows = csvRows(run.text);
  const memRows = csvRows(mem.text);
  const invHeader = header(inv.name, invRows);
  if (invHeader.fields.slice(0, 3).join(",") !== "HashFunction,HashOwner,HashApp") {
    throw new TraceFormatError(
      inv.name,
      invHeader.line,
      "header must start with HashFunction,HashOwner,HashApp",
    );
  }
  const minutes = invHeader.fields.length - 3;
  invHeader.fields.slice(3).forEach((column, index) => {
    if (column !== `minute_${index + 1}`) {
      throw new TraceFormatError(
        inv.name,
        invHeader.line,
        `column ${index + 4} must be minute_${index + 1}, was ${JSON.stringify(column)}`,
      );
    }
  });
  if (minutes < 1) throw new TraceFormatError(inv.name, invHeader.line, "header has no minute_ columns");
  const durationColumns = DURATION_PERCENTILES.map((p) =>
    column(run.name, runRows, `percentile_Average_${p}`),
  );
  const memoryColumn = column(mem.name, memRows, "AverageAllocatedMb");
  const count = invRows.length - 1;
  for (const [file, rows] of [
    [run.name, runRows],
    [mem.name, memRows],
  ] as const) {
    if (rows.length - 1 !== count) {
      throw new TraceFormatError(
        file,
        0,
        `has ${rows.length - 1} functions, ${inv.name} has ${count}; rows must line up`,
      );
    }
  }

  const functions: AzureFunction[] = [];
  for (let f = 1; f <= count; f++) {
    const invRow = invRows[f] as CsvRow;
    if (invRow.fields.length !== minutes + 3) {
      throw new TraceFormatError(
        inv.name,
        invRow.line,
        `has ${invRow.fields.length} fields, the header has ${minutes + 3}`,
      );
    }
    const perMinute = invRow.fields.slice(3).map((_, m) => {
      const value = numberField(inv.name, invRow, m + 3, `minute_${m + 1}`);
      if (!Number.isInteger(value)) {
        throw new TraceFormatError(
          inv.name,
          invRow.line,
          `minute_${m + 1} must be a whole count, was ${value}`,
        );
      }
      return value;
    });
    const runRow = runRows[f] as CsvRow;
    const durationPercentilesMs = durationColumns.map((index, k) =>
      numberField(run.name, runRow, index, `percentile_Average_${DURATION_PERCENTILES[k]}`),
    );
    for (let k = 1; k < durationPercentilesMs.length; k++) {
      if ((durationPercentilesMs[k] as number) < (durationPercentilesMs[k - 1] as number)) {
        throw new TraceFormatError(run.name, runRow.line, "duration percentiles must not decrease");
      }
    }
    const memoryMb = numberField(mem.name, memRows[f] as CsvRow, memoryColumn, "AverageAllocatedMb");
    functions.push({ name: invRow.fields[0] ?? `function-${f}`, perMinute, durationPercentilesMs, memoryMb });
  }
  return { minutes, functions };
}

/**
 * Turns per-minute counts into requests: each minute's N invocations are placed as a Poisson process
 * conditioned on N events (N uniform instants in the minute), and each service time is drawn from the
 * function's percentiles (linear between them). Function i draws from its own stream of `seed`.
 */
export function azureWorkload(
  trace: AzureTrace,
  options: { name: string; seed: number; spec?: ScaleSettings },
): Workload {
  const spec = options.spec ?? resolveScaleSpec();
  const functions: FunctionWorkload[] = trace.functions.map((fn, index) => {
    const random = seededRandom(options.seed, index);
    const total = fn.perMinute.reduce((sum, n) => sum + n, 0);
    const arrivalMs = new Float64Array(total);
    const durationMs = new Float64Array(total);
    let next = 0;
    fn.perMinute.forEach((n, minute) => {
      const offsets = Array.from({ length: n }, () => random() * 60_000).sort((a, b) => a - b);
      for (const offset of offsets) {
        arrivalMs[next] = minute * 60_000 + offset;
        durationMs[next] = Math.max(
          MIN_DURATION_MS,
          durationFromPercentiles(fn.durationPercentilesMs, random),
        );
        next++;
      }
    });
    return { name: fn.name, spec, requests: { arrivalMs, durationMs }, memoryMb: fn.memoryMb };
  });
  return { name: options.name, durationMs: trace.minutes * 60_000, functions };
}

/** A service time drawn by inverting the piecewise-linear distribution through the given percentiles. */
export function durationFromPercentiles(percentilesMs: readonly number[], random: Random): number {
  const q = random() * 100;
  for (let k = 1; k < DURATION_PERCENTILES.length; k++) {
    const upper = DURATION_PERCENTILES[k] as number;
    if (q <= upper) {
      const lower = DURATION_PERCENTILES[k - 1] as number;
      const from = percentilesMs[k - 1] as number;
      const to = percentilesMs[k] as number;
      return from + ((q - lower) / (upper - lower)) * (to - from);
    }
  }
  return percentilesMs[percentilesMs.length - 1] as number;
}

function header(file: string, rows: readonly CsvRow[]): CsvRow {
  const first = rows[0];
  if (first === undefined) throw new TraceFormatError(file, 0, "is empty");
  return first;
}

function column(file: string, rows: readonly CsvRow[], name: string): number {
  const head = header(file, rows);
  const index = head.fields.indexOf(name);
  if (index < 0) throw new TraceFormatError(file, head.line, `header has no ${name} column`);
  return index;
}

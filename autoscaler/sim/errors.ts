// The simulator's errors: a workload file that cannot be read names the file and the line.

/** A trace file that is not in the expected layout. */
export class TraceFormatError extends Error {
  readonly code = "TRACE_FORMAT";
  constructor(
    readonly file: string,
    /** 1-based line number, or 0 when the problem is the file as a whole. */
    readonly line: number,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(line > 0 ? `${file}:${line}: ${detail}` : `${file}: ${detail}`, options);
    this.name = "TraceFormatError";
  }
}

/** A workload name or path that names no workload. */
export class UnknownWorkloadError extends Error {
  readonly code = "UNKNOWN_WORKLOAD";
  constructor(
    readonly text: string,
    known: readonly string[],
  ) {
    super(
      `unknown workload ${JSON.stringify(text)}: give a folder with inv.csv, run.csv and mem.csv, a requests .csv file, or one of ${known.join(", ")}`,
    );
    this.name = "UnknownWorkloadError";
  }
}

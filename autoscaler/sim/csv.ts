// Line-by-line reading of the simple comma-separated files the traces use (no quoting in them).
import { TraceFormatError } from "./errors.js";

/** One non-empty line split on commas, with its 1-based line number. */
export interface CsvRow {
  readonly line: number;
  readonly fields: string[];
}

/** The non-empty lines of `text` split into fields; the first is the header. */
export function csvRows(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, "");
    if (line.trim() === "") continue;
    rows.push({ line: i + 1, fields: line.split(",").map((field) => field.trim()) });
  }
  return rows;
}

/** A field parsed as a finite number ≥ 0, or a `TraceFormatError` naming file, line and column. */
export function numberField(file: string, row: CsvRow, index: number, column: string): number {
  const text = row.fields[index];
  const value = text === undefined || text === "" ? NaN : Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new TraceFormatError(
      file,
      row.line,
      `${column} must be a number ≥ 0, was ${JSON.stringify(text ?? "")}`,
    );
  }
  return value;
}

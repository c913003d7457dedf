// Durations as written in manifests and config ("30s", "500ms", "1m30s"), parsed to milliseconds.

/** The syntax every duration field accepts: one or more `<number><unit>` parts, units ms, s, m, h. */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";

const DURATION_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Thrown by `parseDuration` for text that is not a duration. */
export class InvalidDurationError extends Error {
  readonly code = "INVALID_DURATION";
  constructor(readonly text: string) {
    super(`must be a duration like 30s, 500ms or 1m30s (was ${JSON.stringify(text)})`);
    this.name = "InvalidDurationError";
  }
}

/** Parses "1m30s" to 90000. Negative, empty and unit-less values are rejected. */
export function parseDurationMs(text: string): number {
  if (!DURATION_RE.test(text)) throw new InvalidDurationError(text);
  let totalMs = 0;
  for (const match of text.matchAll(PART_RE)) {
    totalMs += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return Math.round(totalMs);
}

/** Formats milliseconds the way manifests write them: 90000 → "1m30s", 250 → "250ms". */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join("");
}

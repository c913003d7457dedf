// When an async attempt is tried again, and after how long: pure functions of the outcome, the
// function's spec.async settings and a random source, so they are tested without a clock.

/** Which outcomes are retried. FLINT_ASYNC_RETRY_ON, default "408,429,5xx"; connection errors always are. */
export interface RetryOn {
  /** Exact statuses, e.g. 408 and 429. */
  readonly statuses: ReadonlySet<number>;
  /** Status classes by their first digit, e.g. 5 for 5xx. */
  readonly classes: ReadonlySet<number>;
}

export const DEFAULT_RETRY_ON_TEXT = "408,429,5xx";

/** Parses "408,429,5xx"; throws a message naming the bad token. */
export function parseRetryOn(text: string): RetryOn {
  const statuses = new Set<number>();
  const classes = new Set<number>();
  for (const raw of text.split(",")) {
    const token = raw.trim();
    if (token === "") continue;
    const cls = /^([1-5])xx$/i.exec(token);
    if (cls !== null) classes.add(Number(cls[1]));
    else if (/^[1-5][0-9][0-9]$/.test(token)) statuses.add(Number(token));
    else throw new Error(`${JSON.stringify(token)} is not a status like 429 or a class like 5xx`);
  }
  return { statuses, classes };
}

/** Whether a finished attempt with this status should be tried again. */
export function isRetryableStatus(status: number, on: RetryOn): boolean {
  return on.statuses.has(status) || on.classes.has(Math.floor(status / 100));
}

/** A function's spec.async, resolved to numbers. */
export interface RetrySettings {
  /** Attempts after the first one; spec.async.maxRetries. */
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** A Retry-After longer than this is not waited for; the backoff cap applies instead. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * Delay before attempt `attempt + 1`, after attempt `attempt` (1-based) failed: exponential from
 * `initialBackoffMs`, capped at `maxBackoffMs`, with "equal jitter" (half fixed, half random) so a
 * burst of failures does not come back as a burst. A Retry-After from the function is a floor.
 */
export function backoffMs(
  attempt: number,
  settings: RetrySettings,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exponential = settings.initialBackoffMs * 2 ** Math.min(attempt - 1, 30);
  const capped = Math.min(settings.maxBackoffMs, exponential);
  const jittered = capped / 2 + (random() * capped) / 2;
  if (retryAfterMs === undefined) return Math.round(jittered);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS)));
}

/** Reads a Retry-After header value (seconds or an HTTP date) as ms from `nowMs`; undefined if unusable. */
export function parseRetryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  const dateMs = Date.parse(text);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - nowMs);
}

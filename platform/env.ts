// The one environment reader behind every component's `loadConfig`: typed readers that throw a ConfigError.
import { InvalidDurationError, parseDurationMs, formatDurationMs } from "../api/duration.js";
import { ConfigError } from "./errors.js";

/** The environment as `loadConfig` receives it (normally `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>;

/** pino's level names, most severe first, and `silent`: what FLINT_LOG_LEVEL accepts in every component. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** The least severe level a component logs (pino's `level`). FLINT_LOG_LEVEL, default info. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const INTEGER_RE = /^[0-9]+$/;
const BYTES_RE = /^([0-9]+)(Ki|Mi|Gi)?$/;
const BYTE_UNITS: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/**
 * Reads variables by name. An empty value counts as unset, and an unset variable gets the default
 * the caller passes. A value that cannot be used throws a ConfigError naming the variable, in one
 * shape: `NAME must be <what it takes>, was "<value>"`.
 */
export class EnvReader {
  constructor(private readonly env: Env) {}

  /** Throws the ConfigError for `name`'s current value: `NAME must be <expected>, was "<value>"`. */
  fail(name: string, expected: string): never {
    const text = this.string(name);
    throw new ConfigError(
      name,
      `${name} must be ${expected}, was ${text === undefined ? "unset" : JSON.stringify(text)}`,
    );
  }

  /** The value as written; undefined when unset or empty, unless a default is given. */
  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === "" ? fallback : value;
  }

  /** Decimal digits only (no sign, exponent or fraction), from `min` to `max` inclusive. */
  integer(name: string, fallback: number, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const value = INTEGER_RE.test(text) ? Number(text) : Number.NaN;
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    return this.fail(
      name,
      max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`,
    );
  }

  /** A duration like `30s`, `500ms` or `1m30s` (api/duration.ts), in ms, at least `minMs`. */
  durationMs(name: string, fallbackMs: number, minMs: number): number {
    const text = this.string(name);
    if (text === undefined) return fallbackMs;
    let valueMs: number;
    try {
      valueMs = parseDurationMs(text);
    } catch (error) {
      if (!(error instanceof InvalidDurationError)) throw error;
      return this.fail(name, "a duration like 30s");
    }
    return valueMs >= minMs ? valueMs : this.fail(name, `a duration of at least ${formatDurationMs(minMs)}`);
  }

  /** A positive number of bytes: digits, optionally with a binary suffix (Ki, Mi, Gi). */
  bytes(name: string, fallbackBytes: number): number {
    const text = this.string(name);
    if (text === undefined) return fallbackBytes;
    const match = BYTES_RE.exec(text);
    const value = match === null ? Number.NaN : Number(match[1]) * (BYTE_UNITS[match[2] ?? ""] ?? 1);
    if (Number.isSafeInteger(value) && value >= 1) return value;
    return this.fail(name, "a positive number of bytes like 67108864 or 64Mi (Ki, Mi, Gi)");
  }

  /** Exactly `true` or `false`: not 1/0, yes/no or any other JavaScript truthiness. */
  boolean(name: string, fallback: boolean): boolean {
    const text = this.string(name);
    if (text === undefined) return fallback;
    if (text === "true") return true;
    if (text === "false") return false;
    return this.fail(name, "true or false");
  }

  /** One of `allowed`, spelled exactly (case matters); undefined when unset, unless a default is given. */
  oneOf<const T extends string>(name: string, allowed: readonly T[]): T | undefined;
  oneOf<const T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  oneOf<const T extends string>(name: string, allowed: readonly T[], fallback?: T): T | undefined {
    const text = this.string(name);
    if (text === undefined) return fallback;
    return allowed.find((candidate) => candidate === text) ?? this.fail(name, `one of ${allowed.join(", ")}`);
  }

  /**
   * A comma-separated list, each item trimmed; undefined when unset. An empty item, or one that
   * `isItem` refuses, fails with `expected` (what the whole value must be).
   */
  list(
    name: string,
    expected: string,
    isItem: (item: string) => boolean = () => true,
  ): readonly string[] | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const items = text.split(",").map((item) => item.trim());
    if (!items.every((item) => item !== "" && isItem(item))) this.fail(name, expected);
    return Object.freeze(items);
  }

  /**
   * A URL whose scheme is one of `protocols` (with the colon: "nats:"), or a comma-separated list of
   * them (several servers), rejoined without the spaces; undefined when unset.
   */
  urls(name: string, protocols: readonly string[]): string | undefined {
    const list = this.list(
      name,
      `a URL (or a comma-separated list) with scheme ${protocols.join(" or ")}`,
      (item) => URL.canParse(item) && protocols.includes(new URL(item).protocol),
    );
    return list?.join(",");
  }

  /** FLINT_LOG_LEVEL, default info. */
  logLevel(): LogLevel {
    return this.oneOf("FLINT_LOG_LEVEL", LOG_LEVELS, "info");
  }
}

// Reading a policy state back from storage: every field is checked, so a damaged or foreign state fails loudly.
import { InvalidPolicyStateError } from "./errors.js";

/** Typed access to the fields of a stored state, each throwing `InvalidPolicyStateError` when wrong. */
export interface StateFields {
  /** The fields as stored, for the ones a policy checks itself (windows, histograms). */
  readonly raw: Readonly<Record<string, unknown>>;
  /** An integer ≥ 0 (a replica count or a tally). */
  count(key: string): number;
  /** A finite number ≥ 0 (a duration or a level). */
  amount(key: string): number;
  /** A finite number: a time in ms. */
  time(key: string): number;
  /** A time in ms, or null. */
  nullableTime(key: string): number | null;
}

/** Opens a stored state that must be an object written by `policy` (its `policy` field says which). */
export function readState(policy: string, value: unknown): StateFields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidPolicyStateError(policy, "must be an object");
  }
  const raw = value as Record<string, unknown>;
  if (raw.policy !== policy) {
    throw new InvalidPolicyStateError(policy, `was written by ${JSON.stringify(raw.policy)}`);
  }
  const fail = (key: string, what: string): never => {
    throw new InvalidPolicyStateError(policy, `${key} must be ${what}, was ${JSON.stringify(raw[key])}`);
  };
  return {
    raw,
    count: (key) => {
      const v = raw[key];
      return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : fail(key, "an integer ≥ 0");
    },
    amount: (key) => {
      const v = raw[key];
      return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fail(key, "a number ≥ 0");
    },
    time: (key) => {
      const v = raw[key];
      return typeof v === "number" && Number.isFinite(v) ? v : fail(key, "a time in ms");
    },
    nullableTime: (key) => {
      const v = raw[key];
      return v === null || (typeof v === "number" && Number.isFinite(v))
        ? v
        : fail(key, "a time in ms or null");
    },
  };
}

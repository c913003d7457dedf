// The CRD's CEL validation rules (x-kubernetes-validations), implemented in TypeScript so `flint up`
// and `flint validate` reject what the API server rejects. Keyed by the exact rule text: a rule added
// to the CRD without an implementation here fails at load time (and in api/cel.test.ts).
import { parseDurationMs } from "./duration.js";
import type { BackoffSpec, HandlerSpec, ScaleSpec } from "./types.generated.js";

/** What a rule sees as `self`: the JSON value at the rule's place in the object. */
type Self = unknown;

const DURATION_RULE = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";
const durationRe = new RegExp(DURATION_RULE);
const isDuration = (text: string): boolean => durationRe.test(text);

/** Rules of the form `self.matches('<re>')` are evaluated directly from their text. */
const MATCHES_RULE = /^self\.matches\('((?:[^'\\]|\\.)*)'\)$/;

/** Rules that are not a plain `self.matches(...)`, by their exact text in the CRD. */
const RULES: Record<string, (self: Self) => boolean> = {
  "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63": (self) => {
    const name = (self as { metadata?: { name?: unknown } }).metadata?.name;
    return typeof name === "string" && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) && name.length <= 63;
  },
  "self.handler.mode != 'http' || has(self.handler.command) || has(self.image)": (self) => {
    const spec = self as { handler: HandlerSpec; image?: string };
    return spec.handler.mode !== "http" || spec.handler.command !== undefined || spec.image !== undefined;
  },
  "self.mode != 'module' || has(self.entry)": (self) => {
    const handler = self as HandlerSpec;
    return handler.mode !== "module" || handler.entry !== undefined;
  },
  "self.mode != 'exec' || has(self.command)": (self) => {
    const handler = self as HandlerSpec;
    return handler.mode !== "exec" || handler.command !== undefined;
  },
  "self.mode == 'module' || (!has(self.entry) && !has(self.shape) && !has(self.export))": (self) => {
    const handler = self as HandlerSpec;
    return (
      handler.mode === "module" ||
      (handler.entry === undefined && handler.shape === undefined && handler.export === undefined)
    );
  },
  "!self.startsWith('FLINT_')": (self) => !(self as string).startsWith("FLINT_"),
  [`!self.matches('${celQuote(DURATION_RULE)}') || (duration(self) > duration('0s') && duration(self) <= duration('1h'))`]:
    (self) => {
      const text = self as string;
      if (!isDuration(text)) return true;
      const ms = parseDurationMs(text);
      return ms > 0 && ms <= 3_600_000;
    },
  "self.min <= self.max": (self) => (self as ScaleSpec).min <= (self as ScaleSpec).max,
  "self.concurrency == 0 || self.target <= self.concurrency": (self) => {
    const scale = self as ScaleSpec;
    return scale.concurrency === 0 || scale.target <= scale.concurrency;
  },
  [`self == 'auto' || self.matches('${celQuote(DURATION_RULE)}')`]: (self) =>
    self === "auto" || isDuration(self as string),
  [`!self.initial.matches('${celQuote(DURATION_RULE)}') || !self.max.matches('${celQuote(DURATION_RULE)}') || duration(self.initial) <= duration(self.max)`]:
    (self) => {
      const backoff = self as BackoffSpec;
      if (!isDuration(backoff.initial) || !isDuration(backoff.max)) return true;
      return parseDurationMs(backoff.initial) <= parseDurationMs(backoff.max);
    },
};

/** The CRD's messageExpressions, by their exact text (none today: see DETAILS). */
const MESSAGES: Record<string, (self: Self) => string> = {};

/**
 * Values appended to a rule's fixed message offline, by rule text. The CRD cannot say them itself:
 * kube-apiserver rejects these rules' messageExpressions as over the CEL cost budget.
 */
const DETAILS: Record<string, (self: Self) => string> = {
  "self.min <= self.max": (self) => ` (${(self as ScaleSpec).min} > ${(self as ScaleSpec).max})`,
  "self.concurrency == 0 || self.target <= self.concurrency": (self) =>
    ` (${(self as ScaleSpec).target} > ${(self as ScaleSpec).concurrency})`,
};

/** One x-kubernetes-validations entry as written in the CRD. */
export interface CelValidation {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
}

/** A rule ready to run: `check(self)` is true when the value is valid. */
export interface CompiledRule {
  check: (self: Self) => boolean;
  message: (self: Self) => string;
  /** Where to report a failure, relative to the rule's place (".min"), or "" for the place itself. */
  fieldPath: string;
}

/** Thrown at load time when the CRD has a rule this file does not implement. */
export class UnimplementedRuleError extends Error {
  readonly code = "UNIMPLEMENTED_CEL_RULE";
  constructor(readonly rule: string) {
    super(`the CRD's CEL rule ${JSON.stringify(rule)} has no implementation in api/cel.ts`);
    this.name = "UnimplementedRuleError";
  }
}

export function compileRule(validation: CelValidation): CompiledRule {
  const check = RULES[validation.rule] ?? matchesRule(validation.rule);
  if (check === undefined) throw new UnimplementedRuleError(validation.rule);
  const expression = validation.messageExpression;
  const fromExpression = expression === undefined ? undefined : MESSAGES[expression];
  if (expression !== undefined && fromExpression === undefined) throw new UnimplementedRuleError(expression);
  let fixed = validation.message ?? `failed rule: ${validation.rule}`;
  let fieldPath = validation.fieldPath ?? "";
  // A root rule cannot point at metadata.name with fieldPath (the API server refuses the path), so
  // its message names the field; offline, report it at that field like every other error.
  const named = fieldPath === "" ? /^(metadata\.[a-z]+) (must .*)$/s.exec(fixed) : null;
  if (named !== null) {
    fieldPath = `.${named[1] as string}`;
    fixed = named[2] as string;
  }
  const detail = DETAILS[validation.rule];
  const message =
    fromExpression ?? (detail === undefined ? () => fixed : (self: Self) => fixed + detail(self));
  return { check, message, fieldPath };
}

function matchesRule(rule: string): ((self: Self) => boolean) | undefined {
  const match = MATCHES_RULE.exec(rule);
  if (!match) return undefined;
  const re = new RegExp(celUnquote(match[1] as string));
  return (self) => typeof self === "string" && re.test(self);
}

/** A regular expression as it appears inside a single-quoted CEL string literal. */
function celQuote(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/'/g, "\\'");
}

function celUnquote(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}

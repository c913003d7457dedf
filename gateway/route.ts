// Splits a call's URL into the function name and the path the replica sees, without Express or URL.

export const CALL_PREFIX = "/function/";

export interface CallPath {
  /** "name" or "name.namespace", not yet validated. */
  readonly functionText: string;
  /** What the replica is asked for: the rest of the path (at least "/") and the query, untouched. */
  readonly upstreamPath: string;
}

/**
 * `/function/hello/a/b?x=1` → `{ functionText: "hello", upstreamPath: "/a/b?x=1" }`. The caller has
 * checked that `url` starts with `prefix` (CALL_PREFIX, or the async one). The remainder is passed on byte for byte: the replica
 * serves only its own function, so a `..` in it cannot reach anything else.
 */
export function parseCallPath(url: string, prefix = CALL_PREFIX): CallPath {
  const start = prefix.length;
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) break;
    end++;
  }
  const functionText = url.slice(start, end);
  if (end === url.length) return { functionText, upstreamPath: "/" };
  return { functionText, upstreamPath: url.charCodeAt(end) === 0x3f ? `/${url.slice(end)}` : url.slice(end) };
}

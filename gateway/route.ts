// Splits a call's URL into the function name and the path the replica sees, without Express or URL,
// and keeps callers out of a replica's own routes.
import { ReservedPathError } from "./errors.js";

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

/** The first path segment a watchdog keeps for its own routes (`/_/health`, `/_/ready`, `/_/metrics`). */
const RESERVED_SEGMENT = "_";
/** Percent-decoding passes before a path counts as unreadable: enough for double encoding, bounded. */
const MAX_DECODE_PASSES = 3;

/**
 * Whether `upstreamPath` would reach a replica's own routes under `/_/`, however it is spelled:
 * percent-encoded (`/%5F/metrics`, double-encoded too), with dot or empty segments (`/./_/`,
 * `//_/`, `/a/../_/`), backslashes, or `;` parameters. The watchdog itself matches `/_/` literally,
 * but a function's HTTP server may normalise a path before routing, so the gateway refuses every
 * spelling. A path it cannot decode counts as reserved. The query is not looked at.
 */
export function isReservedPath(upstreamPath: string): boolean {
  const query = upstreamPath.indexOf("?");
  let path = query === -1 ? upstreamPath : upstreamPath.slice(0, query);
  // Hot path: without an underscore or an escape, no spelling can name the reserved segment.
  if (!path.includes(RESERVED_SEGMENT) && !path.includes("%")) return false;
  for (let pass = 0; path.includes("%"); pass++) {
    if (pass === MAX_DECODE_PASSES) return true;
    try {
      path = decodeURIComponent(path);
    } catch {
      return true;
    }
  }
  return firstSegment(path.replaceAll("\\", "/")) === RESERVED_SEGMENT;
}

/** Refuses a call whose path names a replica's own routes (for /function/ and /async-function/). */
export function assertPublicPath(upstreamPath: string): void {
  if (isReservedPath(upstreamPath)) throw new ReservedPathError();
}

/** The first segment left once empty and `.` segments are dropped and `..` resolved (RFC 3986 §5.2.4). */
function firstSegment(path: string): string | undefined {
  const kept: string[] = [];
  for (const raw of path.split("/")) {
    const parameters = raw.indexOf(";");
    const segment = parameters === -1 ? raw : raw.slice(0, parameters);
    if (segment === "" || segment === ".") continue;
    if (segment === "..") kept.pop();
    else kept.push(segment);
  }
  return kept[0];
}

/**
 * The methods the gateway serves, sent as `Allow` when it refuses TRACE or CONNECT. (Any other
 * method a function understands is forwarded to it as well.)
 */
export const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

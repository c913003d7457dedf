// Header handling for the proxy: one pass over the raw request headers, hop-by-hop headers dropped
// both ways (RFC 9110 §7.6.1), X-Call-Id and X-Forwarded-* set, response trailers passed on.
import { HOP_BY_HOP_HEADERS } from "../platform/http-headers.js";

/**
 * Request headers never forwarded: the hop-by-hop ones, and Trailer, because the gateway does not
 * pass request trailers on (its upstream client cannot send them; RFC 9110 §6.5.1 lets it drop them).
 */
const NOT_FORWARDED_ON_REQUEST = new Set([...HOP_BY_HOP_HEADERS, "trailer"]);

/** Request headers the gateway answers or replaces itself. Expect: the gateway already sent 100 Continue. */
const REPLACED_ON_REQUEST = new Set([
  "expect",
  "x-call-id",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-forwarded-prefix",
]);

/** A caller's X-Call-Id is kept only if it is short and plain, so it is safe in logs and headers. */
const CALL_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** What the proxy needs from a request's headers, read in one pass over `rawHeaders`. */
export interface RequestHead {
  /** The headers to forward, as [name, value, name, value, ...], hop-by-hop ones removed. */
  readonly forward: string[];
  /** The caller's X-Call-Id if it is acceptable. */
  readonly callId: string | undefined;
  /** Declared Content-Length, or undefined. */
  readonly contentLength: number | undefined;
  /** Whether a body follows: a non-zero Content-Length or any Transfer-Encoding (RFC 9112 §6.3). */
  readonly hasBody: boolean;
  readonly host: string | undefined;
  readonly authorization: string | undefined;
  /** Incoming X-Forwarded-* values (from a proxy in front of the gateway); joined if repeated. */
  readonly forwardedFor: string | undefined;
  readonly forwardedHost: string | undefined;
  readonly forwardedProto: string | undefined;
  /** Sum of header name and value lengths: what queuing the request costs in header bytes. */
  readonly sizeBytes: number;
}

// eslint-disable-next-line complexity -- one pass over the raw headers on the hot path: a branch per header it reads
export function readRequestHead(raw: readonly string[]): RequestHead {
  const forward: string[] = [];
  let callId: string | undefined;
  let contentLength: number | undefined;
  let chunked = false;
  let host: string | undefined;
  let authorization: string | undefined;
  let forwardedFor: string | undefined;
  let forwardedHost: string | undefined;
  let forwardedProto: string | undefined;
  let connection: string | undefined;
  let sizeBytes = 0;

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    sizeBytes += name.length + value.length;
    const lower = name.toLowerCase();
    if (NOT_FORWARDED_ON_REQUEST.has(lower)) {
      if (lower === "connection") connection = connection === undefined ? value : `${connection},${value}`;
      else if (lower === "transfer-encoding") chunked = true;
      continue;
    }
    if (REPLACED_ON_REQUEST.has(lower)) {
      if (lower === "x-call-id") callId = CALL_ID_RE.test(value) ? value : undefined;
      else if (lower === "x-forwarded-for")
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (lower === "x-forwarded-host") forwardedHost ??= value;
      else if (lower === "x-forwarded-proto") forwardedProto ??= value;
      continue;
    }
    // Node's parser has already rejected malformed or conflicting lengths.
    if (lower === "content-length") contentLength = Number(value);
    else if (lower === "host") host = value;
    else if (lower === "authorization") authorization = value;
    forward.push(name, value);
  }

  return {
    forward: connection === undefined ? forward : withoutNamedIn(connection, forward),
    callId,
    contentLength,
    hasBody: chunked || (contentLength !== undefined && contentLength > 0),
    host,
    authorization,
    forwardedFor,
    forwardedHost,
    forwardedProto,
    sizeBytes,
  };
}

/** What the gateway adds to a forwarded request. */
export interface ForwardedBy {
  readonly callId: string;
  /** The client's address as the gateway's socket sees it. */
  readonly clientAddress: string | undefined;
  readonly encrypted: boolean;
  /** The part of the path the gateway took off: "/function/hello". */
  readonly prefix: string;
}

/**
 * The header list sent to a replica: the request's own (hop-by-hop removed), then X-Call-Id and
 * X-Forwarded-*. X-Forwarded-For is appended to; Host and Proto are kept from a proxy in front.
 */
export function upstreamHeaders(head: RequestHead, by: ForwardedBy): string[] {
  const headers = head.forward;
  headers.push("x-call-id", by.callId);
  const client = by.clientAddress ?? "unknown";
  headers.push(
    "x-forwarded-for",
    head.forwardedFor === undefined ? client : `${head.forwardedFor}, ${client}`,
  );
  const host = head.forwardedHost ?? head.host;
  if (host !== undefined) headers.push("x-forwarded-host", host);
  headers.push("x-forwarded-proto", head.forwardedProto ?? (by.encrypted ? "https" : "http"));
  headers.push("x-forwarded-prefix", by.prefix);
  return headers;
}

/** Header names and values as an HTTP client hands them over: strings, or the bytes as received. */
export type RawHeaders = readonly (string | Buffer)[];

/**
 * The header list sent back to the client: the replica's own (hop-by-hop removed), with the
 * gateway's X-Call-Id and, when the call waited for a replica to start, X-Flint-Cold-Start.
 */
export function downstreamHeaders(
  raw: RawHeaders,
  callId: string,
  coldStartMs: number | undefined,
): string[] {
  const headers: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i]);
    const value = latin1(raw[i + 1]);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower)) {
      if (lower === "connection") connection = connection === undefined ? value : `${connection},${value}`;
      continue;
    }
    if (lower === "x-call-id" || lower === "x-flint-cold-start") continue;
    headers.push(name, value);
  }
  const result = connection === undefined ? headers : withoutNamedIn(connection, headers);
  result.push("x-call-id", callId);
  if (coldStartMs !== undefined) result.push("x-flint-cold-start", String(Math.round(coldStartMs)));
  return result;
}

/** Whether `raw` has a header called `lowerName`. */
export function hasHeader(raw: RawHeaders, lowerName: string): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string | Buffer;
    if (name.length === lowerName.length && latin1(name).toLowerCase() === lowerName) return true;
  }
  return false;
}

/** Trailer fields as [name, value] pairs for `ServerResponse.addTrailers`, or undefined if there are none. */
export function trailerPairs(raw: RawHeaders | null | undefined): [string, string][] | undefined {
  if (raw === null || raw === undefined || raw.length === 0) return undefined;
  const pairs: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([latin1(raw[i]), latin1(raw[i + 1])]);
  return pairs;
}

/** Header bytes are ISO-8859-1 on the wire (RFC 9110 §5.5); Node's server writes strings back the same way. */
export function latin1(value: string | Buffer | undefined): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : value.toString("latin1");
}

/** Removes the headers a Connection header names (they are hop-by-hop too). */
function withoutNamedIn(connection: string, headers: string[]): string[] {
  // Nearly every client sends just one of these; they name no header.
  const plain = connection.toLowerCase();
  if (plain === "keep-alive" || plain === "close") return headers;
  const named = new Set<string>();
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name !== "" && name !== "close" && name !== "keep-alive") named.add(name);
  }
  if (named.size === 0) return headers;
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (!named.has(name.toLowerCase())) kept.push(name, headers[i + 1] as string);
  }
  return kept;
}

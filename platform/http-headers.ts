// The hop-by-hop header set, the one list the gateway's proxy and the watchdog's http mode drop.

/**
 * Headers that describe one connection, not the message, in lower case: never forwarded, either way.
 *
 * - RFC 9110 §7.6.1: `connection` and the fields an intermediary removes whether or not Connection
 *   names them, `proxy-connection`, `keep-alive`, `te`, `transfer-encoding`, `upgrade`. (The fields
 *   a Connection header names are hop-by-hop too; each proxy removes those itself.)
 * - `proxy-authenticate` and `proxy-authorization` (hop-by-hop in RFC 2616 §13.5.1): a challenge and
 *   credentials for the proxy they are addressed to. Forwarding them would hand a caller's proxy
 *   credentials to the function.
 *
 * Not here: `trailer`, which RFC 9110 §6.6.2 makes end to end. Responses keep it (it announces the
 * trailer fields passed on after the body); each side drops it from requests, whose trailers it does
 * not pass on. Nor `expect`, answered by Node's server before the call is forwarded.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "upgrade",
]);

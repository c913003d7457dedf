// Who may read an async call's record: the management credential, or the call's own read token,
// given to the caller in the 202 (X-Call-Token). Tokens are an HMAC of the call id under a key
// derived from the management credential, so every gateway replica checks them without storing
// anything, and rotating the credential revokes them all. Callback URLs are kept redacted.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { AuthConfig } from "../config.js";

/** The header a caller sends the read token back in. */
export const CALL_TOKEN_HEADER = "x-call-token";

export class CallTokens {
  private readonly key: Buffer | undefined;

  constructor(auth: AuthConfig) {
    // With FLINT_AUTH=none the management API is open, and so are records: no token is issued.
    this.key = auth.required
      ? createHash("sha256")
          .update("flint async call read token\n")
          .update(auth.token ?? "")
          .update("\n")
          .update(auth.basic === undefined ? "" : `${auth.basic.user}:${auth.basic.password}`)
          .digest()
      : undefined;
  }

  /** The read token for `callId`, or undefined when records need no credential. */
  issue(callId: string): string | undefined {
    if (this.key === undefined) return undefined;
    return createHmac("sha256", this.key).update(callId).digest("base64url");
  }

  /** Whether `token` is `callId`'s read token (constant time). */
  verify(callId: string, token: string | undefined): boolean {
    const expected = this.issue(callId);
    if (expected === undefined || token === undefined) return false;
    const given = Buffer.from(token);
    const wanted = Buffer.from(expected);
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }
}

/**
 * A callback URL as records show it: scheme, host, port and path; the query (often a secret, a
 * signed URL's signature) and any user:password replaced by "redacted".
 */
export function redactedUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "redacted";
  }
  if (url.username !== "" || url.password !== "") {
    url.username = "redacted";
    url.password = "";
  }
  if (url.search !== "") url.search = "?redacted";
  url.hash = "";
  return url.href;
}

// Checks the gateway credential (bearer token or basic auth) in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import type { AuthConfig } from "./config.js";
import type { CredentialProblem } from "./errors.js";

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The accepted credentials, kept only as SHA-256 digests: comparing digests takes the same time
 * whatever the guess, and does not reveal the secret's length either.
 */
export class Credentials {
  private readonly token: Buffer | undefined;
  private readonly basic: Buffer | undefined;
  readonly required: boolean;

  constructor(auth: AuthConfig) {
    this.required = auth.required;
    this.token = auth.required && auth.token !== undefined ? digest(auth.token) : undefined;
    this.basic =
      auth.required && auth.basic !== undefined
        ? digest(`${auth.basic.user}:${auth.basic.password}`)
        : undefined;
  }

  /** Checks an Authorization header; undefined means accepted. Never throws, never logs. */
  check(authorization: string | undefined): CredentialProblem | undefined {
    if (!this.required) return undefined;
    if (authorization === undefined || authorization.trim() === "") return "missing";
    const space = authorization.indexOf(" ");
    if (space === -1) return "malformed";
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (value === "") return "malformed";
    switch (scheme) {
      case "bearer":
        return matches(this.token, value) ? undefined : "wrong";
      case "basic": {
        if (!BASE64_RE.test(value)) return "malformed";
        const decoded = Buffer.from(value, "base64").toString("utf8");
        if (!decoded.includes(":")) return "malformed";
        return matches(this.basic, decoded) ? undefined : "wrong";
      }
      default:
        return "malformed";
    }
  }

  /** The scheme of an Authorization header, for logs ("bearer", "basic", or "none"); never the value. */
  static schemeOf(authorization: string | undefined): string {
    if (authorization === undefined) return "none";
    const scheme = authorization.trim().split(" ", 1)[0]?.toLowerCase() ?? "";
    return scheme === "bearer" || scheme === "basic" ? scheme : "other";
  }
}

function digest(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

function matches(expected: Buffer | undefined, given: string): boolean {
  // Hash even when there is nothing to compare against, so both paths take the same time.
  const actual = digest(given);
  return expected !== undefined && timingSafeEqual(expected, actual);
}

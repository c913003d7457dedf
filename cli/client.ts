// A small client for the gateway's HTTP API, with errors a CLI user can act on.
import type { ErrorBody } from "../api/index.js";
import type { Connection } from "./connection.js";

/** The gateway could not be reached, or answered with an error. */
export class GatewayRequestError extends Error {
  readonly code = "GATEWAY_REQUEST";
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "GatewayRequestError";
  }
}

export interface GatewayReply {
  status: number;
  headers: Headers;
  body: string;
}

export class GatewayClient {
  constructor(private readonly connection: Connection) {}

  get url(): string {
    return this.connection.url;
  }

  /** Any request; `management` adds the credential. Resolves with every status; rejects only when unreachable. */
  async request(
    method: string,
    path: string,
    options: { body?: string | Uint8Array; headers?: Record<string, string>; management?: boolean } = {},
  ): Promise<GatewayReply> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.management === true && this.connection.token !== undefined) {
      headers["authorization"] = `Bearer ${this.connection.token}`;
    }
    let response: Response;
    try {
      response = await fetch(`${this.connection.url}${path}`, { method, headers, body: options.body });
    } catch (error) {
      throw new GatewayRequestError(
        `cannot reach the gateway at ${this.connection.url} (is \`flint up\` running? set FLINT_GATEWAY_URL to use another)`,
        undefined,
        { cause: error },
      );
    }
    return { status: response.status, headers: response.headers, body: await response.text() };
  }

  /** A management call that must succeed; its JSON body. */
  async management<T>(method: string, path: string, body?: string): Promise<T> {
    const reply = await this.request(method, path, { body, management: true });
    if (reply.status >= 400) throw new GatewayRequestError(errorText(reply), reply.status);
    return (reply.body === "" ? undefined : JSON.parse(reply.body)) as T;
  }
}

/** The gateway's `{ error: { code, message } }` body as one line, or the raw body. */
export function errorText(reply: GatewayReply): string {
  try {
    // Parsed as the gateway sends it, but a proxy in between may answer with anything.
    const { error } = JSON.parse(reply.body) as Partial<ErrorBody>;
    if (error?.message !== undefined) {
      const hint =
        reply.status === 401 ? " (set FLINT_AUTH_TOKEN, or run the command where `flint up` runs)" : "";
      return `${reply.status} ${error.code ?? ""}: ${error.message}${hint}`;
    }
  } catch {
    // not JSON
  }
  return `${reply.status}: ${reply.body.trim()}`;
}

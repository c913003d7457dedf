// http mode: proxy every call to the user's HTTP server, streaming both ways over a keep-alive pool.
import { Agent, request, type IncomingMessage } from "node:http";
import { UpstreamError } from "../errors.js";
import type { Call, Mode } from "./mode.js";
import type { Upstream } from "./upstream.js";

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message, so they are not
 * forwarded. `expect` too: Node has already answered 100-continue to the client.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
]);

export class HttpMode implements Mode {
  /** Idle sockets are reused LIFO, so a quiet period lets the extra ones time out. */
  private readonly agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: "lifo" });

  constructor(private readonly upstream: Upstream) {}

  start(): Promise<void> {
    return this.upstream.start();
  }

  ready(): boolean {
    return this.upstream.ready();
  }

  handle(call: Call): Promise<void> {
    return new Promise((resolve, reject) => {
      const { req, res, body } = call;
      const upstreamReq = request({
        agent: this.agent,
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: this.upstream.basePath + (req.url ?? "/"),
        headers: forwardedRequestHeaders(req, call.id, body !== null),
      });
      call.onAbort(() => upstreamReq.destroy());
      const fail = (what: string, error: Error): void => {
        if (!call.aborted) reject(new UpstreamError(`${what}: ${error.message}`, { cause: error }));
      };
      upstreamReq.once("error", (error) => fail("the upstream failed", error));
      upstreamReq.once("response", (upstreamRes) => {
        if (call.aborted) {
          // The server has answered already (timeout, client gone); this response has nowhere to go.
          upstreamRes.destroy();
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, forwardedResponseHeaders(upstreamRes, call.id));
        // pipe rather than pipeline: pipeline builds and aborts an AbortController per call. What it
        // would add is done here: a broken upstream response fails the call (the server then cuts the
        // client off), and a client that goes away aborts the call, which destroys the upstream request.
        upstreamRes.pipe(res);
        upstreamRes.once("end", resolve);
        upstreamRes.once("error", (error) => fail("the upstream response broke", error));
        upstreamRes.once("close", () => {
          if (!upstreamRes.complete)
            fail("the upstream response broke", new Error("connection closed early"));
        });
      });

      // pipe, not pipeline: an upstream failure must not destroy the client's request (and socket),
      // or the 502 could not be sent. Backpressure still flows from the upstream socket to the client.
      if (body === null) upstreamReq.end();
      else body.pipe(upstreamReq);
    });
  }

  async close(): Promise<void> {
    await this.upstream.close();
    this.agent.destroy();
  }
}

/** The client's headers minus hop-by-hop ones, with the call id and the usual X-Forwarded-* added. */
function forwardedRequestHeaders(req: IncomingMessage, callId: string, hasBody: boolean): string[] {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let hasHost = false;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === "transfer-encoding") chunked = true;
    else if (lower === "x-forwarded-for") forwardedFor = raw[i + 1];
    else if (lower !== "x-call-id" && !HOP_BY_HOP.has(lower)) {
      if (lower === "host") hasHost = true;
      headers.push(name, raw[i + 1] as string);
    }
  }
  const peer = req.socket.remoteAddress ?? "";
  headers.push(
    "x-call-id",
    callId,
    "x-forwarded-for",
    forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`,
  );
  if (!hasHost) headers.push("host", "localhost");
  // Node decoded the client's chunks; with raw headers it frames the body only if told to.
  if (hasBody && chunked) headers.push("transfer-encoding", "chunked");
  return headers;
}

function forwardedResponseHeaders(upstreamRes: IncomingMessage, callId: string): string[] {
  const raw = upstreamRes.rawHeaders;
  const headers: string[] = ["x-call-id", callId];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!HOP_BY_HOP.has(name.toLowerCase()) && name.toLowerCase() !== "x-call-id") {
      headers.push(name, raw[i + 1] as string);
    }
  }
  return headers;
}

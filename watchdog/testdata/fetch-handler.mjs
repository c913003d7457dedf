// Test fixture: a fetch-style module handler whose behaviour is chosen by the request path.
import { existsSync } from "node:fs";

let aborted = 0;

/** Resolves when `path` exists or the call's signal fires, polling every 20 ms. */
function gate(path, signal) {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(path) || signal.aborted) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
}

export default async function handler(request, context) {
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/hello":
      return new Response("hello");
    case "/echo": {
      const body = await request.text();
      return Response.json({
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        body,
        callId: context.callId,
        functionName: context.functionName,
        remainingMs: context.getRemainingTimeInMillis(),
        deadlineMs: context.deadlineMs,
      });
    }
    case "/throw":
      throw new Error("boom");
    case "/reject":
      return Promise.reject(new Error("async boom"));
    case "/garbage":
      return 42;
    case "/hang":
      context.signal.addEventListener("abort", () => aborted++);
      return new Promise(() => {});
    case "/aborted":
      return new Response(String(aborted));
    case "/wait":
      await gate(url.searchParams.get("gate"), context.signal);
      return new Response("done");
    case "/stream": {
      const parts = ["one ", "two ", "three"];
      const stream = new ReadableStream({
        pull(controller) {
          const part = parts.shift();
          if (part === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(part));
        },
      });
      return new Response(stream, { status: 202, headers: { "x-streamed": "yes" } });
    }
    case "/no-content":
      return new Response(null, { status: 204, headers: { "x-empty": "yes" } });
    case "/cookies": {
      const headers = new Headers({ "content-type": "text/plain" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("cookies", { status: 201, headers });
    }
    case "/types":
      return Response.json({
        requestIsRequest: request instanceof Request,
        responseIsResponse: new Response("x") instanceof Response,
        jsonIsResponse: Response.json({}) instanceof Response,
        signalIsSignal: request.signal instanceof AbortSignal,
      });
    case "/subclass": {
      class Tagged extends Response {
        get headers() {
          const headers = super.headers;
          headers.set("x-tagged", "yes");
          return headers;
        }
      }
      return new Tagged("sub");
    }
    case "/unhandled":
      void Promise.reject(new Error("nobody listens"));
      return new Response("ok");
    default:
      return new Response("not found", { status: 404 });
  }
}

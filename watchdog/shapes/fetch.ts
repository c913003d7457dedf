// The fetch handler shape's way out: a Response (light or real) written to the node:http response.
import type { ServerResponse } from "node:http";
import { InvalidResultError } from "../errors.js";
import { fastResponseParts } from "./fast-fetch.js";
import type { Call } from "../modes/mode.js";

/** What the watchdog needs of a Response; undici's, a polyfill's or FastResponse all qualify. */
interface ResponseLike {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
}

/**
 * Writes what a fetch handler returned. A FastResponse with a string or byte body is written in one
 * go; any other Response is streamed with backpressure, and one whose body arrives in a single chunk
 * still gets a Content-Length.
 */
export function writeResponse(response: unknown, call: Call): Promise<void> {
  const fast = fastResponseParts(response);
  if (fast === undefined) return streamResponse(response, call);
  try {
    fast.headers.push("x-call-id", call.id);
    if (fast.statusText === undefined) call.res.writeHead(fast.status, fast.headers);
    else call.res.writeHead(fast.status, fast.statusText, fast.headers);
    call.res.end(fast.body);
    return WRITTEN;
  } catch (error) {
    // An invalid header name or value from the handler.
    return Promise.reject(
      new InvalidResultError(`the fetch handler returned an invalid response: ${String(error)}`),
    );
  }
}

/** The result of every synchronous write: one settled promise, shared. */
const WRITTEN = Promise.resolve();

async function streamResponse(response: unknown, call: Call): Promise<void> {
  const { res } = call;
  if (!isResponseLike(response)) {
    throw new InvalidResultError(`the fetch handler returned ${describe(response)}, not a Response`);
  }

  const headers: string[] = ["x-call-id", call.id];
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers.push(name, value);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push("set-cookie", cookie);
  const body = response.body;
  // An empty status text would replace Node's standard reason phrase with nothing.
  const statusText = response.statusText === "" ? undefined : response.statusText;
  if (body === null) {
    res.writeHead(response.status, statusText, headers).end();
    return;
  }

  const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
  // A producer that stalls must not outlive the call: cancelling settles the pending read.
  const cancel = (): void => void reader.cancel(call.signal.reason).catch(() => undefined);
  call.signal.addEventListener("abort", cancel, { once: true });
  try {
    const first = await reader.read();
    if (call.aborted) return;
    // A body that is already complete (one chunk, then done) gets a Content-Length. One that is not
    // must not wait for its second chunk: a server-sent event would sit here until the next one.
    let pending: Promise<Awaited<ReturnType<typeof reader.read>>> | undefined;
    let second = first;
    if (!first.done) {
      pending = reader.read();
      const now = await Promise.race([pending, nextTurn()]);
      if (now !== NOT_YET) {
        second = now;
        pending = undefined;
      }
    }
    if (call.aborted) return;
    if (pending !== undefined) {
      res.writeHead(response.status, statusText, headers);
      res.write(first.value);
      second = await pending;
      if (call.aborted) return;
    } else if (second.done) {
      const chunk = first.value;
      if (!response.headers.has("content-length"))
        headers.push("content-length", String(chunk?.byteLength ?? 0));
      res.writeHead(response.status, statusText, headers).end(chunk);
      return;
    }
    if (!res.headersSent) {
      res.writeHead(response.status, statusText, headers);
      res.write(first.value);
    }
    let next: Awaited<ReturnType<typeof reader.read>> = second;
    while (!next.done) {
      if (!res.write(next.value)) await drained(res, call);
      if (call.aborted) return;
      next = await reader.read();
      if (call.aborted) return;
    }
    res.end();
  } finally {
    call.signal.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

const NOT_YET = Symbol("not yet");

/** Resolves on the event loop's next turn, after every promise that was already settled. */
function nextTurn(): Promise<typeof NOT_YET> {
  return new Promise((resolve) => setImmediate(resolve, NOT_YET));
}

/** Resolves when `res` can take more data or the call was aborted (then 'drain' may never come). */
function drained(res: ServerResponse, call: Call): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
    if (call.aborted) done();
  });
}

function isResponseLike(value: unknown): value is ResponseLike {
  if (value instanceof Response) return true;
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<ResponseLike>;
  return typeof candidate.status === "number" && candidate.headers instanceof Headers && "body" in candidate;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" ? `a ${name}` : "an object";
}

// The fetch handler shape: a node:http request as a WHATWG Request, and a Response written back.
import type { ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { BadRequestError } from "../errors.js";
import type { Call } from "./mode.js";

/**
 * Builds the Request a fetch-style handler receives. Relative paths need a base: the Host header,
 * as any server behind a proxy would see it.
 */
export function toRequest(call: Call): Request {
  const { req, body } = call;
  const raw = req.rawHeaders;
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const init: RequestInit = { method: req.method, headers };
  if (body !== null) {
    init.body = Readable.toWeb(body) as ReadableStream<Uint8Array>;
    init.duplex = "half";
  }
  try {
    return new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, init);
  } catch (error) {
    throw new BadRequestError("the request cannot be represented as a fetch Request", { cause: error });
  }
}

/**
 * Writes a Response to `res`. A body that arrives in one chunk (the usual `new Response("text")`) is
 * sent with a Content-Length in one write; anything longer is streamed with backpressure.
 */
export async function writeResponse(response: Response, call: Call): Promise<void> {
  const { res } = call;
  const headers: string[] = [];
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers.push(name, value);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push("set-cookie", cookie);

  const body = response.body;
  if (body === null) {
    res.writeHead(response.status, headers).end();
    return;
  }
  const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
  // A producer that stalls must not outlive the call: cancelling settles the pending read.
  const cancel = (): void => void reader.cancel(call.signal.reason).catch(() => undefined);
  call.signal.addEventListener("abort", cancel, { once: true });
  try {
    const first = await reader.read();
    if (call.aborted) return;
    const second = first.done ? first : await reader.read();
    if (call.aborted) return;
    if (second.done) {
      const chunk = first.value;
      if (!response.headers.has("content-length"))
        headers.push("content-length", String(chunk?.byteLength ?? 0));
      res.writeHead(response.status, headers).end(chunk);
      return;
    }
    res.writeHead(response.status, headers);
    res.write(first.value);
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

/** Resolves when `res` can take more data or the call was aborted (then 'drain' may never come). */
export function drained(res: ServerResponse, call: Call): Promise<void> {
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

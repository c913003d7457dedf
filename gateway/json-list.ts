// Writes a `{ "items": [...], ... }` answer item by item, so a long list is never one string in
// memory: small chunks, and a wait for 'drain' whenever the socket's buffer is full.
import type { ServerResponse } from "node:http";

/** Items are gathered into chunks of about this many bytes before a write. */
const CHUNK_CHARS = 16 * 1024;

/**
 * Sends `body` as JSON with status 200, its `items` streamed and its other fields after them.
 * Resolves once the answer is written, or as soon as the client has gone (nothing more is sent).
 */
export async function writeJsonList(
  res: ServerResponse,
  body: { readonly items: readonly unknown[] },
): Promise<void> {
  const { items, ...rest } = body;
  res.statusCode = 200;
  res.setHeader("content-type", "application/json; charset=utf-8");
  let chunk = '{"items":[';
  for (let i = 0; i < items.length; i++) {
    chunk += (i === 0 ? "" : ",") + JSON.stringify(items[i]);
    if (chunk.length < CHUNK_CHARS) continue;
    if (!(await write(res, chunk))) return;
    chunk = "";
  }
  const fields = JSON.stringify(rest);
  res.end(`${chunk}]${fields === "{}" ? "}" : `,${fields.slice(1)}`}`);
}

/** Writes `text`; when the socket is full, waits for it to drain. False once the client has gone. */
async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(text)) return true;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
  return !res.destroyed;
}

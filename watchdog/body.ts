// Request body helpers: the streaming byte limit for bodies of undeclared length, and bounded reading.
import type { Readable } from "node:stream";
import { Transform, type TransformCallback } from "node:stream";
import { BodyTooLargeError } from "./errors.js";

/**
 * Passes bytes through until more than `limitBytes` have gone by, then fails with BodyTooLargeError.
 * Only used for chunked bodies: with a Content-Length, Node's parser already stops at that length.
 */
export class BodyLimit extends Transform {
  private seenBytes = 0;

  constructor(private readonly limitBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seenBytes += chunk.length;
    if (this.seenBytes > this.limitBytes) callback(new BodyTooLargeError(this.limitBytes));
    else callback(null, chunk);
  }
}

/** Reads a whole body into memory; the caller's BodyLimit (or declared length) bounds its size. */
export async function readBody(body: Readable | null): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

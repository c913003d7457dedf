// Reads a manifest file with the size bound applied while reading, so a huge file (or /dev/zero) never fills memory.
import { open } from "node:fs/promises";

import {
  MANIFEST_LIMITS,
  parseManifests,
  tooLarge,
  type FieldError,
  type ParseOptions,
  type ValidationResult,
} from "./parse.js";

const READ_CHUNK_BYTES = 64 * 1024;

/**
 * The bytes of `path`, reading at most MANIFEST_LIMITS.maxBytes + 1 of them: one byte past the limit
 * is enough to know the file is too large, even where stat has no size to tell (a FIFO, /dev/zero).
 * Returns a FieldError (code MANIFEST_TOO_LARGE or MANIFEST_UNREADABLE) instead of throwing.
 */
export async function readManifestFile(path: string): Promise<Buffer | FieldError> {
  const limitBytes = MANIFEST_LIMITS.maxBytes;
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    return unreadable(error);
  }
  try {
    const info = await handle.stat();
    // A regular file says its size: refused without reading a byte.
    if (info.isFile() && info.size > limitBytes) return tooLarge(info.size);
    const chunks: Buffer[] = [];
    let totalBytes = 0;
    while (totalBytes <= limitBytes) {
      const chunk = Buffer.alloc(Math.min(READ_CHUNK_BYTES, limitBytes + 1 - totalBytes));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      totalBytes += bytesRead;
    }
    if (totalBytes > limitBytes) return tooLarge(limitBytes, true);
    return Buffer.concat(chunks, totalBytes);
  } catch (error) {
    return unreadable(error);
  } finally {
    await handle.close();
  }
}

/** readManifestFile, then parseManifests: one result per document, or one failed result for the file. */
export async function parseManifestFile(
  path: string,
  options: ParseOptions = {},
): Promise<ValidationResult[]> {
  const bytes = await readManifestFile(path);
  if (!Buffer.isBuffer(bytes)) return [{ ok: false, errors: [bytes] }];
  return parseManifests(bytes, options);
}

function unreadable(error: unknown): FieldError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === "ENOENT"
      ? "no such file"
      : code === "EISDIR"
        ? "is a directory"
        : code === "EACCES"
          ? "permission denied"
          : String(error);
  return { path: "", message: `cannot read: ${reason}`, code: "MANIFEST_UNREADABLE" };
}

// What `flint up` keeps of a function's replica output for `flint logs`: the last lines, bounded in
// lines and in bytes, each line cut at a byte bound, and a count of what was dropped to stay there.

/** One log line of a replica, as `flint logs` shows it. */
export interface LogEntry {
  timeMs: number;
  replica: string;
  stream: "stdout" | "stderr";
  line: string;
}

/** The bounds of one function's buffer. */
export interface LogLimits {
  /** Lines kept; the oldest go first. */
  lines: number;
  /** UTF-8 bytes of the kept lines' text, in all; the oldest lines go first. */
  bytes: number;
  /** UTF-8 bytes of one line, its cut marker included; the rest of a longer line is dropped. */
  lineBytes: number;
}

/** What a buffer dropped since it was made, to stay within its limits. */
export interface LogsDropped {
  /** Whole lines evicted, oldest first, to make room. */
  lines: number;
  /** UTF-8 bytes of the evicted lines plus the bytes cut off long lines. */
  bytes: number;
  /** Lines kept with their end cut off (each ends with a marker saying how many bytes). */
  cutLines: number;
}

/** Room kept at the end of a cut line for its marker, " … [N bytes cut]"; N is at most 16 digits. */
const MARKER_RESERVE_BYTES = 40;

interface Stored {
  entry: LogEntry;
  sizeBytes: number;
}

/** The last lines of a function's replicas, oldest first, within `limits`. */
export class LogBuffer {
  // A queue: `first` is the oldest kept entry; evicted ones before it are compacted away in bulk,
  // so eviction is O(1) amortized instead of a splice per line.
  // Evicted slots are cleared at once, so a kept reference never outlives the bytes bound.
  private entries: (Stored | undefined)[] = [];
  private first = 0;
  private bytes = 0;
  private readonly drops: LogsDropped = { lines: 0, bytes: 0, cutLines: 0 };

  constructor(readonly limits: LogLimits) {
    const { lines, bytes, lineBytes } = limits;
    if (!Number.isInteger(lines) || lines < 1) {
      throw new RangeError(`log lines must be at least 1, was ${lines}`);
    }
    if (!Number.isInteger(lineBytes) || lineBytes < 2 * MARKER_RESERVE_BYTES) {
      throw new RangeError(`log line bytes must be at least ${2 * MARKER_RESERVE_BYTES}, was ${lineBytes}`);
    }
    if (!Number.isInteger(bytes) || bytes < lineBytes) {
      throw new RangeError(`log bytes must be at least the line bytes (${lineBytes}), was ${bytes}`);
    }
  }

  /**
   * Adds a line, cutting it to `limits.lineBytes`, then evicts the oldest lines past the limits.
   * `cutBytes` are bytes the reader already dropped from this line (see readLines).
   */
  push(entry: LogEntry, cutBytes = 0): void {
    let { line } = entry;
    let sizeBytes = Buffer.byteLength(line);
    if (sizeBytes > this.limits.lineBytes || cutBytes > 0) {
      // The marker counts towards the line's bound: keep what leaves it room.
      const bytes = Buffer.from(line);
      const keep = utf8Prefix(bytes, this.limits.lineBytes - MARKER_RESERVE_BYTES);
      const cut = cutBytes + sizeBytes - keep;
      line = `${bytes.toString("utf8", 0, keep)} … [${cut} bytes cut]`;
      sizeBytes = Buffer.byteLength(line);
      this.drops.cutLines++;
      this.drops.bytes += cut;
    }
    this.entries.push({ entry: line === entry.line ? entry : { ...entry, line }, sizeBytes });
    this.bytes += sizeBytes;
    while (this.lineCount > this.limits.lines || this.bytes > this.limits.bytes) this.evict();
  }

  /** The last `limit` lines, oldest first. */
  tail(limit = this.limits.lines): LogEntry[] {
    const from = Math.max(this.first, this.entries.length - Math.max(0, limit));
    return this.entries.slice(from).flatMap((stored) => (stored === undefined ? [] : [stored.entry]));
  }

  get lineCount(): number {
    return this.entries.length - this.first;
  }

  /** UTF-8 bytes of the kept lines' text; at most `limits.bytes`. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** What was dropped since the buffer was made. */
  dropped(): LogsDropped {
    return { ...this.drops };
  }

  private evict(): void {
    const oldest = this.entries[this.first];
    if (oldest === undefined) return;
    this.entries[this.first] = undefined;
    this.first++;
    this.bytes -= oldest.sizeBytes;
    this.drops.lines++;
    this.drops.bytes += oldest.sizeBytes;
    if (this.first >= 1024 && this.first * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }
}

/**
 * Splits a child's output into lines, handing each to `onLine` without its newline. A line longer
 * than `maxLineBytes` is held only up to that bound: the rest is counted, not kept, and passed as
 * `cutBytes` once the line ends. Empty lines are skipped; an unterminated last line is delivered at
 * the end of the stream.
 */
export function readLines(
  stream: NodeJS.ReadableStream,
  maxLineBytes: number,
  onLine: (line: string, cutBytes: number) => void,
): void {
  // The start of the current line, copied out of the chunks so no chunk is held past its event.
  let head: Buffer[] = [];
  let headBytes = 0;
  let cutBytes = 0;
  const hold = (part: Buffer): void => {
    const room = maxLineBytes - headBytes;
    const kept = part.length <= room ? part : part.subarray(0, room);
    if (kept.length > 0) head.push(Buffer.from(kept));
    headBytes += kept.length;
    cutBytes += part.length - kept.length;
  };
  const end = (): void => {
    if (headBytes === 0 && cutBytes === 0) return;
    const bytes = Buffer.concat(head, headBytes);
    // A cut may have split a character: drop its first bytes too rather than show U+FFFD.
    const keep = cutBytes > 0 ? utf8Prefix(bytes, headBytes) : headBytes;
    const line = bytes.toString("utf8", 0, keep);
    const cut = cutBytes + headBytes - keep;
    head = [];
    headBytes = 0;
    cutBytes = 0;
    onLine(line, cut);
  };
  stream.on("data", (chunk: Buffer | string) => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let newline = bytes.indexOf(10); newline !== -1; newline = bytes.indexOf(10, start)) {
      // The common case, a whole short line inside one chunk, is decoded straight from the chunk.
      if (headBytes === 0 && cutBytes === 0 && newline - start <= maxLineBytes) {
        if (newline > start) onLine(bytes.toString("utf8", start, newline), 0);
      } else {
        hold(bytes.subarray(start, newline));
        end();
      }
      start = newline + 1;
    }
    if (start < bytes.length) hold(bytes.subarray(start));
  });
  stream.once("end", end);
}

/**
 * The length of the longest prefix of `bytes` of at most `maxBytes` that does not end inside a
 * UTF-8 character (a cut there would decode as U+FFFD).
 */
export function utf8Prefix(bytes: Uint8Array, maxBytes: number): number {
  const end = Math.min(bytes.length, maxBytes);
  // Back up over continuation bytes (10xxxxxx) to the last character's first byte.
  let start = end;
  while (start > 0 && end - start < 4 && ((bytes[start - 1] ?? 0) & 0xc0) === 0x80) start--;
  if (start === 0) return end;
  const first = bytes[start - 1] ?? 0;
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
  return end - (start - 1) < length ? start - 1 : end;
}

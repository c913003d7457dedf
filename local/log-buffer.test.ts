// The log buffer's bounds (lines, bytes, bytes a line), its eviction order and what it says it dropped;
// readLines' bound on a line still being read.
import { PassThrough } from "node:stream";

import { LogBuffer, readLines, utf8Prefix, type LogEntry } from "./log-buffer.js";

const entry = (line: string, timeMs = 0): LogEntry => ({ timeMs, replica: "r-1", stream: "stdout", line });
const lines = (buffer: LogBuffer): string[] => buffer.tail().map((e) => e.line);

describe("LogBuffer", () => {
  it("keeps the last lines within the line bound, evicting the oldest first", () => {
    const buffer = new LogBuffer({ lines: 3, bytes: 1024, lineBytes: 256 });
    for (const line of ["a", "bb", "ccc", "dddd", "eeeee"]) buffer.push(entry(line));
    expect(lines(buffer)).toEqual(["ccc", "dddd", "eeeee"]);
    expect(buffer.dropped()).toEqual({ lines: 2, bytes: 3, cutLines: 0 });
    expect(buffer.tail(2).map((e) => e.line)).toEqual(["dddd", "eeeee"]);
  });

  it("keeps the total UTF-8 bytes within the byte bound, whatever the line count", () => {
    const buffer = new LogBuffer({ lines: 10_000, bytes: 1000, lineBytes: 100 });
    for (let i = 0; i < 500; i++) {
      buffer.push(entry(`${i}`.padStart(4, "0") + "é".repeat(40), i)); // 4 + 80 bytes
      expect(buffer.sizeBytes).toBeLessThanOrEqual(1000);
    }
    expect(buffer.lineCount).toBe(11);
    expect(buffer.sizeBytes).toBe(11 * 84);
    expect(buffer.tail().map((e) => e.timeMs)).toEqual(Array.from({ length: 11 }, (_, i) => 489 + i));
    expect(buffer.dropped()).toEqual({ lines: 489, bytes: 489 * 84, cutLines: 0 });
  });

  it("cuts a long line at the line bound, without splitting a character, and says how many bytes went", () => {
    const buffer = new LogBuffer({ lines: 10, bytes: 10_000, lineBytes: 100 });
    const long = "€".repeat(1000); // 3 bytes each
    buffer.push(entry(long));
    const [kept] = lines(buffer);
    expect(Buffer.byteLength(kept ?? "")).toBeLessThanOrEqual(100);
    // 60 bytes of room before the marker: 20 whole euro signs.
    expect(kept).toBe(`${"€".repeat(20)} … [2940 bytes cut]`);
    expect(buffer.dropped()).toEqual({ lines: 0, bytes: 2940, cutLines: 1 });
  });

  it("adds the bytes a reader already cut to the marker and the count", () => {
    const buffer = new LogBuffer({ lines: 10, bytes: 10_000, lineBytes: 100 });
    buffer.push(entry("start of a long line"), 5000);
    expect(lines(buffer)).toEqual(["start of a long line … [5000 bytes cut]"]);
    expect(buffer.dropped()).toEqual({ lines: 0, bytes: 5000, cutLines: 1 });
    buffer.push(entry("x".repeat(150)), 1000);
    expect(lines(buffer)[1]).toBe(`${"x".repeat(60)} … [1090 bytes cut]`);
    expect(buffer.dropped()).toEqual({ lines: 0, bytes: 6090, cutLines: 2 });
    // A reader's cut at the full bound leaves no room for the marker: the buffer makes it.
    buffer.push(entry("w".repeat(100)), 1);
    expect(lines(buffer)[2]).toBe(`${"w".repeat(60)} … [41 bytes cut]`);
    expect(buffer.tail().every((e) => Buffer.byteLength(e.line) <= 100)).toBe(true);
  });

  it("counts an evicted cut line by its kept size, so every byte dropped is counted once", () => {
    const buffer = new LogBuffer({ lines: 1, bytes: 1000, lineBytes: 100 });
    buffer.push(entry("y".repeat(500)));
    const keptBytes = buffer.sizeBytes;
    buffer.push(entry("next"));
    expect(buffer.dropped()).toEqual({ lines: 1, bytes: 500 - 60 + keptBytes, cutLines: 1 });
  });

  it("stays correct across many evictions (the queue compacts)", () => {
    const buffer = new LogBuffer({ lines: 5, bytes: 1000, lineBytes: 100 });
    for (let i = 0; i < 10_000; i++) buffer.push(entry(String(i), i));
    expect(lines(buffer)).toEqual(["9995", "9996", "9997", "9998", "9999"]);
    expect(buffer.dropped().lines).toBe(9995);
  });

  it.each([
    [{ lines: 0, bytes: 1000, lineBytes: 100 }, /log lines must be at least 1/],
    [{ lines: 10, bytes: 1000, lineBytes: 10 }, /log line bytes must be at least 80/],
    [{ lines: 10, bytes: 100, lineBytes: 200 }, /log bytes must be at least the line bytes/],
  ])("refuses limits %j", (limits, message) => {
    expect(() => new LogBuffer(limits)).toThrow(message);
  });
});

describe("readLines", () => {
  const collect = (maxLineBytes: number): { stream: PassThrough; got: [string, number][] } => {
    const stream = new PassThrough();
    const got: [string, number][] = [];
    readLines(stream, maxLineBytes, (line, cut) => got.push([line, cut]));
    return { stream, got };
  };
  /** Until everything written has been read. */
  const settle = async (stream: PassThrough): Promise<void> => {
    while (stream.writableLength > 0 || stream.readableLength > 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  it("splits lines across chunks and delivers an unterminated last line at the end", async () => {
    const { stream, got } = collect(100);
    stream.write("one\ntw");
    stream.write("o\n\nthr");
    stream.end("ee");
    await new Promise((resolve) => stream.once("end", resolve));
    expect(got).toEqual([
      ["one", 0],
      ["two", 0],
      ["three", 0],
    ]);
  });

  it("holds no more than the bound of a line still being read, and counts the rest", async () => {
    const { stream, got } = collect(100);
    // 10 MiB with no newline: nothing may be delivered, and nothing past 100 bytes held.
    for (let i = 0; i < 160; i++) stream.write(Buffer.alloc(65_536, "z"));
    await settle(stream);
    expect(got).toEqual([]);
    stream.write("\nafter\n");
    await settle(stream);
    expect(got).toEqual([
      ["z".repeat(100), 160 * 65_536 - 100],
      ["after", 0],
    ]);
  });

  it("does not split a multi-byte character at the cut", async () => {
    const { stream, got } = collect(100);
    stream.write(`${"a".repeat(99)}€€\n`); // the first € starts at byte 99
    await settle(stream);
    expect(got).toEqual([["a".repeat(99), 6]]);
  });

  it("decodes a character split across chunks", async () => {
    const { stream, got } = collect(100);
    const bytes = Buffer.from("é\n");
    stream.write(bytes.subarray(0, 1));
    stream.write(bytes.subarray(1));
    await settle(stream);
    expect(got).toEqual([["é", 0]]);
  });
});

describe("utf8Prefix", () => {
  it.each([
    ["abc", 2, 2],
    ["abc", 5, 3],
    ["aé", 2, 1],
    ["aé", 3, 3],
    ["a€", 3, 1],
    ["a😀", 4, 1],
    ["a😀", 5, 5],
  ])("%j within %d bytes keeps %d", (text, maxBytes, kept) => {
    expect(utf8Prefix(Buffer.from(text), maxBytes)).toBe(kept);
  });
});

// `flint logs` says what the platform's log buffer dropped before the lines it kept.
import { droppedNote } from "./logs.js";

const limits = { lines: 2000, bytes: 4 * 1024 * 1024, lineBytes: 16 * 1024 };

describe("droppedNote", () => {
  it.each<[string, { lines: number; bytes: number; cutLines: number }, string | undefined]>([
    ["nothing dropped", { lines: 0, bytes: 0, cutLines: 0 }, undefined],
    [
      "earlier lines",
      { lines: 1, bytes: 300, cutLines: 0 },
      "(1 earlier line; 300 bytes dropped: the buffer keeps the last 4 MiB, 2000 lines at most, 16 KiB a line)",
    ],
    [
      "earlier and cut lines",
      { lines: 25_000, bytes: 100.5 * 1024 * 1024, cutLines: 320 },
      "(25000 earlier lines, 320 long lines cut; 100.5 MiB dropped: the buffer keeps the last 4 MiB, 2000 lines at most, 16 KiB a line)",
    ],
    [
      "a cut line only",
      { lines: 0, bytes: 2048, cutLines: 1 },
      "(1 long line cut; 2 KiB dropped: the buffer keeps the last 4 MiB, 2000 lines at most, 16 KiB a line)",
    ],
  ])("%s", (_name, dropped, note) => {
    expect(droppedNote({ dropped, limits })).toBe(note);
  });
});

import { fileURLToPath } from "node:url";
import { resolveScaleSpec } from "../spec.js";
import { TraceFormatError } from "./errors.js";
import { parseRequestsCsv, readRequestsCsv } from "./requests-csv.js";

const testdata = (name: string): string => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));

describe("readRequestsCsv", () => {
  it("groups requests by function in order of first appearance and measures to the next whole minute", () => {
    const workload = readRequestsCsv(testdata("requests.csv"));
    expect(workload.durationMs).toBe(120_000);
    expect(workload.functions.map((fn) => fn.name)).toEqual(["hello", "resize"]);
    const [hello, resize] = workload.functions;
    expect(Array.from(hello!.requests.arrivalMs)).toEqual([0, 500, 90_000]);
    expect(Array.from(hello!.requests.durationMs)).toEqual([100, 100, 50]);
    expect(Array.from(resize!.requests.arrivalMs)).toEqual([500]);
    expect(hello!.spec).toEqual(resolveScaleSpec());
  });

  it("takes the scale settings and measured span it is given", () => {
    const spec = resolveScaleSpec({ concurrency: 4 });
    const workload = readRequestsCsv(testdata("requests.csv"), { spec, durationMs: 3_600_000 });
    expect(workload.durationMs).toBe(3_600_000);
    expect(workload.functions[0]!.spec.concurrency).toBe(4);
  });

  it.each([
    ["requests-unsorted.csv", "4: t_ms 400 is before the previous line's 500; lines must be sorted by time"],
    ["requests-bad-duration.csv", '3: duration_ms must be a number ≥ 0, was "fast"'],
    ["requests-bad-header.csv", '1: header must be t_ms,function,duration_ms, was "time,function,duration"'],
    ["no-such-file.csv", " cannot be read"],
  ])("rejects %s naming the file and line", (file, message) => {
    const read = (): unknown => readRequestsCsv(testdata(file));
    expect(read).toThrow(TraceFormatError);
    // A line number follows the file name as "file:line: …"; a whole-file problem reads "file: …".
    expect(read).toThrow(`${testdata(file)}:${message}`);
  });

  it.each([
    ["", "in.csv: is empty"],
    ["t_ms,function,duration_ms\n5,f\n", "in.csv:2: must have 3 fields (t_ms,function,duration_ms), has 2"],
    ["t_ms,function,duration_ms\n5,,10\n", "in.csv:2: function must not be empty"],
    ["t_ms,function,duration_ms\n-1,f,10\n", 'in.csv:2: t_ms must be a number ≥ 0, was "-1"'],
  ])("rejects %j", (text, message) => {
    expect(() => parseRequestsCsv({ name: "in.csv", text })).toThrow(message);
  });
});

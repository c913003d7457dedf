import { fileURLToPath } from "node:url";
import { UnknownWorkloadError } from "./errors.js";
import { loadWorkload } from "./load.js";

const testdata = (name: string): string => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));

describe("loadWorkload", () => {
  it.each([
    ["synthetic:periodic", "periodic", 20],
    ["bursty", "bursty", 10],
    [testdata("azure-small"), "azure-small", 2],
    [testdata("requests.csv"), testdata("requests.csv"), 2],
  ])("%s", (source, name, functions) => {
    const workload = loadWorkload(source, { seed: 1 });
    expect(workload.name).toBe(name);
    expect(workload.functions).toHaveLength(functions);
  });

  it("names what it accepts when nothing matches", () => {
    expect(() => loadWorkload("synthetic:nope", { seed: 1 })).toThrow(UnknownWorkloadError);
    expect(() => loadWorkload("synthetic:nope", { seed: 1 })).toThrow("synthetic:steady, synthetic:diurnal");
  });
});

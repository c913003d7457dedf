// The layering of the repository, checked on every relative import: and the checker itself, on
// synthetic imports, so that a broken rule or a broken scan cannot pass silently.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  brokenRule,
  classify,
  formatViolations,
  relativeSpecifiers,
  resolveSpecifier,
  scanImports,
  violations,
} from "./architecture.js";

describe("the repository's imports", () => {
  const { files, edges } = scanImports();

  it("are read from every part of the tree", () => {
    // A walk that found nothing would pass every rule: check that it saw the tree it guards.
    expect(files.length).toBeGreaterThan(200);
    expect(files).toEqual(
      expect.arrayContaining(["gateway/index.ts", "testing/gateway.ts", "e2e/local/flint-up.test.ts"]),
    );
    expect(edges).toContainEqual(
      expect.objectContaining({ from: "cli/commands/up.ts", to: "embedded/platform.ts" }),
    );
    expect(files.some((file) => file.startsWith("node_modules/") || file.startsWith("dist/"))).toBe(false);
  });

  it("put every file in a layer or in test code", () => {
    expect(files.filter((file) => classify(file).kind === "unclassified")).toEqual([]);
  });

  it("follow the layering rules", () => {
    const found = violations(edges);
    if (found.length > 0)
      throw new Error(`${found.length} imports break the layering:\n${formatViolations(found)}`);
  });
});

describe("scanImports and violations on a tree that breaks the rules", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "flint-architecture-"));
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write("e2e/cluster/images.ts", "export const IMAGES = [];\n");
    write("gateway/index.ts", `export * from "./gateway.js";\n`);
    write("gateway/gateway.ts", "export const gateway = 1;\n");
    write(
      "gateway/main.ts",
      `import {\n  IMAGES,\n} from "../e2e/cluster/images.js";\nimport { gateway } from "./gateway.js";\n`,
    );
    write("embedded/platform.ts", `export { gateway } from "../gateway/gateway.js";\n`);
    write("node_modules/dep/index.ts", `import "../../e2e/cluster/images.js";\n`);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("finds the multi-line import of e2e/ and the way round gateway/index.ts, and skips node_modules", () => {
    const { files, edges } = scanImports(root);
    expect(files).toEqual([
      "e2e/cluster/images.ts",
      "embedded/platform.ts",
      "gateway/gateway.ts",
      "gateway/index.ts",
      "gateway/main.ts",
    ]);
    expect(formatViolations(violations(edges)).split("\n")).toEqual([
      "embedded/platform.ts:1 -> gateway/gateway.ts (gateway/ is imported only through gateway/index.ts)",
      "gateway/main.ts:3 -> e2e/cluster/images.ts (product code imports test code (testing/, e2e/, bench/, *.test.ts, testdata/))",
    ]);
  });
});

describe("classify", () => {
  it.each([
    ["gateway/proxy.ts", { kind: "product", layer: "gateway" }],
    ["gateway/async/consumer.ts", { kind: "product", layer: "gateway" }],
    ["platform/kubernetes/reflector.ts", { kind: "product", layer: "platform" }],
    ["embedded/platform.ts", { kind: "product", layer: "embedded" }],
    ["gateway/proxy.test.ts", { kind: "test" }],
    ["platform/kubernetes/kubernetes.apiserver.test.ts", { kind: "test" }],
    ["autoscaler/sim/testdata/requests.csv", { kind: "test" }],
    ["watchdog/testdata/fetch-handler.mjs", { kind: "test" }],
    ["testing/gateway.ts", { kind: "test" }],
    ["e2e/cluster/kubelet.ts", { kind: "test" }],
    ["bench/main.ts", { kind: "test" }],
    ["charts/chart.test.ts", { kind: "test" }],
    ["charts/render.ts", { kind: "unclassified" }],
    ["scripts/tool.ts", { kind: "unclassified" }],
    ["gateway", { kind: "unclassified" }],
  ])("%s is %o", (path, expected) => {
    expect(classify(path)).toEqual(expected);
  });
});

describe("brokenRule", () => {
  it.each([
    // Allowed: the layering as designed.
    ["platform/ports.ts", "api/index.ts", undefined],
    ["gateway/proxy.ts", "platform/ports.ts", undefined],
    ["gateway/proxy.ts", "gateway/async/ports.ts", undefined],
    ["controller/autoscaler.ts", "autoscaler/index.ts", undefined],
    ["cli/commands/up.ts", "embedded/platform.ts", undefined],
    ["embedded/platform.ts", "gateway/index.ts", undefined],
    ["embedded/platform.ts", "local/index.ts", undefined],
    ["embedded/platform.ts", "platform/kubernetes/platform.ts", undefined],
    // Test code may import anything.
    ["testing/gateway.ts", "gateway/gateway.ts", undefined],
    ["gateway/proxy.test.ts", "testing/gateway.ts", undefined],
    ["e2e/local/flint-up.test.ts", "embedded/platform.ts", undefined],
    ["bench/gateway.ts", "watchdog/server.ts", undefined],
    // Product code never imports test code.
    ["gateway/main.ts", "e2e/cluster/images.ts", "product code imports test code"],
    ["local/supervisor.ts", "testing/watchdog.ts", "product code imports test code"],
    ["autoscaler/cli.ts", "bench/support.ts", "product code imports test code"],
    ["gateway/proxy.ts", "gateway/headers.test.ts", "product code imports test code"],
    ["autoscaler/sim/azure.ts", "autoscaler/sim/testdata/x.ts", "product code imports test code"],
    // Layers.
    ["api/parse.ts", "platform/ports.ts", "api/ may import only nothing"],
    ["platform/memory.ts", "gateway/index.ts", "platform/ may import only api"],
    ["gateway/proxy.ts", "autoscaler/index.ts", "gateway/ may import only api, platform"],
    ["watchdog/server.ts", "gateway/headers.ts", "watchdog/ may import only api, platform"],
    ["cli/commands/up.ts", "gateway/index.ts", "cli/ may import only api, platform, embedded"],
    ["local/supervisor.ts", "embedded/platform.ts", "local/ may import only api, platform"],
    // Components only through their entry point.
    [
      "controller/autoscaler.ts",
      "autoscaler/loop.ts",
      "autoscaler/ is imported only through autoscaler/index.ts",
    ],
    ["embedded/platform.ts", "gateway/gateway.ts", "gateway/ is imported only through gateway/index.ts"],
    ["embedded/platform.ts", "local/supervisor.ts", "local/ is imported only through local/index.ts"],
    // Outside every layer.
    ["gateway/main.ts", "charts/values.ts", "product code imports a file in no product layer"],
    ["gateway/main.ts", "../elsewhere/x.ts", "product code imports a file outside the repository"],
    ["scripts/tool.ts", "api/index.ts", "scripts/tool.ts is in no layer"],
  ])("%s -> %s: %s", (from, to, rule) => {
    const broken = brokenRule({ from, to, line: 1 });
    if (rule === undefined) expect(broken).toBeUndefined();
    else expect(broken).toContain(rule);
  });

  it("reports each breaking import as `from:line -> to (rule)` and lets the rest through", () => {
    const found = violations([
      { from: "gateway/main.ts", to: "e2e/cluster/images.ts", line: 7 },
      { from: "gateway/main.ts", to: "gateway/gateway.ts", line: 8 },
      { from: "controller/autoscaler.ts", to: "autoscaler/loop.ts", line: 3 },
    ]);
    expect(formatViolations(found).split("\n")).toEqual([
      "gateway/main.ts:7 -> e2e/cluster/images.ts (product code imports test code (testing/, e2e/, bench/, *.test.ts, testdata/))",
      "controller/autoscaler.ts:3 -> autoscaler/loop.ts (autoscaler/ is imported only through autoscaler/index.ts)",
    ]);
  });
});

describe("relativeSpecifiers", () => {
  it("finds multi-line, type-only, re-export, dynamic and require imports, with their lines, and skips packages", () => {
    const text = [
      `import { readFileSync } from "node:fs";`,
      `import {`,
      `  a,`,
      `  b,`,
      `} from "../platform/ports.js";`,
      `import type { C } from "./types.js";`,
      `export { d } from "./d.js";`,
      `export * from "../api/index.js";`,
      `// import { commented } from "./commented.js";`,
      `const e = await import("../e2e/cluster/images.js");`,
      `type F = import("./f.js").F;`,
      `import g = require("./g.js");`,
      `import "pino";`,
    ].join("\n");
    expect(relativeSpecifiers("gateway/x.ts", text)).toEqual([
      { specifier: "../platform/ports.js", line: 5 },
      { specifier: "./types.js", line: 6 },
      { specifier: "./d.js", line: 7 },
      { specifier: "../api/index.js", line: 8 },
      { specifier: "../e2e/cluster/images.js", line: 10 },
      { specifier: "./f.js", line: 11 },
      { specifier: "./g.js", line: 12 },
    ]);
  });
});

describe("resolveSpecifier", () => {
  const exists = (path: string): boolean => ["gateway/index.ts", "watchdog/testdata/h.mts"].includes(path);
  it.each([
    ["embedded/platform.ts", "../gateway/index.js", "gateway/index.ts"],
    ["watchdog/x.test.ts", "./testdata/h.mjs", "watchdog/testdata/h.mts"],
    ["watchdog/x.test.ts", "./testdata/plain.mjs", "watchdog/testdata/plain.mjs"],
    ["gateway/async/a.ts", "../../platform/ports.js", "platform/ports.js"],
    ["gateway/a.ts", "../../outside.js", "../outside.js"],
  ])("%s imports %s: %s", (from, specifier, expected) => {
    expect(resolveSpecifier(from, specifier, exists)).toBe(expected);
  });
});

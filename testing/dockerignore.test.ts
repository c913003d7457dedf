// The .dockerignore matcher against the patterns the images use, and Docker's anchoring and `!` rules.
import { dockerignorePatterns, isExcluded, parseDockerignore } from "./dockerignore.js";

describe("isExcluded", () => {
  it.each([
    // A plain name is anchored at the context root, and leaves out everything below it.
    ["node_modules", "node_modules", true],
    ["node_modules", "node_modules/typescript/bin/tsc", true],
    ["dist", "dist/gateway/main.js", true],
    ["dist", "gateway/dist/main.js", false],
    ["e2e", "e2e/cluster/run.sh", true],
    ["e2e", "e2e2/x.ts", false],
    ["e2e", "gateway/e2e.ts", false],
    [".git", ".git/HEAD", true],
    [".git", ".gitignore", false],
    ["/docs", "docs/adr/0001.md", true],
    ["docs/", "docs/adr/0001.md", true],
    ["./charts", "charts/flint/values.yaml", true],
    // `**/` matches zero or more folders.
    ["**/*.test.ts", "gateway/proxy.test.ts", true],
    ["**/*.test.ts", "gateway/async/async.test.ts", true],
    ["**/*.test.ts", "root.test.ts", true],
    ["**/*.test.ts", "gateway/proxy.ts", false],
    ["**/*.test.ts", "gateway/proxy.test.tsx", false],
    ["**/testdata", "watchdog/testdata/fetch-handler.mjs", true],
    ["**/testdata", "autoscaler/sim/testdata/azure-small/inv.csv", true],
    ["**/testdata", "testdata/x", true],
    ["**/testdata", "watchdog/testdatax/y", false],
    ["**/testdata", "watchdog/my-testdata/y", false],
    // `*` and `?` stay within one segment.
    ["*.md", "README.md", true],
    ["*.md", "docs/gateway.md", false],
    ["docs/*.md", "docs/gateway.md", true],
    ["docs/*.md", "docs/adr/0001.md", false],
    ["file?.ts", "file1.ts", true],
    ["file?.ts", "file10.ts", false],
    ["[ab].ts", "a.ts", true],
    ["[!ab].ts", "a.ts", false],
    ["[!ab].ts", "c.ts", true],
    // Regular-expression characters are literal.
    ["a.b", "axb", false],
    ["a+b", "a+b", true],
  ])("%s leaves out %s: %s", (pattern, path, expected) => {
    expect(isExcluded(parseDockerignore(pattern), path)).toBe(expected);
  });

  it("lets a later `!` pattern take a file back, and a still later one leave it out again", () => {
    const rules = parseDockerignore("docs\n!docs/keep.md\n");
    expect(isExcluded(rules, "docs/keep.md")).toBe(false);
    expect(isExcluded(rules, "docs/other.md")).toBe(true);
    expect(isExcluded(parseDockerignore("docs\n!docs/keep.md\ndocs/*.md\n"), "docs/keep.md")).toBe(true);
  });

  it("ignores comments and blank lines, and keeps everything when nothing matches", () => {
    const rules = parseDockerignore("# node_modules\n\n   \ndist\n");
    expect(isExcluded(rules, "node_modules/x")).toBe(false);
    expect(isExcluded(rules, "dist/x")).toBe(true);
    expect(isExcluded(parseDockerignore(""), "anything/at/all")).toBe(false);
  });
});

describe("dockerignorePatterns", () => {
  it("tells files apart by their patterns, not their comments", () => {
    expect(dockerignorePatterns("# for the gateway\ndist\n**/testdata\n")).toEqual(["dist", "**/testdata"]);
    expect(dockerignorePatterns("# for the watchdog\ndist\n\n**/testdata")).toEqual(["dist", "**/testdata"]);
  });
});

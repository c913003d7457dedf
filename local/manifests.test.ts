import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { MemoryFunctionStore } from "../platform/function-store.js";
import { ManifestFolder, scanFolder, type ManifestEvent } from "./manifests.js";

const manifest = (name: string, timeout = "10s"): string => `apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: ${name} }
spec: { handler: { mode: module, entry: handler.js }, timeout: ${timeout} }
`;

describe("ManifestFolder", () => {
  let root: string;
  let store: MemoryFunctionStore;
  let events: ManifestEvent[];
  let folder: ManifestFolder;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "flint-manifests-"));
    mkdirSync(join(root, "a"));
    mkdirSync(join(root, "b"));
    mkdirSync(join(root, "node_modules"));
    writeFileSync(join(root, "a", "function.yaml"), manifest("alpha"));
    writeFileSync(join(root, "b", "fn.yml"), `${manifest("beta")}---\napiVersion: v1\nkind: ConfigMap\n`);
    writeFileSync(join(root, "node_modules", "x.yaml"), manifest("ignored"));
    store = new MemoryFunctionStore();
    events = [];
    folder = new ManifestFolder(root, store, (e) => events.push(e));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const names = async (): Promise<string[]> => (await store.list()).map((fn) => fn.metadata.name);

  it("loads every Function below the folder, with handler paths relative to its manifest", async () => {
    await folder.sync();
    expect(await names()).toEqual(["alpha", "beta"]);
    expect(folder.dirOf("default/alpha")).toBe(join(root, "a"));
    expect(events).toEqual([
      { type: "added", function: "default/alpha", file: join("a", "function.yaml") },
      { type: "added", function: "default/beta", file: join("b", "fn.yml") },
    ]);
  });

  it("applies edits and deletions, and leaves unchanged functions alone", async () => {
    await folder.sync();
    events.length = 0;
    writeFileSync(join(root, "a", "function.yaml"), manifest("alpha", "20s"));
    unlinkSync(join(root, "b", "fn.yml"));
    await folder.sync();
    expect(events).toEqual([
      { type: "updated", function: "default/alpha", file: join("a", "function.yaml") },
      { type: "removed", function: "default/beta" },
    ]);
    expect((await store.get({ name: "alpha", namespace: "default" }))?.spec.timeout).toBe("20s");
    events.length = 0;
    await folder.sync();
    expect(events).toEqual([]);
  });

  it("reports a broken manifest once and keeps the version it last defined", async () => {
    await folder.sync();
    events.length = 0;
    writeFileSync(join(root, "a", "function.yaml"), manifest("alpha", "-1s"));
    await folder.sync();
    await folder.sync();
    expect(events).toEqual([
      {
        type: "invalid",
        file: join("a", "function.yaml"),
        errors: [{ path: "spec.timeout", message: "must be a duration like 30s, 500ms or 1m30s" }],
      },
    ]);
    expect((await store.get({ name: "alpha", namespace: "default" }))?.spec.timeout).toBe("10s");
  });

  it("rejects a second file defining the same function", async () => {
    writeFileSync(join(root, "b", "again.yaml"), manifest("alpha"));
    const scan = await scanFolder(root);
    expect([...scan.functions.keys()]).toEqual(["default/alpha", "default/beta"]);
    expect(scan.invalid.get(join("b", "again.yaml"))).toEqual([
      {
        path: "metadata.name",
        message: `defines default/alpha, which ${join("a", "function.yaml")} already defines`,
      },
    ]);
  });

  it("fails on a folder that does not exist", async () => {
    await expect(new ManifestFolder(join(root, "nope"), store).sync()).rejects.toThrow(/ENOENT/);
  });
});

describe("source stamps", () => {
  it("change when a file in the function's folder changes, so the function rolls", async () => {
    const root = mkdtempSync(join(tmpdir(), "flint-stamp-"));
    try {
      writeFileSync(join(root, "function.yaml"), manifest("alpha"));
      writeFileSync(join(root, "handler.js"), "export default () => new Response('1');\n");
      const store = new MemoryFunctionStore();
      const events: ManifestEvent[] = [];
      const folder = new ManifestFolder(root, store, (e) => events.push(e));
      await folder.sync();
      const stamp = async (): Promise<string | undefined> =>
        (await store.get({ name: "alpha", namespace: "default" }))?.metadata.annotations?.[
          "flint.dev/source-stamp"
        ];
      const before = await stamp();
      expect(before).toMatch(/^[0-9a-f]{12}$/);
      writeFileSync(join(root, "handler.js"), "export default () => new Response('two');\n");
      await folder.sync();
      expect(await stamp()).not.toBe(before);
      expect(events.map((e) => e.type)).toEqual(["added", "updated"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

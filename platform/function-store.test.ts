import { ManualClock } from "./clock.js";
import { ConflictError, FunctionExistsError, FunctionNotFoundError } from "./errors.js";
import { MemoryFunctionStore } from "./function-store.js";
import type { FunctionEvent } from "./ports.js";
import { makeFunction } from "../testing/gateway.js";

const hello = { name: "hello", namespace: "default" };

describe("MemoryFunctionStore", () => {
  let clock: ManualClock;
  let store: MemoryFunctionStore;
  beforeEach(() => {
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    store = new MemoryFunctionStore(clock);
  });

  it("stores a Function with the API server's bookkeeping", async () => {
    const created = await store.create(makeFunction("hello"));
    expect(created.metadata).toEqual({
      name: "hello",
      namespace: "default",
      uid: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      generation: 1,
      resourceVersion: "1",
      creationTimestamp: "2026-01-01T00:00:00.000Z",
    });
    expect(await store.get(hello)).toEqual(created);
    expect(await store.get({ name: "hello", namespace: "other" })).toBeUndefined();
  });

  it("refuses to create a name twice (409)", async () => {
    await store.create(makeFunction("hello"));
    await expect(store.create(makeFunction("hello"))).rejects.toBeInstanceOf(FunctionExistsError);
    await expect(store.create(makeFunction("hello", {}, "staging"))).resolves.toBeDefined();
  });

  it("lists sorted by namespace and name, or one namespace", async () => {
    for (const [name, namespace] of [
      ["b", "x"],
      ["a", "y"],
      ["c", "x"],
      ["a", "x"],
    ] as const) {
      await store.create(makeFunction(name, {}, namespace));
    }
    const keys = (await store.list()).map((fn) => `${fn.metadata.namespace}/${fn.metadata.name}`);
    expect(keys).toEqual(["x/a", "x/b", "x/c", "y/a"]);
    expect((await store.list("y")).map((fn) => fn.metadata.name)).toEqual(["a"]);
  });

  it("bumps generation only when the spec changes, and resourceVersion on every write", async () => {
    const created = await store.create(makeFunction("hello"));
    const relabelled = await store.update({
      ...created,
      metadata: { ...created.metadata, labels: { team: "a" } },
    });
    expect(relabelled.metadata).toMatchObject({ generation: 1, resourceVersion: "2", labels: { team: "a" } });
    const respecced = await store.update({ ...relabelled, spec: { ...relabelled.spec, timeout: "5s" } });
    expect(respecced.metadata).toMatchObject({
      generation: 2,
      resourceVersion: "3",
      uid: created.metadata.uid,
    });
    expect(respecced.spec.timeout).toBe("5s");
  });

  it("refuses an update based on an old resourceVersion (409), and accepts one without", async () => {
    const created = await store.create(makeFunction("hello"));
    await store.update({ ...created, spec: { ...created.spec, timeout: "5s" } });
    await expect(
      store.update({ ...created, spec: { ...created.spec, timeout: "9s" } }),
    ).rejects.toBeInstanceOf(ConflictError);
    const { resourceVersion: _, ...metadata } = created.metadata;
    await expect(store.update({ ...created, metadata })).resolves.toMatchObject({ spec: { timeout: "30s" } });
  });

  it("404s updates and deletes of unknown functions", async () => {
    await expect(store.update(makeFunction("nope"))).rejects.toBeInstanceOf(FunctionNotFoundError);
    await expect(store.delete({ name: "nope", namespace: "default" })).rejects.toBeInstanceOf(
      FunctionNotFoundError,
    );
  });

  it("hands out copies: changing one does not change the store", async () => {
    const created = await store.create(makeFunction("hello"));
    created.spec.timeout = "1h";
    (await store.get(hello))!.spec.scale.max = 99;
    expect((await store.get(hello))!.spec).toMatchObject({
      timeout: "30s",
      scale: { max: makeFunction("x").spec.scale.max },
    });
  });

  it("replays existing Functions, then synced, then changes to a watcher until it stops", async () => {
    await store.create(makeFunction("a"));
    const events: FunctionEvent[] = [];
    const stop = store.watch((event) => events.push(event));
    const b = await store.create(makeFunction("b"));
    await store.update({ ...b, spec: { ...b.spec, timeout: "1s" } });
    await store.delete({ name: "a", namespace: "default" });
    stop();
    await store.delete({ name: "b", namespace: "default" });
    expect(
      events.map((e) =>
        e.type === "put"
          ? `put ${e.function.metadata.name} ${e.function.spec.timeout}`
          : e.type === "delete"
            ? `delete ${e.ref.name}`
            : e.type,
      ),
    ).toEqual(["put a 30s", "synced", "put b 30s", "put b 1s", "delete a"]);
  });
});

// spec.resources.limits.memory under `flint up`, on real processes: the heap limit in module mode
// everywhere, and a memory cgroup for every mode where this process can make one (Linux as root here).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { parseFunction, type FunctionResource } from "../api/index.js";
import { MemoryEndpointSource } from "../platform/memory.js";
import type { Endpoint } from "../platform/ports.js";
import { call, waitFor } from "../testing/watchdog.js";
import { heapLimitMiB, memoryLimitBytes, MemoryLimits } from "./memory-limit.js";
import type { ReplicaSupervisor } from "./supervisor.js";
import { testSupervisor } from "../testing/supervisor.js";

/** A handler that grows the JavaScript heap (/heap) or off-heap Buffers with their pages touched (/buffers). */
const GREEDY = `const kept = [];
export default async (request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/heap") for (;;) kept.push({ filler: new Array(1024).fill(kept.length) });
  if (pathname === "/buffers") {
    for (let i = 0; i < 64; i++) kept.push(Buffer.alloc(64 * 1024 * 1024, 1));
    return new Response("allocated 4 GiB");
  }
  return new Response("ok");
};
`;
/** An exec program that tries to take 1 GiB, touching every page. */
const GREEDY_PROGRAM = `const kept = [];
for (let i = 0; i < 16; i++) kept.push(Buffer.alloc(64 * 1024 * 1024, 1));
process.stdout.write("allocated 1 GiB");
`;

const fn = (name: string, handler: string, memory = "128Mi"): FunctionResource =>
  parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: ${name} }
spec:
  handler: ${handler}
  timeout: 30s
  resources: { limits: { memory: ${memory} } }
`);

describe("memory limit arithmetic", () => {
  it("reads the limit as bytes and gives V8 three quarters of it, at least 16 MiB", () => {
    expect(memoryLimitBytes(fn("a", "{ mode: module, entry: h.mjs }", "128Mi"))).toBe(128 * 2 ** 20);
    expect(memoryLimitBytes(fn("a", "{ mode: module, entry: h.mjs }", "1G"))).toBe(1e9);
    expect(heapLimitMiB(128 * 2 ** 20)).toBe(96);
    expect(heapLimitMiB(8 * 2 ** 20)).toBe(16);
  });

  it("falls back to heap-only, saying why, where no memory cgroup can be made", () => {
    const root = mkdtempSync(join(tmpdir(), "flint-no-cgroup-"));
    writeFileSync(join(root, "self"), "0::/\n");
    try {
      const limits = MemoryLimits.detect({ root, selfCgroupFile: join(root, "self") });
      expect(limits.enforcement).toBe("heap-only");
      expect(limits.reason).toBe("no memory cgroup controller is mounted");
      expect(limits.prepare("x-1", 2 ** 27).wrapper).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("a replica over its memory limit", () => {
  let dir: string;
  let endpoints: MemoryEndpointSource;
  let supervisor: ReplicaSupervisor;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "flint-memory-"));
    writeFileSync(join(dir, "greedy.mjs"), GREEDY);
    writeFileSync(join(dir, "greedy-program.cjs"), GREEDY_PROGRAM);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(() => {
    endpoints = new MemoryEndpointSource();
    supervisor = testSupervisor(endpoints);
  });
  afterEach(() => supervisor.close());

  const readyUrl = async (name: string): Promise<string> => {
    const ref = { name, namespace: "default" };
    supervisor.setReplicas(ref, 1);
    let ready: Endpoint | undefined;
    await waitFor(`a ready ${name} replica`, () => {
      ready = endpoints.get(ref).find((e) => e.state === "ready");
      return ready !== undefined;
    });
    return `http://${ready?.host}:${ready?.port}`;
  };

  it("is enforced with a cgroup on this machine (Linux, root)", () => {
    // The tier runs as root on Linux, where flint up can make memory cgroups; the fallback is tested above.
    expect({ enforcement: supervisor.memory.enforcement, reason: supervisor.memory.reason }).toEqual({
      enforcement: expect.stringMatching(/^cgroup-v[12]$/),
      reason: undefined,
    });
  });

  it("in module mode, ends at Node's heap limit and its status says it ran out of memory", async () => {
    supervisor.apply(fn("heap", "{ mode: module, entry: greedy.mjs }"), dir);
    const url = await readyUrl("heap");
    const reply = await call(`${url}/heap`).catch(() => ({ status: 0 }));
    expect(reply.status).not.toBe(200);
    await waitFor(
      "the crash to be recorded",
      () => supervisor.health({ name: "heap", namespace: "default" }).crashes > 0,
    );
    expect(supervisor.health({ name: "heap", namespace: "default" }).lastExit).toMatch(
      /ran out of JavaScript heap under its memory limit \(resources.limits.memory 128Mi, OOMKilled\)/,
    );
  }, 60_000);

  it("in module mode, cannot take 4 GiB of Buffers past a 128Mi limit: the kernel kills it", async () => {
    supervisor.apply(fn("buffers", "{ mode: module, entry: greedy.mjs }"), dir);
    const url = await readyUrl("buffers");
    const reply = await call(`${url}/buffers`).catch(() => ({ status: 0, body: "" }));
    expect(reply.status).toBe(0); // the connection is cut: the process is gone
    const ref = { name: "buffers", namespace: "default" };
    await waitFor("the crash to be recorded", () => supervisor.health(ref).crashes > 0);
    expect(supervisor.health(ref)).toMatchObject({
      outOfMemory: true,
      lastExit: expect.stringMatching(
        /was killed for using more than its memory limit \(resources.limits.memory 128Mi, OOMKilled\)/,
      ),
    });
  }, 60_000);

  it("in exec mode, holds the program to the limit too: the call fails, the replica stays", async () => {
    supervisor.apply(fn("program", '{ mode: exec, command: ["node", "greedy-program.cjs"] }'), dir);
    const url = await readyUrl("program");
    const reply = await call(`${url}/`, { method: "POST", body: "" });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    expect(reply.body).not.toContain("allocated");
    expect(reply.body).toMatch(/killed by SIGKILL/);
    // The watchdog itself was not the one killed: it answers the next call.
    expect((await call(`${url}/_/health`)).status).toBe(200);
  }, 60_000);

  it("reaps the cgroup folder a flint up killed with SIGKILL left behind", () => {
    const parent = dirname(supervisor.memory.base ?? "");
    // A pid that ran and is gone: the process this test just waited for.
    const { pid } = spawnSync("true");
    const stale = join(parent, `flint-${pid}`);
    mkdirSync(join(stale, "hello-1"), { recursive: true });
    MemoryLimits.detect().close();
    expect(existsSync(stale)).toBe(false);
  });

  it("leaves no cgroup behind once flint up's supervisor closes", async () => {
    supervisor.apply(fn("tidy", "{ mode: module, entry: greedy.mjs }"), dir);
    await readyUrl("tidy");
    const base = supervisor.memory.base ?? "";
    expect(existsSync(join(base, "tidy-1"))).toBe(true);
    await supervisor.close();
    expect(existsSync(base)).toBe(false);
  }, 60_000);
});

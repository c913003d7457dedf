import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseFunction, type FunctionResource } from "../api/index.js";
import { systemClock } from "../platform/clock.js";
import { MemoryEndpointSource } from "../platform/memory.js";
import type { Endpoint } from "../platform/ports.js";
import { call, processGone, REPO_ROOT, waitFor, WATCHDOG_MAIN } from "../testing/watchdog.js";
import { DEFAULT_SUPERVISOR_OPTIONS, ReplicaSupervisor, type SupervisorEvent } from "./supervisor.js";
import { testSupervisor } from "../testing/supervisor.js";

const EXAMPLES = join(REPO_ROOT, "examples");
const ref = { name: "hello", namespace: "default" };

function hello(extra = ""): FunctionResource {
  return parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: hello }
spec:
  handler: { mode: module, entry: handler.js }
  timeout: 5s
${extra}`);
}

describe("ReplicaSupervisor", () => {
  let endpoints: MemoryEndpointSource;
  let events: SupervisorEvent[];
  let supervisor: ReplicaSupervisor;

  beforeEach(() => {
    endpoints = new MemoryEndpointSource();
    events = [];
    supervisor = testSupervisor(endpoints, { onEvent: (event) => events.push(event) });
  });
  afterEach(() => supervisor.close());

  const ready = (): Endpoint[] => endpoints.get(ref).filter((e) => e.state === "ready");
  const url = (endpoint: Endpoint | undefined): string => `http://${endpoint?.host}:${endpoint?.port}`;

  it("starts replicas on demand, serves through them, and scales to zero by stopping the processes", async () => {
    supervisor.apply(hello(), join(EXAMPLES, "hello"));
    expect(endpoints.get(ref)).toEqual([]);

    supervisor.setReplicas(ref, 2);
    await waitFor("two ready replicas", () => ready().length === 2);
    const reply = await call(`${url(ready()[0])}/?name=flint`);
    expect(reply).toMatchObject({ status: 200, body: "Hello, flint!\n" });
    const pids = supervisor.replicas(ref).map((r) => r.pid);
    expect(events.filter((e) => e.type === "replica-ready")).toHaveLength(2);

    supervisor.setReplicas(ref, 0);
    await waitFor("no replicas", () => supervisor.replicas(ref).length === 0);
    expect(endpoints.get(ref)).toEqual([]);
    expect(pids.every(processGone)).toBe(true);
    expect(events.filter((e) => e.type === "replica-stopped")).toHaveLength(2);
  });

  it("takes a replica out of the endpoint set before it stops, and its in-flight call completes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flint-supervisor-"));
    try {
      writeFileSync(
        join(dir, "slow.js"),
        "export default async () => { console.log('call started'); await new Promise((r) => setTimeout(r, 500)); return new Response('done'); };\n",
      );
      const slow = parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: hello }
spec: { handler: { mode: module, entry: slow.js }, timeout: 5s }`);
      supervisor.apply(slow, dir);
      supervisor.setReplicas(ref, 1);
      await waitFor("a ready replica", () => ready().length === 1);
      const inFlight = call(url(ready()[0]));
      await waitFor("the call to reach the handler", () =>
        supervisor.logs(ref).some((entry) => entry.line === "call started"),
      );
      supervisor.setReplicas(ref, 0);
      expect(endpoints.get(ref).map((e) => e.state)).toEqual(["draining"]);
      await expect(inFlight).resolves.toMatchObject({ status: 200, body: "done" });
      await waitFor("the replica gone", () => supervisor.replicas(ref).length === 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("replaces a replica killed with SIGKILL", async () => {
    supervisor.apply(hello(), join(EXAMPLES, "hello"));
    supervisor.setReplicas(ref, 1);
    await waitFor("a ready replica", () => ready().length === 1);
    const [first] = supervisor.replicas(ref);
    process.kill(first!.pid, "SIGKILL");
    await waitFor("a new ready replica", () => ready().length === 1 && ready()[0]!.id !== first!.id);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "replica-crashed",
        replica: first!.id,
        signal: "SIGKILL",
        restartInMs: 50,
      }),
    );
    expect((await call(url(ready()[0]))).status).toBe(200);
  });

  it("backs off while a replica keeps failing to start, and keeps its logs", async () => {
    const broken = parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: hello }
spec: { handler: { mode: module, entry: does-not-exist.js } }`);
    supervisor.apply(broken, join(EXAMPLES, "hello"));
    supervisor.setReplicas(ref, 1);
    await waitFor("three crashes", () => events.filter((e) => e.type === "replica-crashed").length >= 3, {
      timeoutMs: 60_000,
    }).catch((error: unknown) => {
      throw new Error(`${String(error)}; events: ${JSON.stringify(events)}`);
    });
    const delays = events.flatMap((e) => (e.type === "replica-crashed" ? [e.restartInMs] : []));
    expect(delays.slice(0, 3)).toEqual([50, 100, 200]);
    expect(supervisor.logs(ref).some((entry) => entry.line.includes("does-not-exist.js"))).toBe(true);
    expect(ready()).toEqual([]);
  });

  it("rolls to a changed spec: new replicas ready before the old ones drain", async () => {
    supervisor.apply(hello(), join(EXAMPLES, "hello"));
    supervisor.setReplicas(ref, 1);
    await waitFor("a ready replica", () => ready().length === 1);
    const [old] = supervisor.replicas(ref);

    supervisor.apply(hello("  env: [{ name: GREETING, value: hi }]"), join(EXAMPLES, "hello"));
    expect(events).toContainEqual(expect.objectContaining({ type: "rolled" }));
    // The old replica keeps serving until the new one is ready.
    expect(ready().map((e) => e.id)).toEqual([old!.id]);
    await waitFor("only the new version left", () => {
      const replicas = supervisor.replicas(ref);
      return replicas.length === 1 && replicas[0]!.id !== old!.id && replicas[0]!.state === "ready";
    });
    expect(processGone(old!.pid)).toBe(true);
    // Re-applying the same spec changes nothing.
    const before = events.length;
    supervisor.apply(hello("  env: [{ name: GREETING, value: hi }]"), join(EXAMPLES, "hello"));
    expect(events.length).toBe(before);
  });

  it("gives each http-mode replica's server a port of its own", async () => {
    const counter = parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: hello }
spec: { handler: { mode: http, command: ["node", "server.js"] } }`);
    supervisor.apply(counter, join(EXAMPLES, "http-counter"));
    supervisor.setReplicas(ref, 2);
    await waitFor("two ready replicas", () => ready().length === 2, { timeoutMs: 30_000 });
    // Each replica proxies to its own server: a first call to each counts 1.
    const replies = await Promise.all(ready().map((endpoint) => call(url(endpoint))));
    expect(replies.map((r) => (JSON.parse(r.body) as { count: number }).count)).toEqual([1, 1]);
  });

  it("starts a module-mode replica from the pool of generic runtimes, and refills the pool", async () => {
    const pooled = new ReplicaSupervisor(
      {
        ...DEFAULT_SUPERVISOR_OPTIONS,
        poolSize: 1,
        watchdogMain: WATCHDOG_MAIN,
        clock: systemClock,
        baseEnv: { PATH: process.env["PATH"] ?? "" },
      },
      endpoints,
    );
    try {
      pooled.apply(hello("  env: [{ name: GREETING, value: pooled }]"), join(EXAMPLES, "hello"));
      await waitFor("a pooled runtime", () => pooled.pooledPids().length === 1);
      const [poolPid] = pooled.pooledPids();
      pooled.setReplicas(ref, 1);
      await waitFor("a ready replica", () => ready().length === 1);
      expect(pooled.replicas(ref).map((r) => r.pid)).toEqual([poolPid]);
      expect((await call(`${url(ready()[0])}/?name=pool`)).body).toBe("Hello, pool!\n");
      expect(pooled.logs(ref).some((entry) => entry.line.includes('"msg":"ready"'))).toBe(true);
      await waitFor("the pool refilled", () => pooled.pooledPids().length === 1);
      expect(pooled.pooledPids()).not.toContain(poolPid);
    } finally {
      await pooled.close();
    }
  });

  it("removes a function: drains its replicas and forgets it", async () => {
    supervisor.apply(hello("  scale: { min: 1 }"), join(EXAMPLES, "hello"));
    await waitFor("min replicas started", () => ready().length === 1);
    supervisor.remove(ref);
    await waitFor("nothing left", () => supervisor.desiredReplicas(ref) === undefined);
    expect(endpoints.get(ref)).toEqual([]);
  });
});

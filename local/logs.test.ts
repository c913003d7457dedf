// A real replica that prints far more than its function's log buffer holds: the buffer, the
// supervisor's memory, the management route's answer and `flint logs` all stay bounded and say so.
import { logsCommand } from "../cli/commands/logs.js";
import { parseFunction, type LogList } from "../api/index.js";
import { MemoryEndpointSource } from "../platform/memory.js";
import type { Endpoint } from "../platform/ports.js";
import { makeFunction, startGateway, TOKEN, type TestGateway } from "../testing/gateway.js";
import { call, TESTDATA, waitFor } from "../testing/watchdog.js";
import { DEFAULT_SUPERVISOR_OPTIONS, type ReplicaSupervisor } from "./supervisor.js";
import { testSupervisor } from "../testing/supervisor.js";

const ref = { name: "flood", namespace: "default" };
const MiB = 1024 * 1024;
const { logBytes, logLineBytes } = DEFAULT_SUPERVISOR_OPTIONS;

describe("a replica flooding its stdout", () => {
  let endpoints: MemoryEndpointSource;
  let supervisor: ReplicaSupervisor;
  let gw: TestGateway | undefined;

  beforeEach(() => {
    endpoints = new MemoryEndpointSource();
    supervisor = testSupervisor(endpoints);
  });
  afterEach(async () => {
    await supervisor.close();
    await gw?.close();
  });

  const ready = (): Endpoint[] => endpoints.get(ref).filter((e) => e.state === "ready");
  const url = (endpoint: Endpoint | undefined): string => `http://${endpoint?.host}:${endpoint?.port}`;

  it("keeps the last 4 MiB, holds the supervisor's memory, and reports what it dropped", async () => {
    supervisor.apply(
      parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: flood }
spec: { handler: { mode: module, entry: flood-handler.mjs }, timeout: 120s }`),
      TESTDATA,
    );
    supervisor.setReplicas(ref, 1);
    await waitFor("a ready replica", () => ready().length === 1);
    const replica = url(ready()[0]);
    // Warm up (the first call loads code paths), then measure from here.
    expect((await call(`${replica}/flood?lines=10&bytes=100`)).status).toBe(200);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      // 20 MiB of 1 KiB lines, then 80 MiB of 256 KiB lines: 100 MiB, 25 times the buffer.
      expect((await call(`${replica}/flood?lines=20480&bytes=1024`)).status).toBe(200);
      expect((await call(`${replica}/flood?lines=320&bytes=${256 * 1024}`)).status).toBe(200);
      await waitFor("the last line", () => supervisor.logs(ref, 1)[0]?.line === "flood done");
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    console.log(
      `supervisor RSS: ${(baseline / MiB).toFixed(0)} MiB, peak +${((peak - baseline) / MiB).toFixed(1)} MiB`,
    );
    expect(peak - baseline).toBeLessThan(64 * MiB);

    expect(supervisor.logSizeBytes(ref)).toBeLessThanOrEqual(logBytes);
    const kept = supervisor.logs(ref);
    expect(kept.every((entry) => Buffer.byteLength(entry.line) <= logLineBytes)).toBe(true);
    // The long lines were cut, each with its marker; the oldest lines (all the short ones) went.
    const cutMarker = / … \[(\d+) bytes cut\]$/;
    const cut = kept.filter((entry) => cutMarker.test(entry.line));
    expect(cut.length).toBeGreaterThan(250);
    expect(kept.some((entry) => entry.line === "f".repeat(1024))).toBe(false);
    expect(Number(cutMarker.exec(cut[0]?.line ?? "")?.[1])).toBe(256 * 1024 - (logLineBytes - 40));
    const { dropped } = supervisor.logTail(ref);
    expect(dropped.lines).toBeGreaterThan(20_000);
    expect(dropped.cutLines).toBe(320);
    // Every byte written is either kept or counted as dropped.
    expect(dropped.bytes + supervisor.logSizeBytes(ref)).toBeGreaterThan(100 * MiB);

    // The management route streams a bounded answer that says what was dropped...
    gw = await startGateway({
      runtime: { replicas: () => [], logs: (r, limit) => supervisor.logTail(r, limit) },
    });
    await gw.store.create(makeFunction("flood"));
    const reply = await call(`${gw.url}/system/functions/flood/logs?limit=10000`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers["transfer-encoding"]).toBe("chunked");
    expect(Buffer.byteLength(reply.body)).toBeLessThan(logBytes + 1 * MiB);
    const answer = JSON.parse(reply.body) as LogList;
    expect(answer.items.at(-1)?.line).toBe("flood done");
    expect(answer.dropped).toEqual(supervisor.logTail(ref).dropped);
    expect(answer.limits).toEqual({ lines: 2000, bytes: 4 * MiB, lineBytes: 16 * 1024 });

    // ...and `flint logs` says so before the lines.
    let stdout = "";
    const status = await logsCommand.run(["flood", "--tail", "3"], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => true },
      env: { FLINT_GATEWAY_URL: gw.url, FLINT_AUTH_TOKEN: TOKEN, FLINT_HOME: "/nonexistent" },
      cwd: process.cwd(),
    });
    expect(status).toBe(0);
    const [note, ...lines] = stdout.trimEnd().split("\n");
    expect(note).toMatch(
      /^\(\d+ earlier lines, 320 long lines cut; [\d.]+ MiB dropped: the buffer keeps the last 4 MiB, 2000 lines at most, 16 KiB a line\)$/,
    );
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/ flood-\d+ flood done$/);
  });
});

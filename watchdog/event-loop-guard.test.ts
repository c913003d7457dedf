// The event-loop guard against real processes: a stuck module handler kills its watchdog, and the
// local supervisor replaces the replica; a slow but yielding one is left alone.
import { afterAll, afterEach, describe, expect, it } from "@jest/globals";

import { parseFunction } from "../api/index.js";
import type { SupervisorEvent } from "../local/supervisor.js";
import { MemoryEndpointSource } from "../platform/memory.js";
import type { Endpoint } from "../platform/ports.js";
import { TESTDATA, call, startWatchdog, stopAllWatchdogs, waitFor } from "../testing/watchdog.js";
import { EVENT_LOOP_STUCK_CODE } from "./event-loop-guard.js";
import { testSupervisor } from "../testing/supervisor.js";

afterAll(stopAllWatchdogs);

const DEADLINE_MS = 1000;
const SPIN = {
  FLINT_MODE: "module",
  FLINT_ENTRY: "watchdog/testdata/spin-handler.mjs",
  FLINT_FUNCTION: "fixtures/spin",
  FLINT_TIMEOUT: "30s",
  FLINT_EVENT_LOOP_DEADLINE: `${DEADLINE_MS}ms`,
};

describe("the event-loop guard in a watchdog process", () => {
  it("kills a watchdog whose handler never yields, within the deadline, naming the reason", async () => {
    const watchdog = await startWatchdog(SPIN);
    expect((await call(`${watchdog.url}/`)).status).toBe(200);

    const startMs = Date.now();
    // The connection is cut when the process dies: the call fails rather than answers.
    const stuck = call(`${watchdog.url}/spin`).then(
      (reply) => `answered ${reply.status}`,
      () => "cut off",
    );
    const exit = await watchdog.waitForExit(DEADLINE_MS + 5000);
    const elapsedMs = Date.now() - startMs;

    expect(exit).toEqual({ code: null, signal: "SIGKILL" });
    await expect(stuck).resolves.toBe("cut off");
    // The deadline, plus at most a tenth of it for the check interval, plus slack for a busy machine.
    expect(elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS);
    expect(elapsedMs).toBeLessThan(DEADLINE_MS + 3000);
    const fatal = watchdog.logs.find((line) => line.code === EVENT_LOOP_STUCK_CODE);
    expect(fatal).toMatchObject({
      level: 60,
      function: "fixtures/spin",
      pid: watchdog.pid,
      deadlineMs: DEADLINE_MS,
      msg: expect.stringContaining("event loop stuck"),
    });
    expect(fatal?.["blockedMs"]).toBeGreaterThanOrEqual(DEADLINE_MS);
  });

  it("leaves alone a watchdog that is idle, or blocked for less than the deadline", async () => {
    const watchdog = await startWatchdog(SPIN);
    const reply = await call(`${watchdog.url}/block?ms=${DEADLINE_MS / 2}`);
    expect(reply).toMatchObject({ status: 200, body: "unblocked" });
    // Idle for three deadlines: the beats go on, so nothing happens.
    await expect(watchdog.waitForExit(3 * DEADLINE_MS)).rejects.toThrow("did not exit");
    expect((await call(`${watchdog.url}/`)).status).toBe(200);
    expect(watchdog.logs.some((line) => line.code === EVENT_LOOP_STUCK_CODE)).toBe(false);
  });

  it("is off with FLINT_EVENT_LOOP_DEADLINE=0s", async () => {
    const watchdog = await startWatchdog({ ...SPIN, FLINT_EVENT_LOOP_DEADLINE: "0s" });
    const reply = await call(`${watchdog.url}/block?ms=${2 * DEADLINE_MS}`);
    expect(reply).toMatchObject({ status: 200, body: "unblocked" });
    await watchdog.stop();
  });
});

describe("a stuck replica under the local supervisor", () => {
  const ref = { name: "spin", namespace: "default" };
  const endpoints = new MemoryEndpointSource();
  const events: SupervisorEvent[] = [];
  const supervisor = testSupervisor(endpoints, {
    baseEnv: { PATH: process.env["PATH"] ?? "", FLINT_EVENT_LOOP_DEADLINE: `${DEADLINE_MS}ms` },
    onEvent: (event) => events.push(event),
  });
  afterEach(() => supervisor.close());

  const ready = (): Endpoint[] => endpoints.get(ref).filter((e) => e.state === "ready");
  const url = (endpoint: Endpoint | undefined): string => `http://${endpoint?.host}:${endpoint?.port}`;

  it("is replaced by a new replica that answers calls, within a deadline of the stuck call", async () => {
    supervisor.apply(
      parseFunction(`apiVersion: flint.dev/v1alpha1
kind: Function
metadata: { name: spin }
spec: { handler: { mode: module, entry: spin-handler.mjs }, timeout: 30s }`),
      TESTDATA,
    );
    supervisor.setReplicas(ref, 1);
    await waitFor("a ready replica", () => ready().length === 1);
    const [first] = ready();
    expect((await call(url(first))).status).toBe(200);

    const stuck = call(`${url(first)}/spin`).catch(() => undefined);
    await waitFor(
      "a new replica that answers",
      async () => {
        const replica = ready()[0];
        if (replica === undefined || replica.id === first?.id) return false;
        return (await call(url(replica))).status === 200;
      },
      { timeoutMs: DEADLINE_MS + 10_000 },
    );
    await stuck;
    expect(events).toContainEqual(
      expect.objectContaining({ type: "replica-crashed", replica: first?.id, signal: "SIGKILL" }),
    );
    expect(supervisor.logs(ref).some((entry) => entry.line.includes(EVENT_LOOP_STUCK_CODE))).toBe(true);
  });
});

// NatsBus against a real nats-server: samples and scale requests go from one gateway's bus to the
// autoscaler's subscriptions, malformed messages are dropped and counted, publishing never throws,
// and both sides carry on after NATS restarts.
import { connect, type NatsConnection } from "nats";
import { pino } from "pino";
import { startNats, type TestServer } from "../testing/servers.js";
import type { ScaleRequest } from "./ports.js";
import {
  BUS_SUBJECTS,
  connectNatsBus,
  decodeConcurrencySample,
  decodeScaleRequest,
  type NatsBus,
} from "./nats-bus.js";
import type { ConcurrencySample } from "./ports.js";
import { waitFor } from "../testing/gateway.js";

const logger = pino({ level: "silent" });

function sample(overrides: Partial<ConcurrencySample> = {}): ConcurrencySample {
  return {
    function: "team/hello",
    source: "flint-gateway-7d9f-abcde",
    timestampMs: 1_700_000_001_000,
    windowMs: 1000,
    averageConcurrency: 2.5,
    averageQueued: 0.5,
    peakConcurrency: 4,
    requests: 17,
    readyReplicas: 1,
    asyncQueued: 0,
    ...overrides,
  };
}

describe("decoding what arrives on the bus", () => {
  it("keeps a valid sample, and only its own fields", () => {
    expect(decodeConcurrencySample({ ...sample(), extra: "x" })).toEqual(sample());
  });

  it.each<[string, unknown]>([
    ["not an object", "hello"],
    ["null", null],
    ["a function name that is not namespace/name", { ...sample(), function: "hello" }],
    ["an upper-case function name", { ...sample(), function: "team/Hello" }],
    ["an empty source", { ...sample(), source: "" }],
    ["a negative average", { ...sample(), averageConcurrency: -1 }],
    ["a fractional request count", { ...sample(), requests: 1.5 }],
    ["a window of zero", { ...sample(), windowMs: 0 }],
    ["a missing field", { ...sample(), readyReplicas: undefined }],
    ["a string number", { ...sample(), asyncQueued: "0" }],
  ])("drops a sample with %s", (_why, data) => {
    expect(decodeConcurrencySample(data)).toBeUndefined();
  });

  it.each<[string, string, unknown, ScaleRequest | undefined]>([
    [
      "an activation",
      BUS_SUBJECTS.activate,
      { namespace: "team", name: "hello" },
      { type: "activate", ref: { namespace: "team", name: "hello" } },
    ],
    [
      "a scale request",
      BUS_SUBJECTS.scale,
      { namespace: "team", name: "hello", replicas: 3 },
      { type: "scale", ref: { namespace: "team", name: "hello" }, replicas: 3 },
    ],
    ["a scale request without replicas", BUS_SUBJECTS.scale, { namespace: "team", name: "hello" }, undefined],
    ["negative replicas", BUS_SUBJECTS.scale, { namespace: "team", name: "hello", replicas: -1 }, undefined],
    ["a bad name", BUS_SUBJECTS.activate, { namespace: "team", name: "Hello!" }, undefined],
    ["no namespace", BUS_SUBJECTS.activate, { name: "hello" }, undefined],
    ["another subject", "flint.scale.other", { namespace: "team", name: "hello" }, undefined],
  ])("decodes %s", (_why, subject, data, expected) => {
    expect(decodeScaleRequest(subject, data)).toEqual(expected);
  });
});

describe("NatsBus on a real nats-server", () => {
  let nats: TestServer;
  let gatewayBus: NatsBus;
  let autoscalerBus: NatsBus;
  let raw: NatsConnection;
  const samples: ConcurrencySample[] = [];
  const requests: ScaleRequest[] = [];

  beforeAll(async () => {
    nats = await startNats();
    gatewayBus = await connectNatsBus(nats.url, { logger, name: "gateway-test" });
    autoscalerBus = await connectNatsBus(nats.url, { logger, name: "autoscaler-test" });
    raw = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    autoscalerBus.onConcurrency((received) => samples.push(received));
    autoscalerBus.onScaleRequest((request) => requests.push(request));
    // The subscriptions are registered with the server once a round trip has passed.
    await autoscalerBus.nc.flush();
  }, 60_000);

  afterAll(async () => {
    await gatewayBus?.close();
    await autoscalerBus?.close();
    await raw?.close();
    await nats?.close();
  });

  beforeEach(() => {
    samples.length = 0;
    requests.length = 0;
  });

  it("delivers samples, activations and scale requests from a gateway to the autoscaler", async () => {
    gatewayBus.publishConcurrency(sample());
    await gatewayBus.activate({ namespace: "team", name: "hello" });
    await gatewayBus.scale({ namespace: "team", name: "hello" }, 4);
    await waitFor("the three messages", () => samples.length === 1 && requests.length === 2, {
      timeoutMs: 20_000,
    });
    expect(samples).toEqual([sample()]);
    expect(requests).toEqual([
      { type: "activate", ref: { namespace: "team", name: "hello" } },
      { type: "scale", ref: { namespace: "team", name: "hello" }, replicas: 4 },
    ]);
  });

  it("drops and counts malformed messages, and keeps delivering valid ones", async () => {
    const before = autoscalerBus.counts().malformed;
    raw.publish(BUS_SUBJECTS.concurrency, "not json");
    raw.publish(BUS_SUBJECTS.concurrency, JSON.stringify({ ...sample(), requests: -3 }));
    raw.publish(BUS_SUBJECTS.activate, JSON.stringify({ name: "hello" }));
    raw.publish(BUS_SUBJECTS.scale, JSON.stringify({ namespace: "team", name: "hello", replicas: "two" }));
    // Published after the bad ones on the same connection, so it arrives after them.
    raw.publish(BUS_SUBJECTS.concurrency, JSON.stringify(sample({ requests: 99 })));
    await waitFor("the valid sample", () => samples.length === 1, { timeoutMs: 20_000 });
    expect(samples[0]?.requests).toBe(99);
    expect(requests).toEqual([]);
    expect(autoscalerBus.counts().malformed - before).toBe(4);
  });

  it("stops a listener when asked", async () => {
    const seen: ConcurrencySample[] = [];
    const stop = autoscalerBus.onConcurrency((received) => seen.push(received));
    await autoscalerBus.nc.flush();
    gatewayBus.publishConcurrency(sample({ requests: 1 }));
    await waitFor("the first sample", () => seen.length === 1 && samples.length === 1, { timeoutMs: 20_000 });
    stop();
    await autoscalerBus.nc.flush();
    gatewayBus.publishConcurrency(sample({ requests: 2 }));
    await waitFor("the second sample on the other listener", () => samples.length === 2, {
      timeoutMs: 20_000,
    });
    expect(seen.map((s) => s.requests)).toEqual([1]);
  });

  it("never throws into the call path, even once closed", async () => {
    const closed = await connectNatsBus(nats.url, { logger, name: "closed-test" });
    await closed.close();
    expect(() => closed.publishConcurrency(sample())).not.toThrow();
    await expect(closed.activate({ namespace: "team", name: "hello" })).resolves.toBeUndefined();
    await expect(closed.scale({ namespace: "team", name: "hello" }, 1)).resolves.toBeUndefined();
    expect(closed.counts().dropped).toBeGreaterThanOrEqual(1);
  });

  it("drops samples while NATS is down, and both sides carry on after it restarts", async () => {
    gatewayBus.publishConcurrency(sample({ requests: 1 }));
    await waitFor("a sample before the restart", () => samples.length === 1, { timeoutMs: 20_000 });

    await nats.stop("SIGKILL");
    await waitFor(
      "the gateway's bus to notice NATS is down",
      () => {
        const before = gatewayBus.counts().dropped;
        gatewayBus.publishConcurrency(sample({ requests: 2 }));
        return gatewayBus.counts().dropped > before;
      },
      { timeoutMs: 20_000 },
    );
    // Kept for sending (bounded), not thrown.
    await expect(gatewayBus.activate({ namespace: "team", name: "hello" })).resolves.toBeUndefined();

    await nats.start();
    // Each side reconnects on its own; publish until a sample sent after the restart arrives.
    await waitFor(
      "a sample published after the restart",
      () => {
        gatewayBus.publishConcurrency(sample({ requests: 3 }));
        return samples.some((s) => s.requests === 3);
      },
      { timeoutMs: 30_000 },
    );
    requests.length = 0;
    await gatewayBus.scale({ namespace: "team", name: "hello" }, 2);
    await waitFor("a scale request after the restart", () => requests.some((r) => r.type === "scale"), {
      timeoutMs: 20_000,
    });
  }, 90_000);
});

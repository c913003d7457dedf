// The EndpointSlice rules without an API server: conditions to states, slices to replicas, replica
// sets merged from several slices, and when a subscriber hears of a change.
import type { V1EndpointConditions, V1EndpointSlice } from "@kubernetes/client-node";
import { pino } from "pino";
import type { Endpoint, EndpointState } from "../ports.js";
import {
  endpointState,
  endpointsOfSlice,
  mergeReplicaSet,
  ReplicaSets,
  SERVICE_NAME_LABEL,
} from "./endpoints.js";
import { endpointSlice } from "../../testing/kubernetes.js";

const logger = pino({ level: "silent" });
const hello = { namespace: "team", name: "hello" };

describe("endpointState", () => {
  it.each<[string, V1EndpointConditions | undefined, EndpointState]>([
    ["ready", { ready: true, serving: true, terminating: false }, "ready"],
    ["not ready yet", { ready: false, serving: false, terminating: false }, "starting"],
    ["terminating and still serving", { ready: false, serving: true, terminating: true }, "draining"],
    ["terminating and no longer serving", { ready: false, serving: false, terminating: true }, "draining"],
    ["no conditions (unknown counts as ready)", undefined, "ready"],
    ["only ready=false", { ready: false }, "starting"],
    ["only terminating", { terminating: true }, "draining"],
  ])("%s", (_why, conditions, state) => {
    expect(endpointState(conditions)).toBe(state);
  });
});

describe("endpointsOfSlice", () => {
  it("takes each endpoint's first address, the pod's name and the http port", () => {
    const slice = endpointSlice("hello-abc", "hello", [
      { addresses: ["10.88.5.1", "10.88.5.9"], pod: "hello-1", conditions: { ready: true } },
      { addresses: ["10.88.5.2"], conditions: { ready: false } },
    ]);
    slice.ports = [
      { name: "metrics", port: 9090 },
      { name: "http", port: 8080 },
    ];
    expect(endpointsOfSlice(slice)).toEqual([
      { id: "hello-1", host: "10.88.5.1", port: 8080, state: "ready" },
      { id: "10.88.5.2", host: "10.88.5.2", port: 8080, state: "starting" },
    ]);
  });

  it("uses the only port when it has another name", () => {
    const slice = endpointSlice("hello-abc", "hello", [{ addresses: ["10.88.5.1"], pod: "p" }]);
    slice.ports = [{ name: "web", port: 9000 }];
    expect(endpointsOfSlice(slice).map((e) => e.port)).toEqual([9000]);
  });

  it.each<[string, V1EndpointSlice["ports"]]>([
    ["no ports (a Service without ports)", null as unknown as V1EndpointSlice["ports"]],
    [
      "two ports, neither named http",
      [
        { name: "a", port: 1 },
        { name: "b", port: 2 },
      ],
    ],
    ["a port without a number", [{ name: "http" }]],
  ])("lists nothing for a slice with %s", (_why, ports) => {
    const slice = endpointSlice("hello-abc", "hello", [{ addresses: ["10.88.5.1"], pod: "p" }]);
    slice.ports = ports;
    expect(endpointsOfSlice(slice)).toEqual([]);
  });

  it("lists nothing for the empty slice the controller makes before any pod exists", () => {
    const slice = endpointSlice("hello-abc", "hello", []);
    slice.endpoints = null as unknown as V1EndpointSlice["endpoints"];
    expect(endpointsOfSlice(slice)).toEqual([]);
  });
});

describe("mergeReplicaSet", () => {
  const replica = (id: string, state: EndpointState, host = "10.88.5.1"): Endpoint => ({
    id,
    host,
    port: 8080,
    state,
  });

  it("unites slices, sorted by id", () => {
    expect(mergeReplicaSet([[replica("b", "ready")], [replica("a", "starting")]]).map((e) => e.id)).toEqual([
      "a",
      "b",
    ]);
  });

  it.each<[EndpointState, EndpointState, EndpointState]>([
    ["starting", "ready", "ready"],
    ["ready", "starting", "ready"],
    ["ready", "draining", "draining"],
    ["draining", "ready", "draining"],
    ["starting", "draining", "draining"],
  ])("keeps one entry for a replica in two slices: %s + %s → %s", (first, second, merged) => {
    expect(mergeReplicaSet([[replica("p", first)], [replica("p", second)]])).toEqual([replica("p", merged)]);
  });
});

describe("ReplicaSets", () => {
  function subscribed(sets: ReplicaSets, ref = hello): (readonly Endpoint[])[] {
    const received: (readonly Endpoint[])[] = [];
    sets.subscribe(ref, (endpoints) => received.push(endpoints));
    return received;
  }

  it("delivers nothing before the first sync, then every subscribed set (empty ones too)", () => {
    const sets = new ReplicaSets(logger);
    const hellos = subscribed(sets);
    const others = subscribed(sets, { namespace: "team", name: "other" });
    sets.put(endpointSlice("hello-a", "hello", [{ addresses: ["10.88.5.1"], pod: "hello-1" }]));
    expect(hellos).toEqual([]);
    sets.synced();
    expect(hellos).toEqual([[{ id: "hello-1", host: "10.88.5.1", port: 8080, state: "ready" }]]);
    expect(others).toEqual([[]]);
  });

  it("delivers the current set at once to a subscriber that comes after the sync", () => {
    const sets = new ReplicaSets(logger);
    sets.put(endpointSlice("hello-a", "hello", [{ addresses: ["10.88.5.1"], pod: "hello-1" }]));
    sets.synced();
    expect(subscribed(sets)).toEqual([[{ id: "hello-1", host: "10.88.5.1", port: 8080, state: "ready" }]]);
  });

  it("delivers only when the set changed, and the union of a Service's slices", () => {
    const sets = new ReplicaSets(logger);
    sets.synced();
    const hellos = subscribed(sets);
    const sliceA = endpointSlice("hello-a", "hello", [{ addresses: ["10.88.5.1"], pod: "hello-1" }]);
    sets.put(sliceA);
    // A new resourceVersion with the same endpoints (the controller touched an annotation).
    sets.put({ ...sliceA, metadata: { ...sliceA.metadata, resourceVersion: "99" } });
    sets.put(
      endpointSlice("hello-b", "hello", [
        { addresses: ["10.88.5.2"], pod: "hello-2", conditions: { ready: false } },
      ]),
    );
    sets.put(endpointSlice("other-a", "other", [{ addresses: ["10.88.5.3"], pod: "other-1" }]));
    sets.delete(sliceA);
    expect(hellos.map((set) => set.map((e) => `${e.id}:${e.state}`))).toEqual([
      [],
      ["hello-1:ready"],
      ["hello-1:ready", "hello-2:starting"],
      ["hello-2:starting"],
    ]);
  });

  it("groups by namespace as well as Service name", () => {
    const sets = new ReplicaSets(logger);
    sets.synced();
    const slice = endpointSlice(
      "hello-a",
      "hello",
      [{ addresses: ["10.88.5.1"], pod: "hello-1" }],
      "elsewhere",
    );
    sets.put(slice);
    expect(sets.get(hello)).toEqual([]);
    expect(sets.get({ namespace: "elsewhere", name: "hello" })).toHaveLength(1);
  });

  it("moves a slice whose service-name label changed, and ignores one without the label", () => {
    const sets = new ReplicaSets(logger);
    sets.synced();
    const slice = endpointSlice("x", "hello", [{ addresses: ["10.88.5.1"], pod: "p" }]);
    sets.put(slice);
    const relabelled = endpointSlice("x", "other", [{ addresses: ["10.88.5.1"], pod: "p" }]);
    sets.put(relabelled);
    expect(sets.get(hello)).toEqual([]);
    expect(sets.get({ namespace: "team", name: "other" })).toHaveLength(1);
    const unlabelled = endpointSlice("x", "other", [{ addresses: ["10.88.5.1"], pod: "p" }]);
    delete unlabelled.metadata!.labels![SERVICE_NAME_LABEL];
    sets.put(unlabelled);
    expect(sets.get({ namespace: "team", name: "other" })).toEqual([]);
  });

  it("stops delivering to a subscriber that left, and survives one that throws", () => {
    const sets = new ReplicaSets(logger);
    sets.synced();
    const received: number[] = [];
    const stop = sets.subscribe(hello, (endpoints) => received.push(endpoints.length));
    sets.subscribe(hello, () => {
      throw new Error("listener bug");
    });
    sets.put(endpointSlice("a", "hello", [{ addresses: ["10.88.5.1"], pod: "p" }]));
    stop();
    sets.put(endpointSlice("b", "hello", [{ addresses: ["10.88.5.2"], pod: "q" }]));
    expect(received).toEqual([0, 1]);
  });
});

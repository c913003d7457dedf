// `flint describe` prints the same fields for a Function on Kubernetes and under `flint up`.
import type { V1Deployment } from "@kubernetes/client-node";
import type { FunctionResource } from "../../api/index.js";
import { makeDeployment } from "../../controller/builders.js";
import { computeStatus } from "../../controller/status.js";
import { observeReplicas, type ReplicaView } from "../../local/index.js";
import { buildStatus, conditionTime } from "../../platform/status.js";
import { configFixture, functionFixture } from "../../testing/controller.js";
import { formatDescription } from "./describe.js";

const NOW_MS = Date.parse("2026-03-01T10:00:00Z");
const SPEC = "  image: registry.example/hello:1\n  handler: { mode: module, entry: handler.js }";
const cfg = configFixture({ FLINT_GATEWAY_URL: "http://flint-gateway.flint" });

interface Situation {
  /** spec.replicas of the Deployment; the supervisor's desired count. */
  wanted: number;
  ready: number;
  /** Cluster: the rollout passed its deadline. Local: replicas crash before any is ready. */
  failing?: boolean;
}

function onCluster(fn: FunctionResource, s: Situation): FunctionResource {
  const built = makeDeployment(fn, cfg);
  const deployment: V1Deployment = {
    ...built,
    metadata: { ...built.metadata, generation: 1 },
    spec: { ...built.spec!, replicas: s.wanted },
    status: {
      observedGeneration: 1,
      replicas: s.wanted,
      updatedReplicas: s.wanted,
      readyReplicas: s.ready,
      conditions:
        s.failing === true
          ? [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }]
          : [],
    },
  };
  return { ...fn, status: computeStatus({ fn, deployment, now: new Date(NOW_MS) }, cfg) };
}

function locally(fn: FunctionResource, s: Situation): FunctionResource {
  const supervisor: ReplicaView = {
    replicas: () =>
      Array.from({ length: s.failing === true ? 0 : s.wanted }, (_, i) => ({
        state: i < s.ready ? "ready" : "starting",
        version: "v1",
        startedAtMs: NOW_MS,
      })),
    health: () =>
      s.failing === true
        ? { crashes: 3, lastExit: "replica hello-3 exited (code 1)" }
        : { crashes: 0, lastExit: undefined },
    desiredReplicas: () => s.wanted,
  };
  const observed = observeReplicas(fn, supervisor, {
    baseUrl: "http://127.0.0.1:8080",
    defaultNamespace: "team",
  });
  return { ...fn, status: buildStatus(fn, observed, undefined, conditionTime(NOW_MS)) };
}

/** Each line's label (before the first ':') or the first cell of a table row. */
const fields = (text: string): string[] => text.split("\n").map((line) => line.split(/:| {2}/)[0] ?? "");

describe("formatDescription", () => {
  it.each<[string, Situation, string]>([
    ["scaled to zero", { wanted: 0, ready: 0 }, "True (ScaledToZero)"],
    ["serving", { wanted: 2, ready: 2 }, "True (Ready)"],
    ["first replica starting", { wanted: 1, ready: 0 }, "Unknown (Deploying)"],
    ["replicas that do not become ready", { wanted: 1, ready: 0, failing: true }, "False ("],
  ])("%s: the same fields on both platforms", (_name, situation, ready) => {
    const fn = functionFixture(SPEC);
    const cluster = formatDescription(onCluster(fn, situation), undefined, NOW_MS + 90_000);
    const local = formatDescription(locally(fn, situation), undefined, NOW_MS + 90_000);
    expect(fields(local)).toEqual(fields(cluster));
    for (const text of [cluster, local]) {
      expect(text).toContain(`Ready:       ${ready}`);
      expect(text).toMatch(/^CONDITION +STATUS +REASON +SINCE +MESSAGE$/m);
      expect(text).toMatch(/^Ready +\S+ +\S+ +1m30s /m);
      expect(text).toMatch(/^ConfigValid +True +Valid +1m30s$/m);
      expect(text).toMatch(/^DeploymentReady +\S+ +\S+ +1m30s /m);
    }
  });

  it("prints identical text when both platforms see the same thing, but for the URL", () => {
    const fn = functionFixture(SPEC);
    const withoutUrl = (text: string): string => text.replace(/^URL: .*$/m, "");
    const situation = { wanted: 2, ready: 1 };
    expect(withoutUrl(formatDescription(locally(fn, situation), undefined, NOW_MS))).toBe(
      withoutUrl(formatDescription(onCluster(fn, situation), undefined, NOW_MS)),
    );
  });

  it("lists the replicas the platform reports", () => {
    const fn = locally(functionFixture(SPEC), { wanted: 1, ready: 1 });
    const text = formatDescription(
      fn,
      [{ id: "hello-1", state: "ready", address: "127.0.0.1:40001", startedAtMs: NOW_MS, process: "4242" }],
      NOW_MS + 5_000,
    );
    expect(text).toMatch(/^REPLICA +STATE +ADDRESS +PID +AGE$/m);
    expect(text).toMatch(/^hello-1 +ready +127\.0\.0\.1:40001 +4242 +5s$/m);
  });
});

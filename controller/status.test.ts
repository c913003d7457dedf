import type { V1ContainerStatus, V1Deployment, V1DeploymentCondition, V1Pod } from "@kubernetes/client-node";
import type { Condition, FunctionResource, FunctionStatus } from "../api/index.js";
import { makeDeployment } from "./builders.js";
import { ImageMissingError, NotOwnedError, PortConflictError, type FunctionProblem } from "./errors.js";
import { computeStatus, statusChanged } from "./status.js";
import { configFixture, functionFixture } from "../testing/controller.js";

const cfg = configFixture({ FLINT_GATEWAY_URL: "http://flint-gateway.flint" });
const T0 = new Date("2026-01-02T03:04:05.678Z");
const T1 = new Date("2026-01-02T03:09:00.000Z");
const SPEC = "  image: registry.example/hello:1\n  handler: { mode: module, entry: handler.js }";

interface Observed {
  /** spec.replicas */
  wanted: number;
  replicas?: number;
  updated?: number;
  ready?: number;
  /** metadata.generation vs status.observedGeneration */
  generation?: number;
  seenGeneration?: number;
  conditions?: V1DeploymentCondition[];
}

function observed(o: Observed): V1Deployment {
  const built = makeDeployment(functionFixture(SPEC), cfg);
  return {
    ...built,
    metadata: { ...built.metadata, generation: o.generation ?? 1 },
    spec: { ...built.spec!, replicas: o.wanted },
    status: {
      observedGeneration: o.seenGeneration ?? o.generation ?? 1,
      replicas: o.replicas ?? o.wanted,
      updatedReplicas: o.updated ?? o.replicas ?? o.wanted,
      readyReplicas: o.ready ?? 0,
      conditions: o.conditions ?? [],
    },
  };
}

function withConditions(fn: FunctionResource, conditions: Condition[]): FunctionResource {
  return { ...fn, status: { conditions } };
}

function byType(status: FunctionStatus): Record<string, Condition> {
  return Object.fromEntries((status.conditions ?? []).map((condition) => [condition.type, condition]));
}

const wasReady: Condition[] = [
  { type: "Ready", status: "True", reason: "Ready", lastTransitionTime: "2026-01-01T00:00:00Z" },
  { type: "DeploymentReady", status: "True", reason: "Ready", lastTransitionTime: "2026-01-01T00:00:00Z" },
];

describe("computeStatus conditions", () => {
  it.each<{
    name: string;
    deployment: V1Deployment | undefined;
    problem?: FunctionProblem;
    previous?: Condition[];
    want: Record<"Ready" | "ConfigValid" | "DeploymentReady", [string, string]>;
    message?: RegExp;
  }>([
    {
      name: "no image, nothing deployed",
      deployment: undefined,
      problem: new ImageMissingError(),
      want: {
        Ready: ["False", "ImageMissing"],
        ConfigValid: ["False", "ImageMissing"],
        DeploymentReady: ["Unknown", "NotCreated"],
      },
      message: /spec\.image is required on Kubernetes/,
    },
    {
      name: "an invalid new spec while the previous version serves",
      deployment: observed({ wanted: 2, ready: 2 }),
      problem: new PortConflictError(8080),
      want: {
        Ready: ["False", "PortConflict"],
        ConfigValid: ["False", "PortConflict"],
        DeploymentReady: ["True", "Ready"],
      },
      message: /handler\.port 8080.*previous version keeps serving \(2 ready\)/,
    },
    {
      name: "a Deployment of the same name owned by something else",
      deployment: undefined,
      problem: new NotOwnedError("Deployment", "team", "hello"),
      want: {
        Ready: ["False", "NotOwned"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["False", "NotOwned"],
      },
      message: /Deployment team\/hello already exists and is not owned/,
    },
    {
      name: "a new Function before its Deployment is seen",
      deployment: undefined,
      want: {
        Ready: ["Unknown", "Creating"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["Unknown", "Creating"],
      },
    },
    {
      name: "a first replica starting",
      deployment: observed({ wanted: 1, ready: 0 }),
      want: {
        Ready: ["Unknown", "Deploying"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["Unknown", "Deploying"],
      },
      message: /kubectl -n team describe pods -l flint.dev\/function=hello/,
    },
    {
      name: "ready replicas, scaling up further",
      deployment: observed({ wanted: 3, ready: 2 }),
      want: { Ready: ["True", "Ready"], ConfigValid: ["True", "Valid"], DeploymentReady: ["True", "Ready"] },
      message: /2 of 3 replicas ready/,
    },
    {
      name: "scaled to zero by the autoscaler",
      deployment: observed({ wanted: 0, ready: 0 }),
      previous: wasReady,
      want: {
        Ready: ["True", "ScaledToZero"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["True", "ScaledToZero"],
      },
      message: /the next call starts a replica/,
    },
    {
      name: "waking from zero with a template that was ready",
      deployment: observed({ wanted: 1, ready: 0 }),
      previous: [{ ...wasReady[1]!, reason: "ScaledToZero" }],
      want: {
        Ready: ["True", "Activating"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["True", "Activating"],
      },
    },
    {
      name: "a new spec the Deployment controller has not seen",
      deployment: observed({ wanted: 2, ready: 2, generation: 4, seenGeneration: 3 }),
      previous: wasReady,
      want: {
        Ready: ["Unknown", "RollingOut"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["Unknown", "RollingOut"],
      },
    },
    {
      name: "a rollout replacing old pods",
      deployment: observed({ wanted: 2, replicas: 3, updated: 1, ready: 2 }),
      previous: wasReady,
      want: {
        Ready: ["Unknown", "RollingOut"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["Unknown", "RollingOut"],
      },
      message: /1 of 2 replicas updated, 2 ready/,
    },
    {
      name: "a rollout past its progress deadline",
      deployment: observed({
        wanted: 1,
        replicas: 2,
        updated: 1,
        ready: 1,
        conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
      }),
      previous: wasReady,
      want: {
        Ready: ["False", "ProgressDeadlineExceeded"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["False", "ProgressDeadlineExceeded"],
      },
      message: /check the image, the pods' logs and probes/,
    },
    {
      name: "pods that cannot be created",
      deployment: observed({
        wanted: 1,
        replicas: 0,
        updated: 0,
        conditions: [
          {
            type: "ReplicaFailure",
            status: "True",
            reason: "FailedCreate",
            message: 'exceeded quota: "compute"',
          },
        ],
      }),
      want: {
        Ready: ["False", "FailedCreate"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["False", "FailedCreate"],
      },
      message: /pods cannot be created: exceeded quota/,
    },
    {
      name: "a stale ProgressDeadlineExceeded while the controller catches up on a fix",
      deployment: observed({
        wanted: 1,
        generation: 5,
        seenGeneration: 4,
        conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
      }),
      want: {
        Ready: ["Unknown", "RollingOut"],
        ConfigValid: ["True", "Valid"],
        DeploymentReady: ["Unknown", "RollingOut"],
      },
    },
  ])("$name", ({ deployment, problem, previous, want, message }) => {
    const fn = withConditions(functionFixture(SPEC), previous ?? []);
    const conditions = byType(computeStatus({ fn, deployment, problem, now: T0 }, cfg));
    const got = Object.fromEntries(
      Object.entries(conditions).map(([type, condition]) => [type, [condition.status, condition.reason]]),
    );
    expect(got).toEqual(want);
    if (message !== undefined) expect(conditions["Ready"]?.message).toMatch(message);
    for (const condition of Object.values(conditions)) {
      expect(condition.reason).toMatch(/^[A-Z][A-Za-z]+$/);
      if (condition.status !== "True") expect(condition.message).toBeTruthy();
    }
  });
});

describe("a replica killed for its memory (OOMKilled)", () => {
  const LIMITED = `${SPEC}\n  resources: { limits: { memory: 64Mi } }`;
  const pod = (name: string, container: Partial<V1ContainerStatus>): V1Pod => ({
    metadata: { name, namespace: "team", labels: { "flint.dev/function": "hello" } },
    status: {
      containerStatuses: [
        { name: "function", image: "i", imageID: "", ready: false, restartCount: 0, ...container },
      ],
    },
  });
  const crashLooping = pod("hello-abc", {
    restartCount: 3,
    state: { waiting: { reason: "CrashLoopBackOff" } },
    lastState: { terminated: { reason: "OOMKilled", exitCode: 137 } },
  });
  const status = (pods: V1Pod[], ready = 0): Record<string, Condition> =>
    byType(
      computeStatus(
        { fn: functionFixture(LIMITED), deployment: observed({ wanted: 1, ready }), pods, now: T0 },
        cfg,
      ),
    );

  it("fails Ready with reason OOMKilled, naming the pod, the container and the limit", () => {
    const ready = status([crashLooping])["Ready"];
    expect(ready).toMatchObject({ status: "False", reason: "OOMKilled" });
    expect(ready?.message).toBe(
      "pod hello-abc: container function was killed for using more than its memory limit " +
        "(resources.limits.memory 64Mi), 3 restarts so far; raise the limit or use less memory",
    );
  });

  it("says so for a container killed just now, before its restart", () => {
    const justKilled = pod("hello-def", { state: { terminated: { reason: "OOMKilled", exitCode: 137 } } });
    expect(status([justKilled])["DeploymentReady"]).toMatchObject({ status: "False", reason: "OOMKilled" });
  });

  it("is not failing while a replica is ready, nor for a pod that is going away or ended otherwise", () => {
    expect(status([crashLooping], 1)["Ready"]).toMatchObject({ status: "True", reason: "Ready" });
    const deleting = { ...crashLooping, metadata: { ...crashLooping.metadata, deletionTimestamp: T0 } };
    expect(status([deleting])["Ready"]?.reason).not.toBe("OOMKilled");
    const crashed = pod("hello-ghi", { lastState: { terminated: { reason: "Error", exitCode: 1 } } });
    expect(status([crashed])["Ready"]?.reason).not.toBe("OOMKilled");
  });
});

describe("computeStatus fields", () => {
  it("fills the printer columns: replicas, ready replicas, URL, and the generation it describes", () => {
    const fn = functionFixture(SPEC, 7);
    const status = computeStatus({ fn, deployment: observed({ wanted: 3, ready: 2 }), now: T0 }, cfg);
    expect(status).toMatchObject({
      observedGeneration: 7,
      replicas: 3,
      readyReplicas: 2,
      url: "http://flint-gateway.flint/function/hello.team",
    });
    expect(status.conditions?.map((condition) => condition.type)).toEqual([
      "Ready",
      "ConfigValid",
      "DeploymentReady",
    ]);
    expect(status.conditions?.every((condition) => condition.observedGeneration === 7)).toBe(true);
  });

  it("reports zero replicas when there is no Deployment", () => {
    const status = computeStatus({ fn: functionFixture(SPEC), deployment: undefined, now: T0 }, cfg);
    expect(status).toMatchObject({ replicas: 0, readyReplicas: 0 });
  });
});

describe("condition transitions", () => {
  it("stamps a new condition with now, in whole seconds", () => {
    const status = computeStatus({ fn: functionFixture(SPEC), deployment: undefined, now: T0 }, cfg);
    expect(byType(status)["Ready"]?.lastTransitionTime).toBe("2026-01-02T03:04:05Z");
  });

  it("keeps lastTransitionTime while the status stays, even when the reason changes", () => {
    const fn = withConditions(functionFixture(SPEC), wasReady);
    const status = computeStatus({ fn, deployment: observed({ wanted: 0 }), now: T1 }, cfg);
    expect(byType(status)["Ready"]).toMatchObject({ status: "True", reason: "ScaledToZero" });
    expect(byType(status)["Ready"]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
  });

  it("moves lastTransitionTime when the status flips", () => {
    const fn = withConditions(functionFixture(SPEC), wasReady);
    const stalled = observed({
      wanted: 1,
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
    });
    const status = computeStatus({ fn, deployment: stalled, now: T1 }, cfg);
    expect(byType(status)["Ready"]).toMatchObject({
      status: "False",
      lastTransitionTime: "2026-01-02T03:09:00Z",
    });
  });
});

describe("statusChanged", () => {
  const first = (): FunctionStatus =>
    computeStatus({ fn: functionFixture(SPEC), deployment: observed({ wanted: 1, ready: 1 }), now: T0 }, cfg);

  it("is false when the same observation is computed again later, so nothing is written", () => {
    const written = first();
    const fn = { ...functionFixture(SPEC), status: written };
    const again = computeStatus({ fn, deployment: observed({ wanted: 1, ready: 1 }), now: T1 }, cfg);
    expect(statusChanged(written, again)).toBe(false);
  });

  it("ignores the order of conditions and of keys", () => {
    const status = first();
    const reordered: FunctionStatus = {
      url: status.url,
      conditions: [...(status.conditions ?? [])].reverse().map((condition) => ({ ...condition })),
      readyReplicas: status.readyReplicas,
      replicas: status.replicas,
      observedGeneration: status.observedGeneration,
    };
    expect(statusChanged(status, reordered)).toBe(false);
  });

  it.each<[string, (status: FunctionStatus) => FunctionStatus]>([
    ["ready replicas", (s) => ({ ...s, readyReplicas: 2 })],
    ["the observed generation", (s) => ({ ...s, observedGeneration: 2 })],
    [
      "a condition's reason",
      (s) => ({ ...s, conditions: s.conditions?.map((c) => ({ ...c, reason: "Other" })) }),
    ],
    [
      "a condition's message",
      (s) => ({ ...s, conditions: s.conditions?.map((c) => ({ ...c, message: "m" })) }),
    ],
  ])("is true when %s changed", (_field, change) => {
    expect(statusChanged(first(), change(first()))).toBe(true);
  });

  it("is true for a Function that has no status yet", () => {
    expect(statusChanged(undefined, first())).toBe(true);
  });
});

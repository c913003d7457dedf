// The shared Function status builder: conditions, reasons and transition times as timelines.
import type { Condition, FunctionResource, FunctionStatus } from "../api/index.js";
import {
  buildStatus,
  conditionTime,
  CONDITION_TYPES,
  REASON,
  type ObservedFunction,
  type StatusProblem,
} from "./status.js";

const T0_MS = Date.parse("2026-03-01T10:00:00.250Z");
const at = (seconds: number): string => conditionTime(T0_MS + seconds * 1000);

const fn: Pick<FunctionResource, "metadata"> = {
  metadata: { name: "hello", namespace: "team", generation: 2 },
};

/** A healthy observation; each step overrides what it changes. */
function observed(o: Partial<ObservedFunction> = {}): ObservedFunction {
  return {
    url: "http://gw/function/hello.team",
    desiredReplicas: 1,
    replicas: 1,
    readyReplicas: 1,
    state: { kind: "current" },
    inspectCommand: "flint logs hello",
    ...o,
  };
}

const imageMissing: StatusProblem = {
  condition: "ConfigValid",
  reason: REASON.ImageMissing,
  message: "spec.image is required on Kubernetes",
};
const crashing: ObservedFunction["state"] = {
  kind: "failing",
  reason: REASON.ReplicaCrashing,
  message: "replica hello-3 exited (code 1, signal null); see flint logs",
};
const deadlineExceeded: ObservedFunction["state"] = {
  kind: "failing",
  reason: REASON.ProgressDeadlineExceeded,
  message: "0 of 1 replicas ready and no progress within the deadline",
};

type Summary = Record<(typeof CONDITION_TYPES)[number], string>;

/** "Status Reason @ lastTransitionTime" per condition type. */
function summary(status: FunctionStatus): Summary {
  const of = (type: string): string => {
    const c = status.conditions?.find((candidate) => candidate.type === type);
    return c === undefined ? "-" : `${c.status} ${c.reason ?? ""} @ ${c.lastTransitionTime ?? "-"}`;
  };
  return { Ready: of("Ready"), ConfigValid: of("ConfigValid"), DeploymentReady: of("DeploymentReady") };
}

/** Runs observations in order, each step's status the next one's previous, as both platforms do. */
function timeline(steps: readonly (readonly [seconds: number, ObservedFunction])[]): FunctionStatus[] {
  const statuses: FunctionStatus[] = [];
  let previous: FunctionStatus | undefined;
  for (const [seconds, observation] of steps) {
    previous = buildStatus(fn, observation, previous, at(seconds));
    statuses.push(previous);
  }
  return statuses;
}

describe("buildStatus timelines", () => {
  it("a new function: created, first replica starting, ready", () => {
    const [creating, deploying, ready] = timeline([
      [
        0,
        observed({
          state: { kind: "absent", message: "creating Deployment team/hello" },
          replicas: 0,
          readyReplicas: 0,
        }),
      ],
      [5, observed({ readyReplicas: 0 })],
      [9, observed()],
    ]).map(summary);
    expect(creating).toEqual({
      Ready: `Unknown Creating @ ${at(0)}`,
      ConfigValid: `True Valid @ ${at(0)}`,
      DeploymentReady: `Unknown Creating @ ${at(0)}`,
    });
    // Still Unknown: the time it became Unknown stays.
    expect(deploying).toEqual({
      Ready: `Unknown Deploying @ ${at(0)}`,
      ConfigValid: `True Valid @ ${at(0)}`,
      DeploymentReady: `Unknown Deploying @ ${at(0)}`,
    });
    expect(ready).toEqual({
      Ready: `True Ready @ ${at(9)}`,
      ConfigValid: `True Valid @ ${at(0)}`,
      DeploymentReady: `True Ready @ ${at(9)}`,
    });
  });

  it("ready at zero replicas, waking from zero, and ready again keep one transition time", () => {
    const statuses = timeline([
      [0, observed()],
      [61, observed({ desiredReplicas: 0, replicas: 0, readyReplicas: 0 })],
      [120, observed({ desiredReplicas: 1, replicas: 1, readyReplicas: 0 })],
      [121, observed()],
    ]);
    expect(statuses.map((status) => summary(status).Ready)).toEqual([
      `True Ready @ ${at(0)}`,
      `True ScaledToZero @ ${at(0)}`,
      `True Activating @ ${at(0)}`,
      `True Ready @ ${at(0)}`,
    ]);
    expect(statuses[1]).toMatchObject({ replicas: 0, readyReplicas: 0 });
  });

  it("a function that starts at zero is Ready without ever running a replica", () => {
    const [status] = timeline([[0, observed({ desiredReplicas: 0, replicas: 0, readyReplicas: 0 })]]);
    expect(summary(status!).Ready).toBe(`True ScaledToZero @ ${at(0)}`);
  });

  it("a config problem: nothing created, then a bad edit while the previous version serves, then fixed", () => {
    const statuses = timeline([
      [
        0,
        observed({
          problem: imageMissing,
          state: { kind: "absent", message: "no Deployment" },
          replicas: 0,
          readyReplicas: 0,
        }),
      ],
      [30, observed()],
      [60, observed({ problem: imageMissing, readyReplicas: 2, replicas: 2, desiredReplicas: 2 })],
      [90, observed()],
    ]);
    expect(statuses.map(summary)).toEqual([
      {
        Ready: `False ImageMissing @ ${at(0)}`,
        ConfigValid: `False ImageMissing @ ${at(0)}`,
        DeploymentReady: `Unknown NotCreated @ ${at(0)}`,
      },
      {
        Ready: `True Ready @ ${at(30)}`,
        ConfigValid: `True Valid @ ${at(30)}`,
        DeploymentReady: `True Ready @ ${at(30)}`,
      },
      {
        Ready: `False ImageMissing @ ${at(60)}`,
        ConfigValid: `False ImageMissing @ ${at(60)}`,
        DeploymentReady: `True Ready @ ${at(30)}`,
      },
      {
        Ready: `True Ready @ ${at(90)}`,
        ConfigValid: `True Valid @ ${at(90)}`,
        DeploymentReady: `True Ready @ ${at(30)}`,
      },
    ]);
    const ready = (status: FunctionStatus | undefined): Condition | undefined =>
      status?.conditions?.find((c) => c.type === "Ready");
    expect(ready(statuses[0])?.message).toBe("spec.image is required on Kubernetes");
    expect(ready(statuses[2])?.message).toBe(
      "spec.image is required on Kubernetes; the previous version keeps serving (2 ready)",
    );
  });

  it.each<[platform: string, ObservedFunction["state"], string]>([
    ["local: replicas crash-looping", crashing, "ReplicaCrashing"],
    ["cluster: the Deployment is not available", deadlineExceeded, "ProgressDeadlineExceeded"],
    [
      "cluster: pods cannot be created",
      { kind: "failing", reason: "FailedCreate", message: "quota" },
      "FailedCreate",
    ],
  ])("%s: Ready turns False with the platform's reason, and back", (_platform, state, reason) => {
    const statuses = timeline([
      [0, observed({ readyReplicas: 0 })],
      [20, observed({ readyReplicas: 0, state })],
      [50, observed({ readyReplicas: 0, state })],
      [80, observed()],
    ]);
    expect(statuses.map((status) => summary(status).Ready)).toEqual([
      `Unknown Deploying @ ${at(0)}`,
      `False ${reason} @ ${at(20)}`,
      `False ${reason} @ ${at(20)}`,
      `True Ready @ ${at(80)}`,
    ]);
    const failing = statuses[1]?.conditions?.find((c) => c.type === "Ready");
    expect(failing?.message).toBe(state.kind === "failing" ? state.message : undefined);
  });

  it("gives an identical status when nothing changed, however much later", () => {
    const [first, again] = timeline([
      [0, observed({ desiredReplicas: 3, replicas: 3, readyReplicas: 2 })],
      [3600, observed({ desiredReplicas: 3, replicas: 3, readyReplicas: 2 })],
    ]);
    expect(again).toEqual(first);
  });
});

describe("Ready follows the other conditions", () => {
  it.each<[string, Partial<ObservedFunction>, [string, string]]>([
    ["valid and current", {}, ["True", "Ready"]],
    [
      "valid, rolling out",
      { state: { kind: "rollingOut", message: "1 of 2 updated" } },
      ["Unknown", "RollingOut"],
    ],
    ["valid, failing", { state: crashing }, ["False", "ReplicaCrashing"]],
    ["invalid, current", { problem: imageMissing }, ["False", "ImageMissing"]],
    [
      "invalid, failing: the spec comes first",
      { problem: imageMissing, state: crashing },
      ["False", "ImageMissing"],
    ],
    [
      "not owned (a problem of DeploymentReady)",
      {
        problem: {
          condition: "DeploymentReady",
          reason: REASON.NotOwned,
          message: "Deployment team/hello exists",
        },
      },
      ["False", "NotOwned"],
    ],
  ])("%s", (_name, o, [status, reason]) => {
    const built = buildStatus(fn, observed(o), undefined, at(0));
    const ready = built.conditions?.find((c) => c.type === "Ready");
    expect([ready?.status, ready?.reason]).toEqual([status, reason]);
    for (const condition of built.conditions ?? []) {
      expect(condition.reason).toMatch(/^[A-Z][A-Za-z]+$/);
      if (condition.status !== "True") expect(condition.message).toBeTruthy();
    }
  });
});

describe("buildStatus fields", () => {
  it("writes the three conditions in order, each with the generation it describes, and the counts", () => {
    const status = buildStatus(
      fn,
      observed({ desiredReplicas: 3, replicas: 3, readyReplicas: 2 }),
      undefined,
      at(0),
    );
    expect(status).toMatchObject({
      observedGeneration: 2,
      replicas: 3,
      readyReplicas: 2,
      url: "http://gw/function/hello.team",
    });
    expect(status.conditions?.map((c) => c.type)).toEqual([...CONDITION_TYPES]);
    expect(status.conditions?.every((c) => c.observedGeneration === 2)).toBe(true);
  });

  it("names the platform's command in the message of a first replica that does not start", () => {
    const status = buildStatus(fn, observed({ readyReplicas: 0 }), undefined, at(0));
    expect(status.conditions?.find((c) => c.type === "Ready")?.message).toMatch(
      /\(flint logs hello if this takes long\)/,
    );
  });

  it("stamps transitions in whole seconds", () => {
    expect(conditionTime(Date.parse("2026-01-02T03:04:05.678Z"))).toBe("2026-01-02T03:04:05Z");
  });
});

import type { V1Container, V1Deployment, V1EnvVar, V1PodSpec, V1Service } from "@kubernetes/client-node";
import { FUNCTION_LABEL, SPEC_HASH_ANNOTATION } from "../api/index.js";
import {
  FUNCTION_UID,
  initialReplicas,
  isOwnedBy,
  makeDeployment,
  makeService,
  mergeForUpdate,
  needsUpdate,
} from "./builders.js";
import { FunctionProblem, ImageMissingError, PortConflictError } from "./errors.js";
import { FIXTURE_UID, configFixture, functionFixture } from "../testing/controller.js";

const cfg = configFixture({ FLINT_WATCHDOG_IMAGE: "ghcr.io/flint-dev/flint-watchdog:9.9.9" });

const MODULE = `  image: registry.example/hello:1
  handler: { mode: module, entry: handler.js }`;
const EXEC = `  image: registry.example/shout:1
  handler: { mode: exec, command: ["./shout.sh"] }`;
const HTTP_COMMAND = `  image: registry.example/counter:1
  handler: { mode: http, command: ["node", "server.js"], port: 9000 }`;
const HTTP_SIDECAR = `  image: registry.example/nginx:1
  handler: { mode: http, port: 9000 }`;

function podSpec(deployment: V1Deployment): V1PodSpec {
  const spec = deployment.spec?.template.spec;
  if (spec === undefined) throw new Error("no pod spec");
  return spec;
}

function container(deployment: V1Deployment, name: string): V1Container {
  const found = podSpec(deployment).containers.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
}

function envOf(c: V1Container): Record<string, string | undefined> {
  return Object.fromEntries((c.env ?? []).map((variable: V1EnvVar) => [variable.name, variable.value]));
}

function hashOf(object: V1Deployment | V1Service): string | undefined {
  return object.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
}

describe("makeDeployment containers", () => {
  it.each([
    {
      name: "module mode",
      spec: MODULE,
      containers: [["function", "registry.example/hello:1"]],
      env: { FLINT_MODE: "module", FLINT_ENTRY: "handler.js", FLINT_PORT: "8080" },
    },
    {
      name: "exec mode",
      spec: EXEC,
      containers: [["function", "registry.example/shout:1"]],
      env: { FLINT_MODE: "exec", FLINT_COMMAND: '["./shout.sh"]', FLINT_PORT: "8080" },
    },
    {
      name: "http mode with a command",
      spec: HTTP_COMMAND,
      containers: [["function", "registry.example/counter:1"]],
      env: {
        FLINT_MODE: "http",
        FLINT_COMMAND: '["node","server.js"]',
        FLINT_UPSTREAM_PORT: "9000",
        FLINT_PORT: "8080",
      },
    },
    {
      name: "http mode as a sidecar",
      spec: HTTP_SIDECAR,
      containers: [
        ["watchdog", "ghcr.io/flint-dev/flint-watchdog:9.9.9"],
        ["function", "registry.example/nginx:1"],
      ],
      env: { FLINT_MODE: "http", FLINT_UPSTREAM_URL: "http://127.0.0.1:9000", FLINT_PORT: "8080" },
    },
  ])("$name: runs $containers.length container(s) with the watchdog's env", ({ spec, containers, env }) => {
    const deployment = makeDeployment(functionFixture(spec), cfg);
    const pod = podSpec(deployment);
    expect(pod.containers.map((c) => [c.name, c.image])).toEqual(containers);
    // The watchdog is the first container either way: it serves port `http` and carries the probes.
    const watchdog = pod.containers[0]!;
    expect(envOf(watchdog)).toMatchObject({ FLINT_FUNCTION: "team/hello", FLINT_TIMEOUT: "30s", ...env });
    expect(watchdog.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(watchdog.readinessProbe?.httpGet).toEqual({ path: "/_/ready", port: "http", scheme: "HTTP" });
    expect(watchdog.livenessProbe?.httpGet).toEqual({ path: "/_/health", port: "http", scheme: "HTTP" });
    expect(watchdog.livenessProbe?.failureThreshold).toBeGreaterThanOrEqual(3);
    // An explicit timeout (Kubernetes' default is 1 s): a replica whose event loop is stuck stops
    // answering /_/health, and the kubelet restarts it even if the watchdog's own guard is off.
    expect(watchdog.livenessProbe?.timeoutSeconds).toBe(5);
    expect(watchdog.livenessProbe?.periodSeconds).toBe(10);
    expect(deployment.spec?.template.metadata?.annotations).toEqual({
      "kubectl.kubernetes.io/default-container": "function",
    });
  });

  it("gives the sidecar's server its port and the function's env, and the watchdog only FLINT_*", () => {
    const fn = functionFixture(`${HTTP_SIDECAR}
  env: [{ name: GREETING, value: hi }]`);
    const deployment = makeDeployment(fn, cfg);
    expect(envOf(container(deployment, "function"))).toEqual({ HOME: "/tmp", GREETING: "hi", PORT: "9000" });
    expect(container(deployment, "function").readinessProbe).toBeUndefined();
    expect(
      Object.keys(envOf(container(deployment, "watchdog"))).every((name) => name.startsWith("FLINT_")),
    ).toBe(true);
    expect(container(deployment, "watchdog").resources).toEqual({
      requests: { cpu: "10m", memory: "32Mi" },
      limits: { memory: "128Mi" },
    });
  });

  it("passes the function's env after the watchdog's, in order, with HOME on the writable /tmp", () => {
    const fn = functionFixture(`${MODULE}
  env: [{ name: B, value: "2" }, { name: A, value: "1" }, { name: EMPTY }]`);
    const env = container(makeDeployment(fn, cfg), "function").env ?? [];
    expect(env[0]).toEqual({ name: "HOME", value: "/tmp" });
    const names = env.map((variable) => variable.name);
    expect(names.slice(-4)).toEqual(["B", "A", "EMPTY", "FLINT_PORT"]);
    expect(envOf(container(makeDeployment(fn, cfg), "function"))).toMatchObject({
      B: "2",
      A: "1",
      EMPTY: "",
    });
  });
});

describe("makeDeployment problems", () => {
  it.each([
    ["module mode", "  handler: { mode: module, entry: handler.js }"],
    ["exec mode", '  handler: { mode: exec, command: ["./run"] }'],
    ["http mode with a command", '  handler: { mode: http, command: ["node", "s.js"] }'],
  ])(
    "%s without spec.image is ImageMissing, a ConfigValid problem with an actionable message",
    (_mode, spec) => {
      const build = (): V1Deployment => makeDeployment(functionFixture(spec), cfg);
      expect(build).toThrow(ImageMissingError);
      try {
        build();
      } catch (error) {
        expect(error).toBeInstanceOf(FunctionProblem);
        expect(error).toMatchObject({
          code: "IMAGE_MISSING",
          condition: "ConfigValid",
          reason: "ImageMissing",
        });
        expect((error as Error).message).toMatch(/spec\.image is required on Kubernetes.*flint up/);
      }
    },
  );

  it.each([
    ["as a sidecar", "  image: x\n  handler: { mode: http, port: 8080 }"],
    ["with a command", '  image: x\n  handler: { mode: http, command: ["s"], port: 8080 }'],
  ])("an http server on the watchdog's port 8080 (%s) is PortConflict", (_layout, spec) => {
    expect(() => makeDeployment(functionFixture(spec), cfg)).toThrow(PortConflictError);
  });
});

describe("makeDeployment pod settings", () => {
  it.each([
    ["module mode", MODULE],
    ["exec mode", EXEC],
    ["http mode with a command", HTTP_COMMAND],
    ["http mode as a sidecar", HTTP_SIDECAR],
  ])("%s: hardens the pod and every container", (_mode, spec) => {
    const pod = podSpec(makeDeployment(functionFixture(spec), cfg));
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: FUNCTION_UID,
      runAsGroup: FUNCTION_UID,
      fsGroup: FUNCTION_UID,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    for (const c of pod.containers) {
      expect(c.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    }
    expect(pod.volumes).toContainEqual({ name: "tmp", emptyDir: {} });
  });

  it("mounts each secret read-only under /var/flint/secrets/<name>/ in the function's container only", () => {
    for (const spec of [MODULE, HTTP_SIDECAR]) {
      const deployment = makeDeployment(
        functionFixture(`${spec}\n  secrets: [db-credentials, api.keys]`),
        cfg,
      );
      expect(podSpec(deployment).volumes).toEqual([
        { name: "tmp", emptyDir: {} },
        { name: "secret-0", secret: { secretName: "db-credentials", defaultMode: 0o440 } },
        { name: "secret-1", secret: { secretName: "api.keys", defaultMode: 0o440 } },
      ]);
      expect(container(deployment, "function").volumeMounts).toEqual([
        { name: "tmp", mountPath: "/tmp" },
        { name: "secret-0", mountPath: "/var/flint/secrets/db-credentials", readOnly: true },
        { name: "secret-1", mountPath: "/var/flint/secrets/api.keys", readOnly: true },
      ]);
    }
  });

  it.each([
    {
      name: "no resources in the spec: the defaults",
      resources: "",
      env: {},
      want: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    },
    {
      name: "everything set: the spec's",
      resources: "  resources: { requests: { cpu: '1', memory: 1Gi }, limits: { cpu: '2', memory: 2Gi } }",
      env: {},
      want: { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
    },
    {
      name: "only a memory limit: memory from the spec, cpu from the defaults",
      resources: "  resources: { limits: { memory: 32Mi } }",
      env: {},
      want: { requests: { cpu: "50m" }, limits: { memory: "32Mi" } },
    },
    {
      name: "defaults turned off",
      resources: "",
      env: {
        FLINT_DEFAULT_CPU_REQUEST: "none",
        FLINT_DEFAULT_MEMORY_REQUEST: "none",
        FLINT_DEFAULT_MEMORY_LIMIT: "none",
      },
      want: {},
    },
  ])("resources, $name", ({ resources, env, want }) => {
    const deployment = makeDeployment(functionFixture(`${MODULE}\n${resources}`), configFixture(env));
    expect(container(deployment, "function").resources).toEqual(want);
  });

  it.each([
    ["30s", 45],
    ["500ms", 16],
    ["1h", 3615],
  ])("a %s timeout gives %ds for the preStop sleep and the drain on termination", (timeout, seconds) => {
    const deployment = makeDeployment(functionFixture(`${MODULE}\n  timeout: ${timeout}`), cfg);
    expect(podSpec(deployment).terminationGracePeriodSeconds).toBe(seconds);
  });

  it.each([
    ["one container", MODULE, ["function"]],
    ["the sidecar layout", HTTP_SIDECAR, ["watchdog", "function"]],
  ])("%s: every container keeps serving 5 s after deletion, before SIGTERM", (_name, spec, containers) => {
    const pod = podSpec(makeDeployment(functionFixture(spec), cfg));
    expect(pod.containers.map((c) => [c.name, c.lifecycle])).toEqual(
      containers.map((name) => [name, { preStop: { sleep: { seconds: 5 } } }]),
    );
  });

  it("rolls out without dropping capacity", () => {
    const spec = makeDeployment(functionFixture(MODULE), cfg).spec;
    expect(spec?.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" },
    });
    expect(spec?.progressDeadlineSeconds).toBe(120);
  });

  it("sets imagePullPolicy only when configured", () => {
    const plain = makeDeployment(functionFixture(HTTP_SIDECAR), cfg);
    expect(podSpec(plain).containers.map((c) => c.imagePullPolicy)).toEqual([undefined, undefined]);
    const always = makeDeployment(
      functionFixture(HTTP_SIDECAR),
      configFixture({ FLINT_IMAGE_PULL_POLICY: "Always" }),
    );
    expect(podSpec(always).containers.map((c) => c.imagePullPolicy)).toEqual(["Always", "Always"]);
  });
});

describe("initialReplicas", () => {
  it.each([
    { scale: "{ min: 0, max: 5 }", initialScale: "1", want: 1 },
    { scale: "{ min: 3, max: 5 }", initialScale: "1", want: 3 },
    { scale: "{ min: 0, max: 5 }", initialScale: "0", want: 0 },
    { scale: "{ min: 0, max: 2 }", initialScale: "4", want: 2 },
  ])(
    "scale $scale with FLINT_INITIAL_SCALE=$initialScale starts at $want",
    ({ scale, initialScale, want }) => {
      const fn = functionFixture(`${MODULE}\n  scale: ${scale}`);
      const config = configFixture({ FLINT_INITIAL_SCALE: initialScale });
      expect(initialReplicas(fn, config)).toBe(want);
      expect(makeDeployment(fn, config).spec?.replicas).toBe(want);
    },
  );
});

describe("makeService", () => {
  it("is a ClusterIP Service on port 80 to the pods' `http` port", () => {
    const service = makeService(functionFixture(MODULE));
    expect(service.metadata?.name).toBe("hello");
    expect(service.metadata?.namespace).toBe("team");
    expect(service.spec).toEqual({
      type: "ClusterIP",
      selector: { [FUNCTION_LABEL]: "hello" },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    });
  });
});

describe("labels and owner references", () => {
  it.each([
    ["Deployment", (spec: string) => makeDeployment(functionFixture(spec), cfg)],
    ["Service", (spec: string) => makeService(functionFixture(spec))],
  ])("the %s is owned by the Function so deletion cascades", (_kind, build) => {
    const object = build(MODULE);
    expect(object.metadata?.ownerReferences).toEqual([
      {
        apiVersion: "flint.dev/v1alpha1",
        kind: "Function",
        name: "hello",
        uid: FIXTURE_UID,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(isOwnedBy(object, functionFixture(MODULE))).toBe(true);
    expect(object.metadata?.labels).toEqual({
      [FUNCTION_LABEL]: "hello",
      "app.kubernetes.io/name": "hello",
      "app.kubernetes.io/component": "function",
      "app.kubernetes.io/part-of": "flint",
      "app.kubernetes.io/managed-by": "flint-controller",
    });
  });

  it("is not owned when another controller, or another Function with the same name, owns the object", () => {
    const fn = functionFixture(MODULE);
    const deployment = makeDeployment(fn, cfg);
    const other = { ...fn, metadata: { ...fn.metadata, uid: "another-uid" } };
    expect(isOwnedBy(deployment, other)).toBe(false);
    expect(isOwnedBy({ metadata: { name: "hello" } }, fn)).toBe(false);
  });

  it("keeps the selector the same across spec changes (a Deployment's selector is immutable)", () => {
    const before = makeDeployment(functionFixture(MODULE), cfg);
    const after = makeDeployment(functionFixture(EXEC.replace("shout", "hello")), cfg);
    expect(after.spec?.selector).toEqual(before.spec?.selector);
    expect(after.spec?.selector).toEqual({ matchLabels: { [FUNCTION_LABEL]: "hello" } });
    expect(after.spec?.template.metadata?.labels).toMatchObject(before.spec?.selector.matchLabels ?? {});
  });

  it("refuses a Function without a uid: only one read from the API server can own objects", () => {
    const fn = functionFixture(MODULE);
    const unsaved = { ...fn, metadata: { name: fn.metadata.name, namespace: fn.metadata.namespace } };
    expect(() => makeService(unsaved)).toThrow(/has no metadata.uid/);
  });
});

describe("spec hash", () => {
  it("is the same for the same Function, whatever order its fields were written in", () => {
    const a = functionFixture(`  image: x:1
  handler: { mode: module, entry: h.js }
  env: [{ name: A, value: "1" }]`);
    const b = functionFixture(`  env: [{ value: "1", name: A }]
  handler: { entry: h.js, mode: module }
  image: x:1`);
    expect(hashOf(makeDeployment(a, cfg))).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(makeDeployment(a, cfg))).toBe(hashOf(makeDeployment(b, cfg)));
    expect(hashOf(makeService(a))).toBe(hashOf(makeService(b)));
  });

  it.each([
    ["the image", MODULE.replace("hello:1", "hello:2")],
    ["the env", `${MODULE}\n  env: [{ name: A, value: "1" }]`],
    ["the timeout", `${MODULE}\n  timeout: 10s`],
    ["the secrets", `${MODULE}\n  secrets: [s]`],
    ["the resources", `${MODULE}\n  resources: { requests: { cpu: '1' } }`],
  ])("changes with %s", (_field, spec) => {
    expect(hashOf(makeDeployment(functionFixture(spec), cfg))).not.toBe(
      hashOf(makeDeployment(functionFixture(MODULE), cfg)),
    );
  });

  it("leaves replicas out, so the autoscaler's writes are not drift", () => {
    const fn = functionFixture(MODULE);
    const one = makeDeployment(fn, configFixture({ FLINT_INITIAL_SCALE: "1" }));
    const three = makeDeployment(fn, configFixture({ FLINT_INITIAL_SCALE: "3" }));
    expect(one.spec?.replicas).not.toBe(three.spec?.replicas);
    expect(hashOf(one)).toBe(hashOf(three));
    const scaled: V1Deployment = { ...one, spec: { ...one.spec!, replicas: 7 } };
    expect(needsUpdate(scaled, three)).toBe(false);
  });

  it.each([
    ["the same hash", MODULE, MODULE, false],
    ["a changed spec", MODULE, MODULE.replace("hello:1", "hello:2"), true],
  ])("needsUpdate with %s is %s", (_case, existingSpec, desiredSpec, want) => {
    const existing = makeDeployment(functionFixture(existingSpec), cfg);
    expect(needsUpdate(existing, makeDeployment(functionFixture(desiredSpec), cfg))).toBe(want);
  });

  it("needsUpdate is true for an object without the annotation (made by hand or by an older Flint)", () => {
    expect(needsUpdate({ metadata: { name: "hello" } }, makeService(functionFixture(MODULE)))).toBe(true);
  });
});

describe("mergeForUpdate", () => {
  it("keeps the Deployment's replicas, identity and others' annotations, and takes the desired spec", () => {
    const desired = makeDeployment(functionFixture(MODULE.replace("hello:1", "hello:2")), cfg);
    const existing: V1Deployment = {
      ...makeDeployment(functionFixture(MODULE), cfg),
      metadata: {
        ...makeDeployment(functionFixture(MODULE), cfg).metadata,
        resourceVersion: "42",
        uid: "deployment-uid",
        annotations: { "deployment.kubernetes.io/revision": "3", [SPEC_HASH_ANNOTATION]: "old" },
      },
      status: { replicas: 7 },
    };
    existing.spec!.replicas = 7;
    const merged = mergeForUpdate(existing, desired);
    expect(merged.spec?.replicas).toBe(7);
    expect(merged.spec?.template).toEqual(desired.spec?.template);
    expect(merged.metadata).toMatchObject({ resourceVersion: "42", uid: "deployment-uid" });
    expect(merged.metadata?.annotations).toEqual({
      "deployment.kubernetes.io/revision": "3",
      [SPEC_HASH_ANNOTATION]: hashOf(desired),
    });
    expect(merged.status).toBeUndefined();
    expect(needsUpdate(merged, desired)).toBe(false);
  });

  it("keeps the Service's allocated cluster IPs", () => {
    const desired = makeService(functionFixture(MODULE));
    const existing: V1Service = {
      ...desired,
      metadata: { ...desired.metadata, resourceVersion: "9" },
      spec: { ...desired.spec, clusterIP: "10.96.0.12", clusterIPs: ["10.96.0.12"], ipFamilies: ["IPv4"] },
    };
    const merged = mergeForUpdate(existing, desired);
    expect(merged.spec).toMatchObject({
      clusterIP: "10.96.0.12",
      clusterIPs: ["10.96.0.12"],
      ipFamilies: ["IPv4"],
    });
    expect(merged.spec?.ports).toEqual(desired.spec?.ports);
    expect(merged.metadata?.resourceVersion).toBe("9");
  });
});

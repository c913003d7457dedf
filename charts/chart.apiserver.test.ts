// The chart installed by helm on a real kube-apiserver (the e2e harness's loopback control plane; no
// pods run): every object is accepted, upgrades keep the token, and the RBAC bindings give each
// ServiceAccount exactly the documented verbs where they belong.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startControlPlane, type ControlPlane } from "../testing/control-plane.js";
import { binariesSkipReason, describeUnless, step } from "../testing/cluster.js";
import { CHART, openHelm, type Helm } from "../testing/helm.js";

/** [verb, resource] pairs each component must be allowed in a function namespace (docs/kubernetes.md). */
const CONTROLLER_CAN = [
  ["watch", "functions.flint.dev"],
  ["patch", "functions.flint.dev/status"],
  ["create", "deployments.apps"],
  ["update", "deployments.apps"],
  ["patch", "deployments.apps/scale"],
  ["create", "services"],
  ["create", "events"],
  ["watch", "pods"],
] as const;
const GATEWAY_CAN = [
  ["list", "functions.flint.dev"],
  ["delete", "functions.flint.dev"],
  ["watch", "endpointslices.discovery.k8s.io"],
] as const;
/** What neither may do anywhere. */
const NOBODY_CAN = [
  ["get", "secrets"],
  ["delete", "pods"],
  ["get", "pods/log"],
  ["delete", "deployments.apps"],
] as const;
/** The controller reads Functions' specs and writes only their status. */
const CONTROLLER_CANNOT = [
  ["update", "functions.flint.dev"],
  ["delete", "functions.flint.dev"],
] as const;
/** The gateway asks the autoscaler over NATS; it writes neither scale nor status. */
const GATEWAY_CANNOT = [
  ["list", "pods"],
  ["patch", "deployments.apps/scale"],
  ["update", "functions.flint.dev/status"],
] as const;

describeUnless(binariesSkipReason())("the chart on a real API server", () => {
  let cp: ControlPlane | undefined;
  let helm: Helm;
  let kubeEnv: Record<string, string>;

  beforeAll(async () => {
    helm = openHelm();
    cp = await startControlPlane({ log: step });
    kubeEnv = { KUBECONFIG: cp.kubeconfigPath };
    for (const namespace of ["team-a", "team-b"]) await cp.kubectl(["create", "namespace", namespace]);
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
    helm?.close();
  }, 60_000);

  /** `kubectl auth can-i`; `resource` may be `type/subresource` (as in RBAC) or `type` and `--name`. */
  async function can(account: string, verb: string, resource: string, namespace: string): Promise<string> {
    const [type = resource, subresource] = resource.split("/");
    const args = ["auth", "can-i", verb, type, "-n", namespace, `--as=${account}`];
    if (subresource !== undefined) args.push(`--subresource=${subresource}`);
    const result = await cp!.kubectl(args);
    return result.stdout.trim();
  }

  async function token(namespace: string): Promise<string> {
    const result = await cp!.kubectl([
      "get",
      "secret",
      "flint-auth",
      "-n",
      namespace,
      "-o",
      "jsonpath={.data.token}",
    ]);
    return Buffer.from(result.stdout, "base64").toString();
  }

  it("installs with default values, and an upgrade keeps the generated token", async () => {
    step("helm install flint -n flint (all namespaces)");
    helm.run(["install", "flint", CHART, "-n", "flint", "--create-namespace"], kubeEnv);
    const first = await token("flint");
    expect(first).toMatch(/^[A-Za-z0-9]{40}$/);
    step("helm upgrade flint");
    helm.run(["upgrade", "flint", CHART, "-n", "flint", "--set", "logLevel=debug"], kubeEnv);
    expect(await token("flint")).toBe(first);
  }, 120_000);

  it("binds each ServiceAccount to its rules in every namespace, and to nothing more", async () => {
    const controller = "system:serviceaccount:flint:flint-controller";
    const gateway = "system:serviceaccount:flint:flint-gateway";
    const expectAnswers = async (
      account: string,
      namespace: string,
      pairs: readonly (readonly [string, string])[],
      answer: "yes" | "no",
    ): Promise<void> => {
      for (const [verb, resource] of pairs) {
        expect([account, namespace, verb, resource, await can(account, verb, resource, namespace)]).toEqual([
          account,
          namespace,
          verb,
          resource,
          answer,
        ]);
      }
    };
    for (const namespace of ["team-a", "default"]) {
      await expectAnswers(controller, namespace, CONTROLLER_CAN, "yes");
      await expectAnswers(gateway, namespace, GATEWAY_CAN, "yes");
      await expectAnswers(controller, namespace, [...NOBODY_CAN, ...CONTROLLER_CANNOT], "no");
      await expectAnswers(gateway, namespace, [...NOBODY_CAN, ...GATEWAY_CANNOT], "no");
    }
    step("leases: the controller's own, in its own namespace only");
    const lease = async (name: string): Promise<string> =>
      (
        await cp!.kubectl([
          "auth",
          "can-i",
          "update",
          `leases.coordination.k8s.io/${name}`,
          "-n",
          "flint",
          `--as=${controller}`,
        ])
      ).stdout.trim();
    expect(await lease("flint-controller")).toBe("yes");
    expect(await lease("someone-else")).toBe("no");
    expect(await can(controller, "create", "leases.coordination.k8s.io", "team-a")).toBe("no");
  }, 60_000);

  it("installs with a namespace list and every option the cluster has types for, with no cluster-wide RBAC", async () => {
    const values = join(helm.workdir, "namespaced.json");
    writeFileSync(
      values,
      JSON.stringify({
        watchNamespaces: ["team-b"],
        nats: { persistence: { enabled: true } },
        redis: { persistence: { enabled: true } },
        gateway: { ingress: { enabled: true, host: "fn.example.com" } },
        networkPolicy: { enabled: true },
      }),
    );
    step("helm install flint-b -n flint-b (team-b only, persistence, ingress, network policies)");
    helm.run(
      ["install", "flint-b", CHART, "-n", "flint-b", "--create-namespace", "--skip-crds", "-f", values],
      kubeEnv,
    );
    const controller = "system:serviceaccount:flint-b:flint-b-controller";
    expect(await can(controller, "create", "deployments.apps", "team-b")).toBe("yes");
    expect(await can(controller, "create", "deployments.apps", "team-a")).toBe("no");
    const policies = await cp!.kubectl(["get", "networkpolicies", "-A", "-o", "name"]);
    expect(policies.stdout).toContain("networkpolicy.networking.k8s.io/flint-b-functions");
    const claims = await cp!.kubectl([
      "get",
      "statefulset",
      "flint-b-nats",
      "-n",
      "flint-b",
      "-o",
      "jsonpath={.spec.volumeClaimTemplates[0].spec.resources.requests.storage}",
    ]);
    expect(claims.stdout).toBe("1Gi");
  }, 120_000);
});

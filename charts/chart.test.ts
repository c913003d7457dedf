// The Helm chart, rendered by a real helm (scripts/ensure-helm.sh): lint, then the objects it makes
// with default and non-default values, checked for hardening, least-privilege RBAC and wiring.
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, parseAllDocuments, parse as parseYaml, parseDocument, type YAMLMap } from "yaml";
import { parseFunction } from "../api/index.js";
import { loadConfig as loadControllerConfig } from "../controller/config.js";
import { loadConfig as loadGatewayConfig } from "../gateway/config.js";
import { loadKubernetesConfig, platformOf } from "../platform/kubernetes/config.js";
import { CHART, REPO_ROOT, openHelm, type Helm } from "../testing/helm.js";

const NAMESPACE = "flint-system";

/** A rendered Kubernetes object, loosely typed: the tests look at what they name. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Container {
  name: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  securityContext?: Record<string, unknown>;
}

interface PodSpec {
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown>;
  containers: Container[];
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Values that turn on everything optional and point at external NATS and Redis. */
const EVERYTHING_ON = {
  watchNamespaces: ["team-a", "team-b"],
  nats: { url: "nats://nats.example:4222" },
  redis: { url: "rediss://:secret@redis.example:6380/0" },
  gateway: {
    ingress: {
      enabled: true,
      className: "nginx",
      host: "fn.example.com",
      tls: [{ secretName: "fn-tls", hosts: ["fn.example.com"] }],
    },
  },
  networkPolicy: { enabled: true },
  serviceMonitor: { enabled: true, labels: { release: "prometheus" } },
};

let helm: Helm;

beforeAll(() => {
  helm = openHelm();
});

afterAll(() => {
  helm?.close();
});

function valuesFile(values: object): string {
  const file = join(helm.workdir, `values-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function render(values: object = {}, chart = CHART): K8sObject[] {
  const output = helm.run([
    "template",
    "flint",
    chart,
    "-n",
    NAMESPACE,
    "--include-crds",
    "-f",
    valuesFile(values),
  ]);
  return parseAllDocuments(output)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

function find(objects: K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const found = objects.find(
    (object) =>
      object.kind === kind &&
      object.metadata.name === name &&
      (namespace === undefined || object.metadata.namespace === namespace),
  );
  if (found === undefined) throw new Error(`no ${kind} ${namespace ?? ""}/${name} in the rendered chart`);
  return found;
}

function podSpecs(objects: K8sObject[]): [string, PodSpec][] {
  return objects
    .filter((object) => object.kind === "Deployment" || object.kind === "StatefulSet")
    .map((object) => {
      const spec = object["spec"] as { template: { spec: PodSpec } };
      return [`${object.kind} ${object.metadata.name}`, spec.template.spec];
    });
}

function env(objects: K8sObject[], deployment: string): Record<string, string | undefined> {
  const spec = find(objects, "Deployment", deployment)["spec"] as { template: { spec: PodSpec } };
  const container = spec.template.spec.containers[0]!;
  return Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable.value]));
}

/** Every RBAC rule as one line per (object, apiGroup, resource, verb), for comparing with a table. */
function rbacLines(objects: K8sObject[]): string[] {
  const lines: string[] = [];
  for (const object of objects) {
    if (object.kind !== "ClusterRole" && object.kind !== "Role") continue;
    for (const rule of object["rules"] as Rule[]) {
      for (const group of rule.apiGroups)
        for (const resource of rule.resources)
          for (const verb of rule.verbs) {
            const names = rule.resourceNames === undefined ? "" : ` names=${rule.resourceNames.join(",")}`;
            lines.push(
              `${object.kind} ${object.metadata.namespace ?? "-"}/${object.metadata.name}: ${group || "core"} ${resource} ${verb}${names}`,
            );
          }
    }
  }
  return lines.sort();
}

/** The least-privilege table (docs/kubernetes.md): what each component may do on Functions' objects. */
const CONTROLLER_RULES = [
  "flint.dev functions get",
  "flint.dev functions list",
  "flint.dev functions watch",
  "flint.dev functions/status update",
  "flint.dev functions/status patch",
  "apps deployments get",
  "apps deployments list",
  "apps deployments watch",
  "apps deployments create",
  "apps deployments update",
  "apps deployments patch",
  "apps deployments/scale get",
  "apps deployments/scale patch",
  "core services get",
  "core services list",
  "core services watch",
  "core services create",
  "core services update",
  "core services patch",
  "core events create",
  "core events patch",
  "core pods get",
  "core pods list",
  "core pods watch",
];
const GATEWAY_RULES = [
  "flint.dev functions get",
  "flint.dev functions list",
  "flint.dev functions watch",
  "flint.dev functions create",
  "flint.dev functions update",
  "flint.dev functions patch",
  "flint.dev functions delete",
  "discovery.k8s.io endpointslices list",
  "discovery.k8s.io endpointslices watch",
];
const LEADER_ELECTION_RULES = [
  `Role ${NAMESPACE}/flint-controller-leader-election: coordination.k8s.io leases create`,
  `Role ${NAMESPACE}/flint-controller-leader-election: coordination.k8s.io leases get names=flint-controller`,
  `Role ${NAMESPACE}/flint-controller-leader-election: coordination.k8s.io leases update names=flint-controller`,
];

function expectedRbac(scopes: string[]): string[] {
  return [
    ...scopes.flatMap((scope) => [
      ...CONTROLLER_RULES.map((rule) => `${scope}flint-controller: ${rule}`),
      ...GATEWAY_RULES.map((rule) => `${scope}flint-gateway: ${rule}`),
    ]),
    ...LEADER_ELECTION_RULES,
  ].sort();
}

describe("helm lint", () => {
  it.each([
    ["default values", {}],
    ["everything on", EVERYTHING_ON],
  ])("is clean with %s, also with --strict", (_name, values) => {
    const file = valuesFile(values);
    expect(helm.run(["lint", CHART, "-f", file])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(helm.run(["lint", "--strict", CHART, "-f", file])).toMatch(/0 chart\(s\) failed/);
  });
});

describe.each([
  ["default values", {}],
  ["everything on", EVERYTHING_ON],
])("helm template with %s", (_name, values) => {
  let objects: K8sObject[] = [];
  beforeAll(() => {
    objects = render(values);
  });

  it("hardens every pod like function pods: non-root, read-only root, no capabilities, seccomp", () => {
    expect(podSpecs(objects).length).toBeGreaterThanOrEqual(2);
    for (const [name, pod] of podSpecs(objects)) {
      expect({ name, ...pod.securityContext }).toMatchObject({
        name,
        runAsNonRoot: true,
        runAsUser: 10001,
        seccompProfile: { type: "RuntimeDefault" },
      });
      for (const container of pod.containers) {
        expect({ name, container: container.name, ...container.securityContext }).toMatchObject({
          name,
          container: container.name,
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
      }
    }
  });

  it("probes over HTTP or TCP only (no exec: nothing extra in images; the e2e process kubelet runs these two)", () => {
    for (const [name, pod] of podSpecs(objects)) {
      for (const container of pod.containers as (Container &
        Record<string, Record<string, unknown> | undefined>)[]) {
        for (const probe of [container["readinessProbe"], container["livenessProbe"]]) {
          expect({
            name,
            kinds: Object.keys(probe ?? {}).filter((key) => key === "httpGet" || key === "tcpSocket"),
          }).toEqual({
            name,
            kinds: [expect.any(String)],
          });
          expect(probe?.["exec"]).toBeUndefined();
        }
      }
    }
  });

  it("mounts an API token only into the gateway and controller pods", () => {
    const withToken = podSpecs(objects)
      .filter(([, pod]) => pod.automountServiceAccountToken !== false)
      .map(([name]) => name);
    expect(withToken.sort()).toEqual(["Deployment flint-controller", "Deployment flint-gateway"]);
    for (const account of objects.filter((object) => object.kind === "ServiceAccount")) {
      expect(account["automountServiceAccountToken"]).toBe(false);
    }
  });

  it("installs the CRD exactly as crds/function.yaml has it", () => {
    const crd = find(objects, "CustomResourceDefinition", "functions.flint.dev");
    expect(crd).toEqual(parseYaml(readFileSync(join(REPO_ROOT, "crds", "function.yaml"), "utf8")));
  });

  it("gives the controller an environment controller/config.ts accepts, pointing at the gateway, NATS and Redis", () => {
    const controllerEnv = env(objects, "flint-controller");
    const config = loadControllerConfig({
      ...controllerEnv,
      FLINT_POD_NAMESPACE: NAMESPACE,
      FLINT_POD_NAME: "c-0",
    });
    expect(config.watchdogImage).toBe("ghcr.io/flint-dev/flint-watchdog:0.1.0");
    expect(config.leaderElection.leaseName).toBe("flint-controller");
    if ("watchNamespaces" in values) {
      expect(config.namespaces).toEqual(["team-a", "team-b"]);
      expect(config.gatewayUrl).toBe("https://fn.example.com");
      expect(config.natsUrl).toBe("nats://nats.example:4222");
      expect(config.redisUrl).toBe("rediss://:secret@redis.example:6380/0");
    } else {
      expect(config.namespaces).toBe("all");
      expect(config.gatewayUrl).toBe(`http://flint-gateway.${NAMESPACE}`);
      expect(config.natsUrl).toBe(`nats://flint-nats.${NAMESPACE}.svc:4222`);
      expect(config.redisUrl).toBe(`redis://flint-redis.${NAMESPACE}.svc:6379`);
    }
  });

  it("gives the gateway an environment gateway/config.ts accepts, with the token from the Secret", () => {
    const spec = find(objects, "Deployment", "flint-gateway")["spec"] as { template: { spec: PodSpec } };
    const token = spec.template.spec.containers[0]!.env?.find(
      (variable) => variable.name === "FLINT_AUTH_TOKEN",
    );
    expect(token?.valueFrom).toEqual({ secretKeyRef: { name: "flint-auth", key: "token" } });
    const config = loadGatewayConfig({ ...env(objects, "flint-gateway"), FLINT_AUTH_TOKEN: "t" });
    expect(config).toMatchObject({ host: "0.0.0.0", port: 8080, shutdownDelayMs: 5000 });
    expect(config.auth.required).toBe(true);
    // Kubernetes mode (CR store, EndpointSlices, NATS bus), not the in-memory ports.
    const gatewayEnv = env(objects, "flint-gateway");
    expect(platformOf(gatewayEnv)).toBe("kubernetes");
    expect(loadKubernetesConfig(gatewayEnv).natsUrl).toMatch(/^nats:\/\//);
  });

  it("makes the management credential Secret with a random 40-character token", () => {
    const secret = find(objects, "Secret", "flint-auth", NAMESPACE);
    const token = Buffer.from((secret["data"] as { token: string }).token, "base64").toString();
    expect(token).toMatch(/^[A-Za-z0-9]{40}$/);
  });
});

describe("RBAC", () => {
  it("is a ClusterRole per component with exactly the documented rules when every namespace is watched", () => {
    const objects = render();
    expect(rbacLines(objects)).toEqual(expectedRbac(["ClusterRole -/"]));
    const binding = find(objects, "ClusterRoleBinding", "flint-controller");
    expect(binding["subjects"]).toEqual([
      { kind: "ServiceAccount", name: "flint-controller", namespace: NAMESPACE },
    ]);
  });

  it("is a Role per watched namespace, and nothing cluster-wide, with a namespace list", () => {
    const objects = render({ watchNamespaces: ["team-a", "team-b"] });
    expect(rbacLines(objects)).toEqual(expectedRbac(["Role team-a/", "Role team-b/"]));
    expect(objects.filter((object) => object.kind.startsWith("Cluster"))).toEqual([]);
    const binding = find(objects, "RoleBinding", "flint-gateway", "team-b");
    expect(binding["roleRef"]).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: "flint-gateway",
    });
    expect(binding["subjects"]).toEqual([
      { kind: "ServiceAccount", name: "flint-gateway", namespace: NAMESPACE },
    ]);
  });

  it("never grants secrets, pods/log, writing pods, or wildcards; only the controller reads pods", () => {
    for (const line of [...rbacLines(render()), ...rbacLines(render(EVERYTHING_ON))]) {
      expect(line).not.toMatch(/ (secrets|pods\/log|\*) |\*$/);
      if (/ pods /.test(line)) expect(line).toMatch(/-controller: core pods (get|list|watch)$/);
    }
  });
});

describe("bundled NATS and Redis", () => {
  const components = (objects: K8sObject[]): string[] =>
    [
      ...new Set(objects.map((object) => object.metadata.labels?.["app.kubernetes.io/component"] ?? "")),
    ].sort();

  it("are installed by default, NATS with JetStream on /data", () => {
    const objects = render();
    expect(components(objects)).toEqual(expect.arrayContaining(["nats", "redis"]));
    const nats = find(objects, "StatefulSet", "flint-nats")["spec"] as {
      template: { spec: { containers: { args: string[] }[] } };
    };
    expect(nats.template.spec.containers[0]!.args).toEqual(expect.arrayContaining(["-js", "-sd", "/data"]));
  });

  it("are left out when external URLs are set", () => {
    const objects = render({ nats: { url: "nats://n:4222" }, redis: { url: "redis://r:6379" } });
    expect(components(objects)).not.toContain("nats");
    expect(components(objects)).not.toContain("redis");
    expect(env(objects, "flint-gateway")).toMatchObject({
      NATS_URL: "nats://n:4222",
      REDIS_URL: "redis://r:6379",
    });
  });

  it("keep their data on PersistentVolumeClaims when persistence is on", () => {
    const objects = render({
      nats: { persistence: { enabled: true, size: "5Gi" } },
      redis: { persistence: { enabled: true } },
    });
    for (const name of ["flint-nats", "flint-redis"]) {
      const spec = find(objects, "StatefulSet", name)["spec"] as {
        volumeClaimTemplates?: { spec: unknown }[];
      };
      expect(spec.volumeClaimTemplates).toHaveLength(1);
    }
    const nats = find(objects, "StatefulSet", "flint-nats")["spec"] as {
      volumeClaimTemplates: { spec: unknown }[];
    };
    expect(nats.volumeClaimTemplates[0]!.spec).toEqual({
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "5Gi" } },
    });
  });
});

describe("optional objects", () => {
  it("are off by default", () => {
    const kinds = render().map((object) => object.kind);
    for (const kind of ["Ingress", "NetworkPolicy", "ServiceMonitor"]) expect(kinds).not.toContain(kind);
  });

  it("Ingress sends everything to the gateway Service", () => {
    const ingress = find(render(EVERYTHING_ON), "Ingress", "flint-gateway");
    expect(ingress["spec"]).toEqual({
      ingressClassName: "nginx",
      tls: [{ secretName: "fn-tls", hosts: ["fn.example.com"] }],
      rules: [
        {
          host: "fn.example.com",
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "flint-gateway", port: { name: "http" } } },
              },
            ],
          },
        },
      ],
    });
  });

  it("NetworkPolicy lets only the gateway reach function pods, in each watched namespace", () => {
    const objects = render({ ...EVERYTHING_ON, nats: {}, redis: {} });
    for (const namespace of ["team-a", "team-b"]) {
      expect(find(objects, "NetworkPolicy", "flint-functions", namespace)["spec"]).toEqual({
        podSelector: { matchExpressions: [{ key: "flint.dev/function", operator: "Exists" }] },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NAMESPACE } },
                podSelector: {
                  matchLabels: {
                    "app.kubernetes.io/name": "flint",
                    "app.kubernetes.io/instance": "flint",
                    "app.kubernetes.io/component": "gateway",
                  },
                },
              },
            ],
            ports: [{ port: 8080, protocol: "TCP" }],
          },
        ],
      });
    }
    const redis = find(objects, "NetworkPolicy", "flint-redis", NAMESPACE)["spec"] as {
      ingress: { from: { podSelector: { matchLabels: Record<string, string> } }[] }[];
    };
    expect(
      redis.ingress[0]!.from.map((peer) => peer.podSelector.matchLabels["app.kubernetes.io/component"]),
    ).toEqual(["gateway", "controller"]);
  });

  it("NetworkPolicy for function pods goes to networkPolicy.functionNamespaces when every namespace is watched", () => {
    const objects = render({ networkPolicy: { enabled: true, functionNamespaces: ["apps"] } });
    const policies = objects
      .filter((object) => object.kind === "NetworkPolicy")
      .map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    expect(policies.sort()).toEqual([
      "apps/flint-functions",
      `${NAMESPACE}/flint-nats`,
      `${NAMESPACE}/flint-redis`,
    ]);
  });

  it("ServiceMonitor scrapes the gateway and the controller", () => {
    const monitor = find(render(EVERYTHING_ON), "ServiceMonitor", "flint");
    expect(monitor.metadata.labels).toMatchObject({ release: "prometheus" });
    expect(monitor["spec"]).toMatchObject({
      selector: {
        matchExpressions: [
          { key: "app.kubernetes.io/component", operator: "In", values: ["gateway", "controller"] },
        ],
      },
      endpoints: [
        { port: "http", path: "/metrics" },
        { port: "http-metrics", path: "/metrics" },
      ],
    });
  });

  it("an existing Secret replaces the generated credential", () => {
    const objects = render({ auth: { existingSecret: "my-token" } });
    expect(objects.filter((object) => object.kind === "Secret")).toEqual([]);
    const spec = find(objects, "Deployment", "flint-gateway")["spec"] as { template: { spec: PodSpec } };
    const token = spec.template.spec.containers[0]!.env?.find(
      (variable) => variable.name === "FLINT_AUTH_TOKEN",
    );
    expect(token?.valueFrom).toEqual({ secretKeyRef: { name: "my-token", key: "token" } });
  });
});

describe("the chart's files", () => {
  it("carries crds/function.yaml byte for byte (Helm installs CRDs from the chart's crds/)", () => {
    expect(readFileSync(join(CHART, "crds", "function.yaml"), "utf8")).toBe(
      readFileSync(join(REPO_ROOT, "crds", "function.yaml"), "utf8"),
    );
  });

  it("documents every value in values.yaml (a `-- ` comment on it or a group above it) and in README.md", () => {
    const readme = readFileSync(join(CHART, "README.md"), "utf8");
    const undocumented: string[] = [];
    const documented: string[] = [];
    const walk = (map: YAMLMap, prefix: string, covered: boolean): void => {
      map.items.forEach((pair, index) => {
        const key = `${prefix}${String((pair.key as { value: unknown }).value)}`;
        const comment =
          (pair.key as { commentBefore?: string }).commentBefore ??
          (index === 0 ? map.commentBefore : undefined);
        const own = comment?.split("\n").some((line) => line.trimStart().startsWith("-- ")) ?? false;
        if (own) documented.push(key);
        if (isMap(pair.value) && !pair.value.flow) walk(pair.value, `${key}.`, covered || own);
        else if (!covered && !own) undocumented.push(key);
      });
    };
    const document = parseDocument(readFileSync(join(CHART, "values.yaml"), "utf8"));
    walk(document.contents as YAMLMap, "", false);
    expect(undocumented).toEqual([]);
    expect(documented.filter((key) => !readme.includes(`\`${key}\``))).toEqual([]);
  });

  it("NOTES.txt gives copy-paste commands with the release's names", () => {
    // helm template does not render NOTES.txt: render it through a ConfigMap in a copy of the chart.
    const copy = join(helm.workdir, "notes-chart");
    cpSync(CHART, copy, { recursive: true });
    writeFileSync(
      join(copy, "templates", "notes-under-test.yaml"),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: |\n{{ include (print $.Template.BasePath "/NOTES.txt") . | indent 4 }}\n',
    );
    const notes = (
      find(render({ watchNamespaces: ["apps"] }, copy), "ConfigMap", "notes")["data"] as { notes: string }
    ).notes;
    expect(notes).toContain(
      `kubectl -n ${NAMESPACE} get secret flint-auth -o jsonpath='{.data.token}' | base64 -d`,
    );
    expect(notes).toContain(`kubectl -n ${NAMESPACE} port-forward service/flint-gateway 8080:80`);
    expect(notes).toContain("metadata: { name: hello, namespace: apps }");
    expect(notes).toContain("image: ghcr.io/flint-dev/flint-example-hello:0.1.0");
    expect(notes).toContain("curl -s http://127.0.0.1:8080/function/hello.apps -d 'world'");
    // The manifest in the notes is one a user can apply: it must be a valid Function.
    const manifest = /kubectl apply -f - <<'YAML'\n([\s\S]*?)\n\s*YAML/.exec(notes)?.[1] ?? "";
    const fn = parseFunction(manifest.replace(/^ {3}/gm, ""));
    expect(fn.metadata).toMatchObject({ name: "hello", namespace: "apps" });
    expect(fn.spec.image).toBe("ghcr.io/flint-dev/flint-example-hello:0.1.0");
  });
});

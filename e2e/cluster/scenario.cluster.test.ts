// The cluster scenario of issue 7 on a real control plane and a real node (kubelet, containerd, runc
// running Flint's images; FLINT_E2E_NODE=process runs it on the process kubelet instead): helm installs
// Flint; the examples are applied and called through the gateway; one of them scales to zero, starts
// cold (timed from every clock that saw it), scales out under load and back, rolls out a new spec
// under load without failing a call, and is garbage-collected when deleted; then bad manifests are
// refused with the CRD's messages and each ServiceAccount's permissions are listed.
// Runs only through e2e/cluster/run.sh (root, a network namespace); elsewhere it is skipped, loudly.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Deployment,
  type V1Pod,
} from "@kubernetes/client-node";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

import { FUNCTION_API, formatFieldError, parseManifests, type FunctionResource } from "../../api/index.js";
import { CHART, openHelm, type Helm } from "../../testing/helm.js";
import { call, REPO_ROOT, waitFor } from "../../testing/watchdog.js";
import {
  breakdownTable,
  ColdStartWatch,
  pinoLines,
  coldStartOf,
  milestoneTable,
  type ColdStart,
} from "./cold-start.js";
import { startControlPlane, type ControlPlane } from "../../testing/control-plane.js";
import { nodeKind, startClusterNode, type ClusterNode } from "./node/cluster-node.js";
import { startLoad } from "./load.js";
import { portForward } from "./port-forward.js";
import { describeUnless, namespaceSkipReason, step, uniqueName } from "../../testing/cluster.js";

/** The Helm release and its namespace. */
const RELEASE = "flint";
const RELEASE_NAMESPACE = "flint";
/** Each example's image on the cluster: ghcr.io/flint-dev/flint-example-<dir>:<tag> (e2e/cluster/images.ts). */
const EXAMPLE_TAG = "0.1.0";
/** The example that steps 4–8 idle, wake, load, roll out and delete. */
const SUBJECT = "hello";
/**
 * Its scale settings on the cluster. With `idle: auto` and no idle history the flint policy keeps a
 * last replica for its 10-minute fallback (docs/autoscaler.md); 10 s lets the test see zero. A soft
 * target of 2 calls in flight per replica makes a few workers enough to scale out, and 3 replicas at
 * most keep the 2-core machine responsive.
 */
const SUBJECT_SCALE = { min: 0, max: 3, target: 2, concurrency: 0, idle: "10s" };
/** What the real node loads: Flint's images and every example's (npm run images builds them). */
const IMAGES = [
  ...["gateway", "controller", "watchdog"].map((name) => `ghcr.io/flint-dev/flint-${name}:${EXAMPLE_TAG}`),
  ...readdirSync(join(REPO_ROOT, "examples"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `ghcr.io/flint-dev/flint-example-${entry.name}:${EXAMPLE_TAG}`),
];
/** A Secret the subject mounts (read-only, under /var/flint/secrets/<name>/). */
const SUBJECT_SECRET = "hello-token";
/** Cold starts measured in a row, for a median. */
const COLD_STARTS = 10;
/** The examples (folder names), each with the check of its answer. */
const EXAMPLES = readdirSync(join(REPO_ROOT, "examples"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describeUnless(namespaceSkipReason())(
  "the issue-7 scenario: Flint installed by helm on a real control plane",
  () => {
    let cp: ControlPlane | undefined;
    let node: ClusterNode | undefined;
    let helm: Helm | undefined;
    let kubeConfig: KubeConfig;
    let core: CoreV1Api;
    let apps: AppsV1Api;
    let custom: CustomObjectsApi;
    const namespace = uniqueName("scenario");
    /** http://<gateway pod IP>:8080, and the management token from the chart's Secret. */
    let gateway = "";
    let token = "";
    /** How long each step took, for the summary printed at the end. */
    const timings: { step: string; seconds: number }[] = [];
    const coldStarts: ColdStart[] = [];
    const scenarioStartedMs = Date.now();

    afterAll(async () => {
      const total = (Date.now() - scenarioStartedMs) / 1000;
      step(
        `summary (whole scenario ${total.toFixed(1)} s):\n| step | seconds |\n| --- | ---: |\n` +
          timings.map((t) => `| ${t.step} | ${t.seconds.toFixed(1)} |`).join("\n"),
      );
      if (coldStarts.length > 0) step(`cold starts:\n${breakdownTable(coldStarts)}`);
      await platformWarnings().then(
        (text) => step(`warnings and errors the platform logged:\n${text}`),
        (error: unknown) => step(`cannot read the platform's logs: ${String(error)}`),
      );
      await node?.stop();
      await cp?.stop();
      helm?.close();
    }, 90_000);

    beforeAll(async () => {
      const started = Date.now();
      helm = openHelm();
      cp = await startControlPlane({ network: "namespace", log: step });
      node = await startClusterNode({ kind: nodeKind(), controlPlane: cp, images: IMAGES, log: step });
      step(`pods run on the ${node.kind} node ${node.nodeName}`);
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(cp.kubeconfigPath);
      core = kubeConfig.makeApiClient(CoreV1Api);
      apps = kubeConfig.makeApiClient(AppsV1Api);
      custom = kubeConfig.makeApiClient(CustomObjectsApi);
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      timings.push({ step: `control plane and ${node.kind} node`, seconds: (Date.now() - started) / 1000 });
    }, 120_000);

    /** Runs a step, logs it and records its time. */
    const timed = async (name: string, body: () => Promise<void>): Promise<void> => {
      step(`=== ${name}`);
      const started = Date.now();
      try {
        await body();
      } finally {
        const seconds = (Date.now() - started) / 1000;
        timings.push({ step: name, seconds });
        step(`=== ${name}: ${seconds.toFixed(1)} s`);
      }
    };

    // --- Looking at the cluster ---------------------------------------------------------------------

    const isReady = (pod: V1Pod): boolean =>
      pod.metadata?.deletionTimestamp === undefined &&
      pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
    const podsOf = async (ns: string, labelSelector: string): Promise<V1Pod[]> =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector })).items;
    const subjectPods = (): Promise<V1Pod[]> => podsOf(namespace, `flint.dev/function=${SUBJECT}`);
    const componentPod = async (component: string): Promise<V1Pod> => {
      const pods = await podsOf(RELEASE_NAMESPACE, `app.kubernetes.io/component=${component}`);
      const pod = pods.find(isReady) ?? pods[0];
      if (pod === undefined) throw new Error(`no ${component} pod`);
      return pod;
    };
    /** What a container of `pod` wrote (its first container unless named). */
    const logOf = (pod: V1Pod, container?: string): string =>
      node!.readLog(
        pod.metadata!.namespace!,
        pod.metadata!.name!,
        container ?? pod.spec!.containers[0]!.name,
      );
    const deployment = async (name: string): Promise<V1Deployment | undefined> =>
      apps.readNamespacedDeployment({ name, namespace }).catch(() => undefined);
    const fn = async (name: string): Promise<FunctionResource> =>
      (await custom.getNamespacedCustomObject({
        group: FUNCTION_API.group,
        version: FUNCTION_API.version,
        plural: FUNCTION_API.plural,
        namespace,
        name,
      })) as FunctionResource;

    /** Every pod of the release and the test namespace, with its status and the end of its log. */
    const diagnosis = async (): Promise<string> => {
      const pods = [...(await podsOf(RELEASE_NAMESPACE, "")), ...(await podsOf(namespace, ""))];
      return pods
        .map((pod) => {
          const lines = pod.spec!.containers.map((container) => {
            const text = logOf(pod, container.name).split("\n").slice(-25).join("\n") || "(no log)";
            return `--- ${pod.metadata!.namespace}/${pod.metadata!.name}/${container.name}\n${text}`;
          });
          return `${pod.metadata!.namespace}/${pod.metadata!.name}: ${JSON.stringify(pod.status?.containerStatuses?.map((s) => s.state))}\n${lines.join("\n")}`;
        })
        .join("\n")
        .concat(`\n${node?.diagnosis() ?? ""}`);
    };
    /**
     * The controller's and gateway's log lines at warn level or above (pino level ≥ 40) and any line
     * that is not pino's (a library writing to the console), for the record of a run.
     */
    const platformWarnings = async (): Promise<string> => {
      if (node === undefined) return "(no node)";
      const pods = await podsOf(RELEASE_NAMESPACE, "app.kubernetes.io/component in (controller,gateway)");
      return pods
        .map((pod) => {
          const text = logOf(pod);
          if (text === "") return `--- ${pod.metadata!.name}: (no log)`;
          const lines = text.split("\n").filter((line) => {
            if (line.trim() === "") return false;
            try {
              return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 40;
            } catch {
              return true;
            }
          });
          const shown = lines.slice(0, 40).map((line) => line.slice(0, 400));
          const more = lines.length > shown.length ? [`… ${lines.length - shown.length} more`] : [];
          return [`--- ${pod.metadata!.name}: ${lines.length} lines`, ...shown, ...more].join("\n");
        })
        .join("\n");
    };

    /** waitFor, and on a timeout the pods' states and logs in the error. */
    const waitOrExplain = async (
      what: string,
      check: () => boolean | Promise<boolean>,
      timeoutMs: number,
    ): Promise<void> => {
      await waitFor(what, check, { timeoutMs, intervalMs: 250 }).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${await diagnosis()}`);
      });
    };

    /** The subject at zero: Deployment replicas 0 and no pod left, terminating ones included. */
    const waitForZero = async (timeoutMs: number): Promise<void> => {
      await waitOrExplain(
        `${SUBJECT} scaled to zero with its pods gone`,
        async () => (await deployment(SUBJECT))?.spec?.replicas === 0 && (await subjectPods()).length === 0,
        timeoutMs,
      );
    };

    const functionUrl = (name: string, rest = ""): string => {
      if (gateway === "") throw new Error("no gateway: step 1 (helm install) did not get it running");
      return `${gateway}/function/${name}.${namespace}${rest}`;
    };
    const helloJudge = (status: number, body: string): boolean => status === 200 && body === "Hello, load!\n";
    /** The subject's lines with message `msg` since `fromMs` in a component's log, as "+<s> <fields>". */
    const logged = async (component: string, msg: string, fromMs: number): Promise<string[]> =>
      pinoLines(logOf(await componentPod(component)))
        .filter(
          (line) =>
            line.msg === msg &&
            line.time >= fromMs &&
            // The function's key, or (in the gateway's per-call lines) one of its pods as the replica.
            (JSON.stringify(line).includes(`${namespace}/${SUBJECT}`) ||
              String(line["replica"]).startsWith(`${SUBJECT}-`)),
        )
        .map((line) => {
          const { time, msg: _msg, level: _level, pid: _pid, hostname: _host, ...fields } = line;
          return `+${((time - fromMs) / 1000).toFixed(1)}s ${JSON.stringify(fields)}`;
        });

    // --- The scenario -------------------------------------------------------------------------------

    it("1. helm install: the CRD is registered; controller, gateway, NATS and Redis run as pods and are Ready", async () => {
      await timed("1 helm install", async () => {
        const env = { KUBECONFIG: cp!.kubeconfigPath };
        // As the README tells a kind user; on the real node NATS and Redis come from local images.
        const values = node!.chartValues.length > 0 ? ["--set", node!.chartValues.join(",")] : [];
        helm!.run(["install", RELEASE, CHART, "-n", RELEASE_NAMESPACE, "--create-namespace", ...values], env);
        const established = async (): Promise<boolean> =>
          (
            await cp!.kubectl([
              "get",
              "crd",
              "functions.flint.dev",
              "-o",
              'jsonpath={.status.conditions[?(@.type=="Established")].status}',
            ])
          ).stdout === "True";
        await waitOrExplain("the Function CRD established", established, 30_000);
        const components = ["controller", "gateway", "nats", "redis"];
        await waitOrExplain(
          `${components.join(", ")} ready`,
          async () => {
            const pods = await podsOf(RELEASE_NAMESPACE, "app.kubernetes.io/part-of=flint");
            return components.every((component) =>
              pods.some(
                (pod) => pod.metadata?.labels?.["app.kubernetes.io/component"] === component && isReady(pod),
              ),
            );
          },
          120_000,
        );
        const gatewayPod = await componentPod("gateway");
        gateway = `http://${gatewayPod.status!.podIP}:8080`;
        const secret = await core.readNamespacedSecret({
          name: `${RELEASE}-auth`,
          namespace: RELEASE_NAMESPACE,
        });
        token = Buffer.from(secret.data!["token"]!, "base64").toString();
        step(`gateway at ${gateway}; management token ${token.slice(0, 4)}… from Secret ${RELEASE}-auth`);
        const info = await call(`${gateway}/system/info`, { headers: { authorization: `Bearer ${token}` } });
        expect(info.status).toBe(200);
        expect(JSON.parse(info.body)).toMatchObject({ provider: "flint", platform: "kubernetes" });
        expect((await call(`${gateway}/system/info`)).status).toBe(401);
        // What the chart's NOTES tell a user: the gateway through `kubectl port-forward service/…`
        // (the process kubelet serves no port-forward).
        if (node!.kind === "real") {
          const forward = await portForward(cp!, RELEASE_NAMESPACE, `service/${RELEASE}-gateway`, 80);
          try {
            const forwarded = await call(`${forward.url}/system/info`, {
              headers: { authorization: `Bearer ${token}` },
            });
            expect(forwarded.status).toBe(200);
            step(`kubectl port-forward service/${RELEASE}-gateway: ${forward.url}/system/info answered 200`);
          } finally {
            await forward.stop();
          }
        }
        // The controller leads: it holds its Lease.
        await waitOrExplain(
          "the controller's Lease held",
          async () => {
            const lease = await cp!.kubectl([
              "get",
              "lease",
              `${RELEASE}-controller`,
              "-n",
              RELEASE_NAMESPACE,
              "-o",
              "jsonpath={.spec.holderIdentity}",
            ]);
            return lease.stdout === (await componentPod("controller")).metadata!.name;
          },
          30_000,
        );
      });
    }, 240_000);

    it("2. kubectl apply the examples: each Function becomes Ready with its printer columns filled", async () => {
      await timed("2 apply the examples", async () => {
        const manifests = EXAMPLES.map((dir) => {
          const manifest = parseYaml(
            readFileSync(join(REPO_ROOT, "examples", dir, "function.yaml"), "utf8"),
          ) as {
            metadata: Record<string, unknown>;
            spec: Record<string, unknown>;
          };
          manifest.metadata["namespace"] = namespace;
          manifest.spec["image"] = `ghcr.io/flint-dev/flint-example-${dir}:${EXAMPLE_TAG}`;
          if (manifest.metadata["name"] === SUBJECT) {
            manifest.spec["scale"] = SUBJECT_SCALE;
            manifest.spec["secrets"] = [SUBJECT_SECRET];
          }
          return stringifyYaml(manifest);
        });
        await core.createNamespacedSecret({
          namespace,
          body: { metadata: { name: SUBJECT_SECRET }, stringData: { token: "s3cret" } },
        });
        const applied = await cp!.kubectl(["apply", "-f", "-"], manifests.join("---\n"));
        expect(applied).toMatchObject({ code: 0 });
        step(applied.stdout.trim());

        await waitOrExplain(
          "every Function Ready with one replica",
          async () => {
            const list = (await custom.listNamespacedCustomObject({
              group: FUNCTION_API.group,
              version: FUNCTION_API.version,
              plural: FUNCTION_API.plural,
              namespace,
            })) as { items: FunctionResource[] };
            return (
              list.items.length === EXAMPLES.length &&
              list.items.every(
                (item) =>
                  item.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
                  item.status.readyReplicas === 1,
              )
            );
          },
          120_000,
        );
        const table = await cp!.kubectl(["get", "functions", "-n", namespace]);
        step(`kubectl get functions -n ${namespace}\n${table.stdout}`);
        const [header, ...rows] = table.stdout.trim().split("\n");
        expect(header?.split(/\s+/)).toEqual(["NAME", "READY", "REASON", "REPLICAS", "URL", "AGE"]);
        expect(rows.map((row) => row.split(/\s+/).slice(0, 5))).toEqual(
          EXAMPLES.map((name) => [
            name,
            "True",
            "Ready",
            "1",
            `http://${RELEASE}-gateway.${RELEASE_NAMESPACE}/function/${name}.${namespace}`,
          ]),
        );
        for (const row of rows) expect(row.split(/\s+/)[5]).toMatch(/^\d+s$/);
      });
    }, 180_000);

    it("3. calls each example through the gateway and gets the right answers", async () => {
      await timed("3 call each example", async () => {
        const hello = await call(functionUrl("hello", "?name=Flint"));
        expect({ status: hello.status, body: hello.body }).toEqual({ status: 200, body: "Hello, Flint!\n" });

        const echo = await call(functionUrl("lambda-echo", "/orders/7?verbose=1"), {
          method: "POST",
          body: "ping",
          headers: { "content-type": "text/plain" },
        });
        expect(echo.status).toBe(200);
        expect(JSON.parse(echo.body)).toMatchObject({
          method: "POST",
          path: "/orders/7",
          query: { verbose: "1" },
          body: "ping",
        });

        const counter = await call(functionUrl("http-counter", "/hits"));
        expect(counter.status).toBe(200);
        expect(JSON.parse(counter.body)).toMatchObject({ count: 1, method: "GET", path: "/hits" });
        expect(JSON.parse((await call(functionUrl("http-counter", "/hits"))).body)).toMatchObject({
          count: 2,
        });

        const shout = await call(functionUrl("shout"), { method: "POST", body: "hi there" });
        expect({ status: shout.status, body: shout.body }).toEqual({ status: 200, body: "HI THERE" });

        step("the management API lists the four Functions with the chart's token, and refuses without it");
        const auth = { authorization: `Bearer ${token}` };
        const listed = await call(`${gateway}/system/functions?namespace=${namespace}`, { headers: auth });
        expect(listed.status).toBe(200);
        const names = (JSON.parse(listed.body) as { items: FunctionResource[] }).items.map(
          (item) => item.metadata.name,
        );
        expect(names.sort()).toEqual(EXAMPLES);
        expect((await call(`${gateway}/system/functions?namespace=${namespace}`)).status).toBe(401);
      });
    }, 60_000);

    const readySubjectPod = async (): Promise<V1Pod> => {
      const pod = (await subjectPods()).find(isReady);
      if (pod === undefined) throw new Error(`no ready ${SUBJECT} pod`);
      return pod;
    };
    /** Runs `script` with sh in a container: the API server, kubelet and containerd carry it. */
    const exec = (pod: V1Pod, container: string, script: string) =>
      cp!.kubectl([
        "exec",
        "-n",
        pod.metadata!.namespace!,
        pod.metadata!.name!,
        "-c",
        container,
        "--",
        "sh",
        "-c",
        script,
      ]);
    /** Steps only a real runtime can show; on the process kubelet they are skipped, saying so. */
    const onRealNode = nodeKind() === "real" ? it : it.skip;
    if (nodeKind() !== "real")
      step("FLINT_E2E_NODE=process: the steps that need a real runtime (3b, 3c, 3d) are skipped");

    onRealNode(
      "3b. the runtime enforces the pod's security context: uid 10001, read-only root, no capabilities, seccomp, secrets read-only",
      async () => {
        await timed("3b security context", async () => {
          const pod = await readySubjectPod();
          const secretDir = `/var/flint/secrets/${SUBJECT_SECRET}`;
          const probe = await exec(
            pod,
            "function",
            [
              "id -u",
              "id -g",
              "touch /probe 2>&1 || true",
              "touch /tmp/probe && echo tmp-writable",
              "grep -E '^(CapEff|CapPrm|Seccomp):' /proc/self/status",
              `cat ${secretDir}/token; echo`,
              `touch ${secretDir}/x 2>&1 || true`,
            ].join("; "),
          );
          step(`inside ${pod.metadata!.name}:\n${probe.stdout}${probe.stderr}`);
          expect(probe.code).toBe(0);
          const lines = probe.stdout.split("\n");
          expect(lines.slice(0, 2)).toEqual(["10001", "10001"]);
          expect(lines[2]).toMatch(/Read-only file system/);
          expect(lines).toContain("tmp-writable");
          expect(probe.stdout).toMatch(/^CapEff:\s+0{16}$/m);
          expect(probe.stdout).toMatch(/^CapPrm:\s+0{16}$/m);
          // 2: a seccomp filter is in force (RuntimeDefault); 0 would be none.
          expect(probe.stdout).toMatch(/^Seccomp:\s+2$/m);
          expect(lines).toContain("s3cret");
          expect(probe.stdout).toContain(`cannot touch '${secretDir}/x': Read-only file system`);
        });
      },
      60_000,
    );

    onRealNode(
      "3c. from a function pod the gateway's Service name resolves (CoreDNS) and answers (kube-proxy)",
      async () => {
        await timed("3c Service DNS and ClusterIP", async () => {
          const pod = await readySubjectPod();
          const url = `http://${RELEASE}-gateway.${RELEASE_NAMESPACE}/healthz`;
          const script =
            "fetch(process.argv[1]).then(async (r) => console.log(r.status, await r.text()), " +
            "(e) => { console.error(String(e.cause ?? e)); process.exit(1); })";
          const fetched = await exec(pod, "function", `node -e '${script}' ${url}`);
          step(`from ${pod.metadata!.name}: GET ${url} → ${fetched.stdout.trim()} ${fetched.stderr.trim()}`);
          expect(fetched).toMatchObject({ code: 0 });
          expect(fetched.stdout).toMatch(/^200 /);
        });
      },
      60_000,
    );

    onRealNode(
      "3d. a function over its memory limit is OOM-killed by the runtime, and its Function status says so",
      async () => {
        await timed("3d OOMKilled", async () => {
          // The hello image, made to take 1 GiB of Buffers before it can serve: NODE_OPTIONS'
          // --import runs a data: module first (no spaces: NODE_OPTIONS splits on them). Under a 64Mi
          // limit the kernel kills it each start.
          const grab =
            "data:text/javascript,globalThis.kept=Array.from({length:64},()=>Buffer.alloc(1<<24,1))";
          const manifest = {
            apiVersion: `${FUNCTION_API.group}/${FUNCTION_API.version}`,
            kind: "Function",
            metadata: { name: "greedy", namespace },
            spec: {
              image: `ghcr.io/flint-dev/flint-example-hello:${EXAMPLE_TAG}`,
              handler: { mode: "module", entry: "handler.js" },
              env: [{ name: "NODE_OPTIONS", value: `--import=${grab}` }],
              resources: { requests: { memory: "32Mi" }, limits: { memory: "64Mi" } },
              scale: { min: 1, max: 1 },
            },
          };
          const applied = await cp!.kubectl(["apply", "-f", "-"], stringifyYaml(manifest));
          expect(applied).toMatchObject({ code: 0 });
          try {
            let ready: { status?: string; reason?: string; message?: string } | undefined;
            await waitOrExplain(
              "greedy's Ready condition to say OOMKilled",
              async () => {
                ready = (await fn("greedy")).status?.conditions?.find((c) => c.type === "Ready");
                return ready?.reason === "OOMKilled";
              },
              120_000,
            );
            step(`greedy: Ready=${ready?.status} ${ready?.reason}: ${ready?.message}`);
            expect(ready).toMatchObject({ status: "False", reason: "OOMKilled" });
            expect(ready?.message).toMatch(
              /^pod greedy-\S+: container function was killed for using more than its memory limit \(resources.limits.memory 64Mi\)/,
            );
            const table = await cp!.kubectl(["get", "function", "greedy", "-n", namespace]);
            step(`kubectl get function greedy\n${table.stdout}`);
            expect(table.stdout).toMatch(/OOMKilled/);
          } finally {
            await cp!.kubectl(["delete", "function", "greedy", "-n", namespace, "--wait=false"]);
          }
        });
      },
      180_000,
    );

    it(`4. left idle, ${SUBJECT} goes to zero replicas and its pods go away`, async () => {
      await timed(`4 ${SUBJECT} idles to zero`, async () => {
        const started = Date.now();
        // The flint policy holds every replica for its first 60 s stable window, then the fixed 10 s
        // keep-alive lets the last one go.
        await waitForZero(240_000);
        step(`${SUBJECT} at zero ${((Date.now() - started) / 1000).toFixed(1)} s after its last call`);
        const status = (await fn(SUBJECT)).status;
        await waitOrExplain(
          `${SUBJECT} reported ScaledToZero`,
          async () =>
            (await fn(SUBJECT)).status?.conditions?.some(
              (c) => c.type === "Ready" && c.reason === "ScaledToZero",
            ) === true,
          30_000,
        ).catch((error: unknown) => {
          throw new Error(`${String(error)}\nstatus: ${JSON.stringify(status)}`);
        });
      });
    }, 300_000);

    it(`5. a call wakes ${SUBJECT} from zero: the cold start succeeds, timed from every clock that saw it`, async () => {
      await timed(`5 cold start ×${COLD_STARTS}`, async () => {
        const gatewayPod = await componentPod("gateway");
        const controllerPod = await componentPod("controller");
        for (let run = 1; run <= COLD_STARTS; run++) {
          await waitForZero(120_000);
          const watch = await ColdStartWatch.start(kubeConfig, namespace, SUBJECT);
          try {
            const sentMs = Date.now();
            const reply = await call(functionUrl(SUBJECT, `?name=cold${run}`));
            const answeredMs = Date.now();
            expect({ status: reply.status, body: reply.body }).toEqual({
              status: 200,
              body: `Hello, cold${run}!\n`,
            });
            const held = reply.headers["x-flint-cold-start"];
            expect(held).toMatch(/^\d+$/);
            // One waiting call asks for one replica, not a burst.
            expect((await deployment(SUBJECT))?.spec?.replicas).toBe(1);
            // The watches and the logs may still be on their way for the last milestones.
            await waitFor("the pod and its endpoint ready", () => watch.marks.endpointReady !== undefined, {
              timeoutMs: 20_000,
              intervalMs: 100,
            });
            const podName = watch.marks.pod ?? "";
            const pod = await core.readNamespacedPod({ name: podName, namespace });
            const coldStart = coldStartOf({
              sentMs,
              answeredMs,
              gatewayHeldMs: Number(held),
              watched: watch.marks,
              kubelet: node!.kubeletLines(),
              podKey: `${namespace}/${podName}`,
              gatewayLog: logOf(gatewayPod),
              controllerLog: logOf(controllerPod),
              watchdogLog: logOf(pod, "function"),
              functionKey: `${namespace}/${SUBJECT}`,
            });
            coldStarts.push(coldStart);
            step(
              `cold start ${run} of ${COLD_STARTS} (pod ${podName}): ${coldStart.totalMs} ms\n${milestoneTable(coldStart)}`,
            );
          } finally {
            watch.stop();
          }
        }
        step(`cold starts of ${SUBJECT}:\n${breakdownTable(coldStarts)}`);
      });
    }, 600_000);

    it(`6. under load ${SUBJECT} scales out to more than one replica, and back when the load stops`, async () => {
      await timed(`6 ${SUBJECT} scales out and back`, async () => {
        const started = Date.now();
        const load = startLoad(functionUrl(SUBJECT, "?name=load"), { workers: 16, judge: helloJudge });
        let peak = 0;
        try {
          await waitOrExplain(
            "two ready replicas or more",
            async () => {
              const ready = (await subjectPods()).filter(isReady).length;
              peak = Math.max(peak, ready);
              return ready >= 2;
            },
            90_000,
          );
        } finally {
          const result = await load.stop();
          step(
            `load: ${result.calls} calls in ${result.seconds.toFixed(1)} s, statuses ${JSON.stringify(result.statuses)}, peak ${peak} ready replicas`,
          );
          expect(result.failures).toEqual([]);
        }
        const stopped = Date.now();
        await waitOrExplain(
          "back to one replica or none",
          async () => ((await deployment(SUBJECT))?.spec?.replicas ?? 99) <= 1,
          180_000,
        );
        step(`back to ≤ 1 replica ${((Date.now() - stopped) / 1000).toFixed(1)} s after the load stopped`);
        const decisions = await logged("controller", "scaled", started);
        step(`the autoscaler's decisions since the load began:\n  ${decisions.join("\n  ")}`);
        expect(decisions.some((line) => /"to":[2-9]/.test(line))).toBe(true);
      });
    }, 360_000);

    it(`7. a spec update of ${SUBJECT} rolls out under steady load without failing a call`, async () => {
      await timed(`7 rollout under load`, async () => {
        const started = Date.now();
        const load = startLoad(functionUrl(SUBJECT, "?name=load"), { workers: 16, judge: helloJudge });
        try {
          // Scaled out by the load first, so the rollout replaces several pods that are taking calls.
          await waitOrExplain(
            "calls answered and two replicas ready before the update",
            async () => load.ok >= 20 && (await subjectPods()).filter(isReady).length >= 2,
            90_000,
          );
          const before = await deployment(SUBJECT);
          step(
            `updating ${SUBJECT}'s env under load (${load.ok} calls so far, ${before?.spec?.replicas} replicas)`,
          );
          const patched = await cp!.kubectl([
            "patch",
            "function",
            SUBJECT,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            JSON.stringify({ spec: { env: [{ name: "GREETING_STYLE", value: "v2" }] } }),
          ]);
          expect(patched).toMatchObject({ code: 0 });
          const hasNewEnv = (pod: V1Pod): boolean =>
            pod.spec?.containers[0]?.env?.some((e) => e.name === "GREETING_STYLE" && e.value === "v2") ===
            true;
          await waitOrExplain(
            "the rollout complete: every pod of the new template, ready",
            async () => {
              const d = await deployment(SUBJECT);
              const pods = await subjectPods();
              const wanted = d?.spec?.replicas ?? 0;
              return (
                wanted >= 1 &&
                (d?.status?.observedGeneration ?? 0) >= (d?.metadata?.generation ?? 1) &&
                d?.status?.updatedReplicas === wanted &&
                d.status.readyReplicas === wanted &&
                pods.length === wanted &&
                pods.every((pod) => hasNewEnv(pod) && isReady(pod))
              );
            },
            120_000,
          );
          const rolledOut = load.ok;
          await waitOrExplain(
            "more calls answered after the rollout",
            () => load.ok >= rolledOut + 20,
            30_000,
          );
        } finally {
          const result = await load.stop();
          step(
            `load: ${result.calls} calls in ${result.seconds.toFixed(1)} s, statuses ${JSON.stringify(result.statuses)}`,
          );
          expect(result.failures).toEqual([]);
          expect(result.ok).toBe(result.calls);
        }
        const retried = await logged("gateway", "retrying call on another replica", started);
        step(
          `calls the gateway moved to another replica during the rollout: ${retried.length}\n  ${retried.join("\n  ")}`,
        );
        const updated = await fn(SUBJECT);
        expect(updated.status?.observedGeneration).toBe(updated.metadata.generation);
      });
    }, 240_000);

    it(`8. deleting ${SUBJECT} garbage-collects its Deployment and Service`, async () => {
      await timed(`8 delete ${SUBJECT}`, async () => {
        expect(await deployment(SUBJECT)).toBeDefined();
        const deleted = await cp!.kubectl(["delete", "function", SUBJECT, "-n", namespace, "--wait=false"]);
        expect(deleted).toMatchObject({ code: 0 });
        await waitOrExplain(
          "the Deployment, Service and pods gone",
          async () => {
            const service = await core
              .readNamespacedService({ name: SUBJECT, namespace })
              .catch(() => undefined);
            return (
              (await deployment(SUBJECT)) === undefined &&
              service === undefined &&
              (await subjectPods()).length === 0
            );
          },
          120_000,
        );
        await waitOrExplain(
          "the gateway forgets it",
          async () => (await call(functionUrl(SUBJECT))).status === 404,
          30_000,
        );
      });
    }, 180_000);

    /** Bad manifests, each with the field and the message the CRD gives for it. */
    const BAD: { name: string; spec: Record<string, unknown>; path: string; message: string }[] = [
      {
        name: "bad-scale",
        spec: { handler: { mode: "module", entry: "h.js" }, scale: { min: 3, max: 2 } },
        path: "spec.scale.min",
        message: "must be <= spec.scale.max",
      },
      {
        name: "bad-entry",
        spec: { handler: { mode: "module" } },
        path: "spec.handler.entry",
        message: "is required in module mode",
      },
      {
        name: "bad-exec",
        spec: { handler: { mode: "exec" } },
        path: "spec.handler.command",
        message: "is required in exec mode",
      },
      {
        name: "bad-env",
        spec: { handler: { mode: "module", entry: "h.js" }, env: [{ name: "FLINT_MODE", value: "x" }] },
        path: "spec.env[0].name",
        message: "must not start with FLINT_ (reserved for the watchdog's own settings)",
      },
      {
        name: "bad-timeout",
        spec: { handler: { mode: "module", entry: "h.js" }, timeout: "thirty" },
        path: "spec.timeout",
        message: "must be a duration like 30s, 500ms or 1m30s",
      },
      {
        name: "bad-idle",
        spec: { handler: { mode: "module", entry: "h.js" }, scale: { idle: "soon" } },
        path: "spec.scale.idle",
        message: "must be auto or a duration like 30s, 5m or 1h",
      },
    ];

    it("9a. the API server refuses bad manifests with the CRD's messages, as flint up's validator does", async () => {
      await timed("9a bad manifests", async () => {
        for (const bad of BAD) {
          const manifest = stringifyYaml({
            apiVersion: `${FUNCTION_API.group}/${FUNCTION_API.version}`,
            kind: "Function",
            metadata: { name: bad.name, namespace },
            spec: { image: "ghcr.io/flint-dev/flint-example-hello:0.1.0", ...bad.spec },
          });
          const result = await cp!.kubectl(["apply", "-f", "-"], manifest);
          step(`${bad.name}: ${result.stderr.trim()}`);
          expect([bad.name, result.code === 0, result.stderr]).toEqual([
            bad.name,
            false,
            expect.stringMatching(
              new RegExp(`${escapeRegExp(bad.path)}: Invalid value: .*${escapeRegExp(bad.message)}`),
            ),
          ]);
          // flint up refuses it for the same field with the same message (it may add the values).
          const local = parseManifests(manifest)[0];
          const errors = local?.ok === false ? local.errors.map(formatFieldError) : [];
          expect([bad.name, errors]).toEqual([
            bad.name,
            expect.arrayContaining([
              expect.stringMatching(new RegExp(`^${escapeRegExp(`${bad.path}: ${bad.message}`)}`)),
            ]),
          ]);
        }
        const listed = await cp!.kubectl(["get", "functions", "-n", namespace, "-o", "name"]);
        for (const bad of BAD) expect(listed.stdout).not.toContain(bad.name);
      });
    }, 120_000);

    it("9b. kubectl auth can-i --list shows each Flint ServiceAccount only what it needs", async () => {
      await timed("9b auth can-i --list", async () => {
        const list = async (subject: string, ns: string): Promise<string[]> => {
          const result = await cp!.kubectl(["auth", "can-i", "--list", "-n", ns, `--as=${subject}`]);
          expect(result).toMatchObject({ code: 0 });
          return resourceRules(result.stdout);
        };
        // What any ServiceAccount may do (system:basic-user, system:discovery and the like): that of
        // one with no binding at all. Flint's accounts are compared on what they have beyond it.
        const baseline = new Set(await list(`system:serviceaccount:${namespace}:default`, namespace));
        step(`any ServiceAccount may: ${[...baseline].join("; ")}`);
        const beyondBaseline = async (account: string, ns: string): Promise<string[]> => {
          const rules = (await list(`system:serviceaccount:${RELEASE_NAMESPACE}:${account}`, ns)).filter(
            (rule) => !baseline.has(rule),
          );
          step(`${account} in ${ns}, beyond that:\n  ${rules.join("\n  ")}`);
          return rules;
        };
        const controllerRules = [
          "deployments.apps [] [create get list patch update watch]",
          "deployments.apps/scale [] [get patch]",
          "events [] [create patch]",
          "functions.flint.dev [] [get list watch]",
          "functions.flint.dev/status [] [patch update]",
          "pods [] [get list watch]",
          "services [] [create get list patch update watch]",
        ];
        const gatewayRules = [
          "endpointslices.discovery.k8s.io [] [list watch]",
          "functions.flint.dev [] [create delete get list patch update watch]",
        ];
        expect(await beyondBaseline(`${RELEASE}-controller`, namespace)).toEqual(controllerRules);
        expect(await beyondBaseline(`${RELEASE}-gateway`, namespace)).toEqual(gatewayRules);
        expect(await beyondBaseline(`${RELEASE}-controller`, RELEASE_NAMESPACE)).toEqual(
          [
            ...controllerRules,
            "leases.coordination.k8s.io [] [create]",
            `leases.coordination.k8s.io [${RELEASE}-controller] [get update]`,
          ].sort(),
        );
        expect(await beyondBaseline(`${RELEASE}-gateway`, RELEASE_NAMESPACE)).toEqual(gatewayRules);

        step("and that was enough: no component was refused by the API server");
        for (const component of ["controller", "gateway"]) {
          const log = logOf(await componentPod(component));
          expect([component, log.match(/.*(forbidden|Forbidden).*/)?.[0]]).toEqual([component, undefined]);
        }
      });
    }, 60_000);
  },
);

/**
 * The resource rules of `kubectl auth can-i --list` as "<resource> [<names>] [<sorted verbs>]", sorted;
 * non-resource URLs are left out. The table's columns are found from its header.
 */
function resourceRules(table: string): string[] {
  const [header = "", ...rows] = table.split("\n");
  const urlsAt = header.indexOf("Non-Resource URLs");
  const namesAt = header.indexOf("Resource Names");
  const verbsAt = header.indexOf("Verbs");
  return rows
    .map((row) => ({
      resource: row.slice(0, urlsAt).trim(),
      names: row.slice(namesAt, verbsAt).trim(),
      verbs: row.slice(verbsAt).trim(),
    }))
    .filter((rule) => rule.resource !== "")
    .map((rule) => {
      const verbs = rule.verbs
        .replace(/^\[|\]$/g, "")
        .split(/\s+/)
        .filter(Boolean)
        .sort()
        .join(" ");
      return `${rule.resource} ${rule.names} [${verbs}]`;
    })
    .sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

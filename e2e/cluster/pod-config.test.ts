// Env and volumes of the process kubelet's pods, against in-memory Secrets and ConfigMaps.
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { V1Container, V1Pod } from "@kubernetes/client-node";

import {
  containerEnv,
  ContainerConfigError,
  mountVolumes,
  writeVolumes,
  type PodSources,
} from "./pod-config.js";

const base64 = (text: string): string => Buffer.from(text).toString("base64");

const sources: PodSources = {
  secret: (_namespace, name) =>
    Promise.resolve(name === "db" ? { data: { user: base64("admin"), password: base64("pw") } } : undefined),
  configMap: (_namespace, name) =>
    Promise.resolve(name === "settings" ? { data: { mode: "fast" } } : undefined),
  serviceAccountToken: (pod, audience) => Promise.resolve(`token-for-${pod.metadata?.name}-${audience}`),
};
const addresses = { podIP: "10.88.1.2", hostIP: "10.88.0.2" };

const pod = (container: V1Container, extra: Partial<V1Pod["spec"]> = {}): V1Pod => ({
  metadata: { name: "p", namespace: "ns", uid: "u1", labels: { app: "x" } },
  spec: { nodeName: "flint-node", containers: [container], ...extra },
});

describe("containerEnv", () => {
  it("resolves literal values, envFrom, secretKeyRef, configMapKeyRef, fieldRef and $(VAR)", async () => {
    const container: V1Container = {
      name: "c",
      envFrom: [{ configMapRef: { name: "settings" }, prefix: "CFG_" }],
      env: [
        { name: "A", value: "1" },
        { name: "B", value: "$(A)-$(MISSING)-$$(A)" },
        { name: "USER", valueFrom: { secretKeyRef: { name: "db", key: "user" } } },
        { name: "MODE", valueFrom: { configMapKeyRef: { name: "settings", key: "mode" } } },
        { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: "OPT", valueFrom: { secretKeyRef: { name: "nope", key: "k", optional: true } } },
      ],
    };
    expect(await containerEnv(pod(container), container, sources, addresses)).toEqual({
      CFG_mode: "fast",
      A: "1",
      B: "1-$(MISSING)-$(A)",
      USER: "admin",
      MODE: "fast",
      IP: "10.88.1.2",
      NAME: "p",
      NS: "ns",
      APP: "x",
    });
  });

  it.each([
    [{ secretKeyRef: { name: "nope", key: "k" } }, 'secret "nope" not found'],
    [{ secretKeyRef: { name: "db", key: "nope" } }, "couldn't find key nope in Secret ns/db"],
    [{ fieldRef: { fieldPath: "spec.hostname" } }, "fieldRef spec.hostname is not supported"],
  ])("refuses %j with CreateContainerConfigError", async (valueFrom, message) => {
    const container: V1Container = { name: "c", env: [{ name: "X", valueFrom }] };
    const result = containerEnv(pod(container), container, sources, addresses);
    await expect(result).rejects.toThrow(ContainerConfigError);
    await expect(result).rejects.toThrow(message);
  });
});

describe("writeVolumes and mountVolumes", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "flint-pod-config-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes secret and projected service-account volumes and links them under the pod root", async () => {
    const container: V1Container = {
      name: "c",
      volumeMounts: [
        { name: "db", mountPath: "/var/flint/secrets/db" },
        { name: "sa", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
      ],
    };
    const spec = pod(container, {
      volumes: [
        { name: "db", secret: { secretName: "db", items: [{ key: "password", path: "pw" }] } },
        {
          name: "sa",
          projected: {
            sources: [
              { serviceAccountToken: { path: "token", audience: "api" } },
              {
                downwardAPI: {
                  items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
                },
              },
            ],
          },
        },
      ],
    });
    const volumeDirs = await writeVolumes(spec, dir, sources, addresses);
    const env = mountVolumes(container, dir, volumeDirs, { url: "https://10.88.0.1:6443", caPem: "CA" });
    expect(readFileSync(join(env["FLINT_SECRETS_DIR"]!, "db", "pw"), "utf8")).toBe("pw");
    expect(readlinkSync(join(env["FLINT_POD_ROOT"]!, "var/flint/secrets/db"))).toBe(
      join(dir, "volumes", "db"),
    );
    const saDir = join(env["FLINT_POD_ROOT"]!, "var/run/secrets/kubernetes.io/serviceaccount");
    expect(readFileSync(join(saDir, "token"), "utf8")).toBe("token-for-p-api");
    expect(readFileSync(join(saDir, "namespace"), "utf8")).toBe("ns");
    const kubeconfig = JSON.parse(readFileSync(env["KUBECONFIG"]!, "utf8")) as {
      clusters: { cluster: { server: string } }[];
      users: { user: { tokenFile: string } }[];
    };
    expect(kubeconfig.clusters[0]?.cluster.server).toBe("https://10.88.0.1:6443");
    expect(kubeconfig.users[0]?.user.tokenFile).toBe(join(saDir, "token"));
  });

  it("refuses volume kinds it cannot provide", async () => {
    const spec = pod({ name: "c" }, { volumes: [{ name: "h", hostPath: { path: "/etc" } }] });
    await expect(writeVolumes(spec, dir, sources, addresses)).rejects.toThrow(
      "hostPath volumes are not supported",
    );
  });
});

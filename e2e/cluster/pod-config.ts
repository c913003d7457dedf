// What a pod's containers see, made from the pod spec: the environment (env, envFrom, valueFrom)
// and the volumes, written to files under the pod's directory.
//
// A process cannot have files at a pod's absolute mount paths, so each volumeMount becomes a
// symlink at `<podDir>/root<mountPath>` and the process gets FLINT_POD_ROOT=<podDir>/root; Flint's
// secrets (mounted under /var/flint/secrets/<name>/) are at $FLINT_SECRETS_DIR/<name>/. A mounted
// service-account token also yields a kubeconfig at $KUBECONFIG, which client-node's
// loadFromDefault() and kubectl pick up before the in-cluster paths.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import type {
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1ObjectFieldSelector,
  V1Pod,
  V1Secret,
  V1Volume,
} from "@kubernetes/client-node";

/** A pod's container cannot be configured yet (a missing Secret or key): it stays Waiting. */
export class ContainerConfigError extends Error {
  readonly code = "CreateContainerConfigError";
}

/** The API reads the kubelet needs, as a small port (tests of this file can pass a fake). */
export interface PodSources {
  secret(namespace: string, name: string): Promise<V1Secret | undefined>;
  configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  /** A bound service-account token for the pod (TokenRequest). */
  serviceAccountToken(pod: V1Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
}

/** Addresses a pod's env can refer to. */
export interface PodAddresses {
  readonly podIP: string;
  readonly hostIP: string;
}

export const SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
const FLINT_SECRETS_MOUNT = "/var/flint/secrets";

/** The root under which a pod's mounts appear (FLINT_POD_ROOT). */
export function podRoot(podDir: string): string {
  return join(podDir, "root");
}

/**
 * The container's environment: envFrom, then env in order with `$(NAME)` references expanded, as
 * Kubernetes does. Throws ContainerConfigError for a missing required Secret/ConfigMap or key.
 */
export async function containerEnv(
  pod: V1Pod,
  container: V1Container,
  sources: PodSources,
  addresses: PodAddresses,
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? "default";
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    if (from.secretRef !== undefined) {
      const secret = await sources.secret(namespace, from.secretRef.name ?? "");
      if (secret === undefined && from.secretRef.optional !== true)
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      for (const [key, value] of Object.entries(secret?.data ?? {}))
        env[prefix + key] = Buffer.from(value, "base64").toString();
    }
    if (from.configMapRef !== undefined) {
      const configMap = await sources.configMap(namespace, from.configMapRef.name ?? "");
      if (configMap === undefined && from.configMapRef.optional !== true)
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      for (const [key, value] of Object.entries(configMap?.data ?? {})) env[prefix + key] = value;
    }
  }
  for (const variable of container.env ?? []) {
    const value = await envValue(pod, container, variable, sources, addresses);
    if (value !== undefined) env[variable.name] = expand(value, env);
  }
  return env;
}

/** `$(NAME)` → env[NAME] when defined; `$$(NAME)` → `$(NAME)`; unknown references stay as written. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) =>
    name === undefined ? "$" : (env[name] ?? match),
  );
}

async function envValue(
  pod: V1Pod,
  container: V1Container,
  variable: V1EnvVar,
  sources: PodSources,
  addresses: PodAddresses,
): Promise<string | undefined> {
  if (variable.valueFrom === undefined) return variable.value ?? "";
  const namespace = pod.metadata?.namespace ?? "default";
  const { secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef } = variable.valueFrom;
  if (secretKeyRef !== undefined) {
    const secret = await sources.secret(namespace, secretKeyRef.name ?? "");
    const encoded = selectKey("Secret", namespace, secretKeyRef, secret?.data, secret !== undefined);
    return encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString();
  }
  if (configMapKeyRef !== undefined) {
    const configMap = await sources.configMap(namespace, configMapKeyRef.name ?? "");
    return selectKey("ConfigMap", namespace, configMapKeyRef, configMap?.data, configMap !== undefined);
  }
  if (fieldRef !== undefined) return fieldValue(pod, fieldRef, addresses);
  if (resourceFieldRef !== undefined) {
    // Approximate: the limit (or request) as written; a process has no cgroup of its own here.
    const [kind, resource] = resourceFieldRef.resource.split(".") as [string, string];
    const resources = container.resources ?? {};
    const quantity =
      (kind === "limits" ? resources.limits : resources.requests)?.[resource] ?? resources.limits?.[resource];
    return quantity ?? "0";
  }
  return "";
}

/** One key of a Secret's or ConfigMap's data; undefined only when the reference is optional. */
function selectKey(
  kind: "Secret" | "ConfigMap",
  namespace: string,
  ref: { name?: string; key: string; optional?: boolean },
  data: Record<string, string> | undefined,
  found: boolean,
): string | undefined {
  const value = data?.[ref.key];
  if (value !== undefined || ref.optional === true) return value;
  throw new ContainerConfigError(
    found
      ? `couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`
      : `${kind.toLowerCase()} "${ref.name}" not found`,
  );
}

/** The downward API fields Kubernetes allows in env and downwardAPI volumes. */
// eslint-disable-next-line complexity -- one case per downward-API field the process kubelet supports, as the kubelet's own switch
export function fieldValue(pod: V1Pod, fieldRef: V1ObjectFieldSelector, addresses: PodAddresses): string {
  const path = fieldRef.fieldPath;
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed !== null) {
    const map = keyed[1] === "labels" ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[keyed[2]!] ?? "";
  }
  switch (path) {
    case "metadata.name":
      return pod.metadata?.name ?? "";
    case "metadata.namespace":
      return pod.metadata?.namespace ?? "";
    case "metadata.uid":
      return pod.metadata?.uid ?? "";
    case "metadata.labels":
    case "metadata.annotations": {
      const map = (path === "metadata.labels" ? pod.metadata?.labels : pod.metadata?.annotations) ?? {};
      return Object.entries(map)
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
        .join("\n");
    }
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.podIP":
    case "status.podIPs":
      return addresses.podIP;
    case "status.hostIP":
    case "status.hostIPs":
      return addresses.hostIP;
    default:
      throw new ContainerConfigError(`fieldRef ${path} is not supported by the process kubelet`);
  }
}

/**
 * Writes every volume of the pod under `<podDir>/volumes/<name>/` and returns the directories by
 * volume name. Supported: secret, configMap, emptyDir, downwardAPI and projected (serviceAccountToken,
 * secret, configMap, downwardAPI sources). Throws ContainerConfigError for a missing source.
 */
export async function writeVolumes(
  pod: V1Pod,
  podDir: string,
  sources: PodSources,
  addresses: PodAddresses,
): Promise<Map<string, string>> {
  const namespace = pod.metadata?.namespace ?? "default";
  const dirs = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    const dir = join(podDir, "volumes", volume.name);
    mkdirSync(dir, { recursive: true });
    dirs.set(volume.name, dir);
    await writeVolume(volume, dir, pod, namespace, sources, addresses);
  }
  return dirs;
}

async function writeVolume(
  volume: V1Volume,
  dir: string,
  pod: V1Pod,
  namespace: string,
  sources: PodSources,
  addresses: PodAddresses,
): Promise<void> {
  const write = (path: string, content: string | Buffer): void => {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content, { mode: 0o600 });
  };
  const keys = (
    data: Record<string, Buffer>,
    items: readonly { key: string; path: string }[] | undefined,
    what: string,
    optional: boolean | undefined,
  ): void => {
    for (const { key, path } of items ?? Object.keys(data).map((key) => ({ key, path: key }))) {
      const content = data[key];
      if (content === undefined) {
        if (optional === true) continue;
        throw new ContainerConfigError(`couldn't find key ${key} in ${what}`);
      }
      write(path, content);
    }
  };
  const secretData = async (name: string, optional: boolean | undefined): Promise<Record<string, Buffer>> => {
    const secret = await sources.secret(namespace, name);
    if (secret === undefined && optional !== true)
      throw new ContainerConfigError(`secret "${name}" not found`);
    return Object.fromEntries(
      Object.entries(secret?.data ?? {}).map(([key, value]) => [key, Buffer.from(value, "base64")]),
    );
  };
  const configMapData = async (
    name: string,
    optional: boolean | undefined,
  ): Promise<Record<string, Buffer>> => {
    const configMap = await sources.configMap(namespace, name);
    if (configMap === undefined && optional !== true)
      throw new ContainerConfigError(`configmap "${name}" not found`);
    return {
      ...Object.fromEntries(
        Object.entries(configMap?.data ?? {}).map(([key, value]) => [key, Buffer.from(value)]),
      ),
      ...Object.fromEntries(
        Object.entries(configMap?.binaryData ?? {}).map(([key, value]) => [
          key,
          Buffer.from(value, "base64"),
        ]),
      ),
    };
  };

  if (volume.secret !== undefined) {
    const name = volume.secret.secretName ?? "";
    keys(
      await secretData(name, volume.secret.optional),
      volume.secret.items,
      `Secret ${namespace}/${name}`,
      volume.secret.optional,
    );
  } else if (volume.configMap !== undefined) {
    const { name = "", items, optional } = volume.configMap;
    keys(await configMapData(name, optional), items, `ConfigMap ${namespace}/${name}`, optional);
  } else if (volume.emptyDir !== undefined) {
    // the directory is all there is
  } else if (volume.downwardAPI !== undefined) {
    for (const item of volume.downwardAPI.items ?? []) {
      if (item.fieldRef !== undefined) write(item.path, fieldValue(pod, item.fieldRef, addresses));
    }
  } else if (volume.projected !== undefined) {
    for (const source of volume.projected.sources ?? []) {
      if (source.serviceAccountToken !== undefined) {
        const { audience, expirationSeconds, path } = source.serviceAccountToken;
        write(path, await sources.serviceAccountToken(pod, audience, expirationSeconds ?? 3600));
      } else if (source.secret !== undefined) {
        const { name = "", items, optional } = source.secret;
        keys(await secretData(name, optional), items, `Secret ${namespace}/${name}`, optional);
      } else if (source.configMap !== undefined) {
        const { name = "", items, optional } = source.configMap;
        keys(await configMapData(name, optional), items, `ConfigMap ${namespace}/${name}`, optional);
      } else if (source.downwardAPI !== undefined) {
        for (const item of source.downwardAPI.items ?? []) {
          if (item.fieldRef !== undefined) write(item.path, fieldValue(pod, item.fieldRef, addresses));
        }
      } else {
        throw new ContainerConfigError(
          `volume ${volume.name}: projected source ${Object.keys(source).join(",")} is not supported`,
        );
      }
    }
  } else {
    const kind = Object.keys(volume)
      .filter((key) => key !== "name")
      .join(",");
    throw new ContainerConfigError(
      `volume ${volume.name}: ${kind} volumes are not supported by the process kubelet`,
    );
  }
}

/**
 * Links each of `container`'s volumeMounts at `<podDir>/root<mountPath>` and returns the env that
 * tells the process where they are (FLINT_POD_ROOT, FLINT_SECRETS_DIR, and KUBECONFIG when a
 * service-account token is mounted).
 */
export function mountVolumes(
  container: V1Container,
  podDir: string,
  volumeDirs: ReadonlyMap<string, string>,
  apiServer: { url: string; caPem: string },
): Record<string, string> {
  const root = join(podRoot(podDir), container.name);
  const env: Record<string, string> = {
    FLINT_POD_ROOT: root,
    FLINT_SECRETS_DIR: join(root, FLINT_SECRETS_MOUNT),
  };
  for (const mount of container.volumeMounts ?? []) {
    const source = volumeDirs.get(mount.name);
    if (source === undefined)
      throw new ContainerConfigError(`volumeMount ${mount.name} names no volume of the pod`);
    const link = join(root, mount.mountPath);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(
      mount.subPath === undefined || mount.subPath === "" ? source : join(source, mount.subPath),
      link,
    );
    if (mount.mountPath.replace(/\/$/, "") === SERVICE_ACCOUNT_MOUNT) {
      const kubeconfigPath = join(podDir, `kubeconfig-${container.name}.json`);
      writeFileSync(
        kubeconfigPath,
        inClusterKubeconfig(apiServer.url, apiServer.caPem, join(link, "token")),
        { mode: 0o600 },
      );
      env["KUBECONFIG"] = kubeconfigPath;
    }
  }
  return env;
}

/** The in-cluster credentials as a kubeconfig: the API server URL, its CA and the token file. */
function inClusterKubeconfig(url: string, caPem: string, tokenFile: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "in-cluster",
        cluster: { server: url, "certificate-authority-data": Buffer.from(caPem).toString("base64") },
      },
    ],
    // kubectl reads tokenFile, client-node token-file.
    users: [{ name: "service-account", user: { tokenFile, "token-file": tokenFile } }],
    contexts: [{ name: "in-cluster", context: { cluster: "in-cluster", user: "service-account" } }],
    "current-context": "in-cluster",
  });
}

// A real Kubernetes control plane for tests, started the way envtest does: etcd and kube-apiserver
// (and optionally kube-controller-manager and kube-scheduler) as local processes with throwaway
// certificates, static tokens and RBAC on.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { freeLoopbackPort } from "../platform/free-port.js";
import { REPO_ROOT } from "./watchdog.js";
import { addLoopbackAddress, currentNetns, NETWORK } from "./network.js";
import { forgetOnExit, logTail, removeOnExit, startProcess, type HarnessProcess } from "./processes.js";

const run = promisify(execFile);

/**
 * Where the API server listens and what pods can be.
 * - `loopback`: everything on 127.0.0.1, no kube-controller-manager or scheduler by default, no
 *   pods. Needs no root: for integration tests that only need an API server (a controller creates
 *   Deployments; nothing runs them).
 * - `namespace`: the API server advertises {@link NETWORK.apiServerIP}; the caller must already run
 *   inside a network namespace made by `e2e/cluster/run.sh` (checked), so a process kubelet can add
 *   pod addresses to its `lo`. kube-controller-manager and kube-scheduler run by default.
 */
export type ControlPlaneNetwork = "loopback" | "namespace";

export interface ControlPlaneOptions {
  /** Default `loopback`. */
  network?: ControlPlaneNetwork;
  /** Run kube-controller-manager (Deployments → ReplicaSets → Pods, GC, EndpointSlices, ServiceAccounts). Default: true in `namespace` mode. */
  controllerManager?: boolean;
  /** Run kube-scheduler (binds pods to the process kubelet's Node). Default: true in `namespace` mode. */
  scheduler?: boolean;
  /** The binaries; default {@link defaultBinDir}. */
  binDir?: string;
  /** Extra users for the static token file: `tokens[name]` holds each one's bearer token. */
  users?: readonly { name: string; groups?: readonly string[] }[];
  /** How long etcd and the API server may take to become ready, in ms. Default 60 s. */
  startTimeoutMs?: number;
  /** Progress lines ("etcd ready after 0.4s"). Default: none. */
  log?: (line: string) => void;
}

export interface ControlPlane {
  /** https://<host>:<port> of the API server. */
  readonly url: string;
  /** Bearer token of `flint-admin` (group system:masters). */
  readonly token: string;
  /** Bearer tokens of {@link ControlPlaneOptions.users}, by name. */
  readonly tokens: Readonly<Record<string, string>>;
  /** PEM of the CA that signed the API server's certificate. */
  readonly caPem: string;
  readonly caPath: string;
  /** A kubeconfig (context `flint-e2e`) with the admin token; use with kubectl or client-node's loadFromFile. */
  readonly kubeconfigPath: string;
  readonly binDir: string;
  /** The temporary directory holding certificates, etcd data and one log file per process. */
  readonly dir: string;
  readonly network: ControlPlaneNetwork;
  /** Process ids by name (etcd, kube-apiserver, …) of the processes still running. */
  pids(): Record<string, number>;
  /** Writes a kubeconfig for `token` into the temp dir and returns its path. */
  kubeconfigFor(name: string, token: string): string;
  /** Runs kubectl against this control plane as admin; never throws on a non-zero exit. */
  kubectl(args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Stops every process (SIGTERM, SIGKILL after a grace) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** A named failure to start: carries the failing process's log tail in its message. */
export class ControlPlaneStartError extends Error {
  readonly code = "CONTROL_PLANE_START";
}

/** The binaries are not built: run e2e/cluster/build.sh. */
export class ControlPlaneBinariesMissingError extends Error {
  readonly code = "CONTROL_PLANE_BINARIES_MISSING";
}

/** The binaries the harness runs (build.sh also builds helm, which it does not need). */
export type ControlPlaneBinary =
  "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kubectl";
const ALL_BINARIES: readonly ControlPlaneBinary[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
];
const BUILD_DIR = join(REPO_ROOT, "e2e", "cluster", "build");

/**
 * The bin dir e2e/cluster/build.sh fills: `FLINT_K8S_BIN_DIR` if set (run.sh sets it), else
 * `${FLINT_CACHE_DIR:-~/.cache/flint}/k8s-<kube>-etcd-<etcd>/bin` with the versions the wrapper
 * modules' go.mod files pin.
 */
export function defaultBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env["FLINT_K8S_BIN_DIR"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const pinned = (module: string, path: string): string => {
    const goMod = readFileSync(join(BUILD_DIR, path, "go.mod"), "utf8");
    const match = new RegExp(`^require ${module.replace(/\./g, "\\.")} (v\\S+)$`, "m").exec(goMod);
    if (match?.[1] === undefined) throw new Error(`no "require ${module}" line in ${path}/go.mod`);
    return match[1];
  };
  const kube = pinned("k8s.io/kubernetes", "kube");
  const etcd = pinned("go.etcd.io/etcd/server/v3", "etcd");
  return join(flintCacheDir(env), `k8s-${kube}-etcd-${etcd}`, "bin");
}

/** `${FLINT_CACHE_DIR:-~/.cache/flint}`: where build.sh and npm run images keep what they build. */
export function flintCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env["FLINT_CACHE_DIR"] || join(env["HOME"] || homedir(), ".cache", "flint");
}

/** Which of `names` are missing from `binDir` (empty when all are there). */
export function missingBinaries(
  names: readonly ControlPlaneBinary[] = ALL_BINARIES,
  binDir = defaultBinDir(),
): ControlPlaneBinary[] {
  return names.filter((name) => !existsSync(join(binDir, name)));
}

/**
 * Starts etcd and kube-apiserver (and, per options, kube-controller-manager and kube-scheduler),
 * waits until the API server's /readyz answers ok, and returns how to reach it.
 *
 * Loopback mode, for integration tests that only need an API server:
 * ```ts
 * const cp = await startControlPlane();          // ~5-10 s on 2 cores
 * const kc = new KubeConfig(); kc.loadFromFile(cp.kubeconfigPath);
 * ...
 * await cp.stop();                               // in afterAll, registered before acting
 * ```
 * Fails with {@link ControlPlaneBinariesMissingError} when build.sh has not run, and with
 * {@link ControlPlaneStartError} (with the log tail) when a process dies or is not ready in time.
 * Every process is also killed, and the directory removed, when this Node process ends without
 * stop() (see the reaper in processes.ts).
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const network = options.network ?? "loopback";
  const binDir = options.binDir ?? defaultBinDir();
  const runControllerManager = options.controllerManager ?? network === "namespace";
  const runScheduler = options.scheduler ?? network === "namespace";
  // kubectl only for cp.kubectl(), which says so itself when it is missing.
  const missing = missingBinaries(
    [
      "etcd",
      "kube-apiserver",
      ...(runControllerManager ? ["kube-controller-manager" as const] : []),
      ...(runScheduler ? ["kube-scheduler" as const] : []),
    ],
    binDir,
  );
  if (missing.length > 0) {
    throw new ControlPlaneBinariesMissingError(
      `missing ${missing.join(", ")} in ${binDir}: run e2e/cluster/build.sh first`,
    );
  }
  if (network === "namespace") {
    await assertInHarnessNamespace();
    await addLoopbackAddress(NETWORK.apiServerIP); // false when an earlier control plane added it
  }
  const log = options.log ?? ((): void => undefined);
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  const dir = mkdtempSync(join(tmpdir(), "flint-cp-"));
  removeOnExit(dir);
  const processes: HarnessProcess[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse order: controllers before the API server before etcd.
    for (const harnessProcess of [...processes].reverse()) await harnessProcess.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
    forgetOnExit(dir);
  };

  try {
    const host = network === "namespace" ? NETWORK.apiServerIP : "127.0.0.1";
    const certs = await makeCertificates(dir, host);
    const token = randomToken();
    const tokens: Record<string, string> = {};
    const tokenLines = [`${token},flint-admin,flint-admin,"system:masters"`];
    for (const user of options.users ?? []) {
      tokens[user.name] = randomToken();
      tokenLines.push(`${tokens[user.name]},${user.name},${user.name},"${(user.groups ?? []).join(",")}"`);
    }
    const tokenFile = join(dir, "tokens.csv");
    writeFileSync(tokenFile, tokenLines.join("\n") + "\n", { mode: 0o600 });

    const [etcdClientPort, etcdPeerPort, apiPort] = await distinctFreePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: dir };
    const spawnLogged = (name: string, args: readonly string[]): HarnessProcess => {
      const harnessProcess = startProcess(name, join(binDir, name), args, {
        cwd: dir,
        env,
        logPath: join(dir, `${name}.log`),
      });
      processes.push(harnessProcess);
      return harnessProcess;
    };

    const etcd = spawnLogged("etcd", [
      "--name=flint-e2e",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=flint-e2e=http://127.0.0.1:${etcdPeerPort}`,
      // Throwaway data: durability costs seconds of fsync on a shared disk.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    await waitUntil("etcd", etcd, startTimeoutMs, started, () => httpOk(`${etcdUrl}/health`));
    log(`etcd ready after ${elapsed()}`);

    const url = `https://${host}:${apiPort}`;
    const apiServer = spawnLogged("kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${host}`,
      `--advertise-address=${host}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${certs.servingCert}`,
      `--tls-private-key-file=${certs.servingKey}`,
      `--client-ca-file=${certs.caCert}`,
      `--token-auth-file=${tokenFile}`,
      "--authorization-mode=Node,RBAC",
      `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${certs.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${certs.serviceAccountKey}`,
      "--api-audiences=https://kubernetes.default.svc.cluster.local",
      // A loopback advertise address is not a valid endpoint; only namespace mode has pods to care.
      `--endpoint-reconciler-type=${network === "namespace" ? "lease" : "none"}`,
      "--allow-privileged=true",
      // Logs, exec and port-forward dial the node's InternalIP, never a name to look up (the default
      // asks DNS for the node's hostname first, which would leave the namespace).
      "--kubelet-preferred-address-types=InternalIP",
      "--profiling=false",
      "--v=1",
    ]);
    await waitUntil("kube-apiserver", apiServer, startTimeoutMs, started, async () => {
      const reply = await httpsGet(`${url}/readyz`, certs.caPem, token);
      return reply.status === 200;
    });
    log(`kube-apiserver ready at ${url} after ${elapsed()}`);

    const kubeconfigFor = (name: string, userToken: string): string => {
      const path = join(dir, `kubeconfig-${name}.json`);
      writeFileSync(path, kubeconfig(url, certs.caPem, name, userToken), { mode: 0o600 });
      return path;
    };
    const kubeconfigPath = kubeconfigFor("admin", token);

    // Both serve /healthz on a loopback port with a self-signed certificate; /healthz is always
    // allowed, and the admin kubeconfig lets them check delegated authentication.
    const delegated = [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      "--bind-address=127.0.0.1",
      "--leader-elect=false",
      "--v=1",
    ];
    const healthy = (port: number) => async (): Promise<boolean> =>
      (await httpsGet(`https://127.0.0.1:${port}/healthz`, undefined)).status === 200;
    if (runControllerManager) {
      const [port] = await distinctFreePorts(1);
      const controllerManager = spawnLogged("kube-controller-manager", [
        ...delegated,
        `--secure-port=${port}`,
        "--controllers=*",
        `--service-account-private-key-file=${certs.serviceAccountKey}`,
        // Publishes kube-root-ca.crt in every namespace (projected service-account volumes read it).
        `--root-ca-file=${certs.caCert}`,
        `--service-cluster-ip-range=${NETWORK.serviceCidr}`,
      ]);
      await waitUntil(
        "kube-controller-manager",
        controllerManager,
        startTimeoutMs,
        Date.now(),
        healthy(port!),
      );
      log(`kube-controller-manager healthy after ${elapsed()}`);
    }
    if (runScheduler) {
      const [port] = await distinctFreePorts(1);
      const scheduler = spawnLogged("kube-scheduler", [...delegated, `--secure-port=${port}`]);
      await waitUntil("kube-scheduler", scheduler, startTimeoutMs, Date.now(), healthy(port!));
      log(`kube-scheduler healthy after ${elapsed()}`);
    }

    return {
      url,
      token,
      tokens,
      caPem: certs.caPem,
      caPath: certs.caCert,
      kubeconfigPath,
      binDir,
      dir,
      network,
      pids: () =>
        Object.fromEntries(
          processes
            .filter((p) => !p.exited() && p.child.pid !== undefined)
            .map((p) => [p.name, p.child.pid!]),
        ),
      kubeconfigFor,
      kubectl: (args, input) => kubectl(join(binDir, "kubectl"), kubeconfigPath, args, input),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Namespace mode adds addresses to `lo`: only ever inside a namespace run.sh made for this run. */
async function assertInHarnessNamespace(): Promise<void> {
  const expected = process.env["FLINT_E2E_NETNS"];
  const actual = await currentNetns();
  if (expected === undefined || expected === "" || actual !== expected) {
    throw new Error(
      `namespace mode needs to run inside the network namespace e2e/cluster/run.sh makes ` +
        `(FLINT_E2E_NETNS=${JSON.stringify(expected)}, current namespace ${JSON.stringify(actual)})`,
    );
  }
}

function randomToken(): string {
  return randomBytes(24).toString("hex");
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeLoopbackPort());
  return [...ports];
}

interface Certificates {
  caCert: string;
  caPem: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
  serviceAccountPublicKey: string;
}

/**
 * A CA, an API server certificate it signs (for `host`, 127.0.0.1, the service IP and the
 * kubernetes.default names) and a service-account signing key pair, made with the openssl CLI:
 * node:crypto makes keys but not X.509 certificates. EC P-256 keys, valid one day.
 */
async function makeCertificates(dir: string, host: string): Promise<Certificates> {
  const path = (name: string): string => join(dir, name);
  const openssl = async (args: string[]): Promise<void> => {
    try {
      await run("openssl", args, { cwd: dir });
    } catch (error) {
      throw new ControlPlaneStartError(
        `openssl ${args[0]} failed (is openssl installed?): ${String(error)}`,
        {
          cause: error,
        },
      );
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    path("ca.key"),
    "-out",
    path("ca.crt"),
    "-subj",
    "/CN=flint-e2e-ca",
  ]);
  const names = [
    `IP:${host}`,
    "IP:127.0.0.1",
    `IP:${NETWORK.apiServiceIP}`,
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-CA",
    path("ca.crt"),
    "-CAkey",
    path("ca.key"),
    "-keyout",
    path("apiserver.key"),
    "-out",
    path("apiserver.crt"),
    "-subj",
    "/CN=kube-apiserver",
    "-addext",
    `subjectAltName=${[...new Set(names)].join(",")}`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ]);
  await openssl([
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-out",
    path("sa.key"),
  ]);
  await openssl(["pkey", "-in", path("sa.key"), "-pubout", "-out", path("sa.pub")]);
  return {
    caCert: path("ca.crt"),
    caPem: readFileSync(path("ca.crt"), "utf8"),
    servingCert: path("apiserver.crt"),
    servingKey: path("apiserver.key"),
    serviceAccountKey: path("sa.key"),
    serviceAccountPublicKey: path("sa.pub"),
  };
}

/** A kubeconfig as JSON (valid YAML, read by kubectl and client-node alike). */
function kubeconfig(url: string, caPem: string, user: string, token: string): string {
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "flint-e2e",
          cluster: { server: url, "certificate-authority-data": Buffer.from(caPem).toString("base64") },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: "flint-e2e", context: { cluster: "flint-e2e", user } }],
      "current-context": "flint-e2e",
    },
    null,
    2,
  );
}

function startError(name: string, harnessProcess: HarnessProcess, reason = "exited"): ControlPlaneStartError {
  return new ControlPlaneStartError(
    `${name} ${reason}; last lines of ${harnessProcess.logPath}:\n${logTail(harnessProcess.logPath)}`,
  );
}

/** Polls `ready` every 100 ms until it is true; fails at once if the process dies, or at the deadline. */
async function waitUntil(
  name: string,
  harnessProcess: HarnessProcess,
  timeoutMs: number,
  since: number,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = since + timeoutMs;
  for (;;) {
    if (harnessProcess.exited()) throw startError(name, harnessProcess);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw startError(name, harnessProcess, `not ready within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await response.body?.cancel();
  return response.ok;
}

/**
 * GET over HTTPS trusting only `caPem` (fetch cannot take a CA without undici's dispatcher);
 * `caPem` undefined accepts any certificate: only for loopback health checks of our own processes.
 */
export function httpsGet(
  url: string,
  caPem: string | undefined,
  token?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ...(caPem === undefined ? { rejectUnauthorized: false } : { ca: caPem }),
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        timeout: 2000,
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.once("error", reject);
      },
    );
    req.once("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.once("error", reject);
    req.end();
  });
}

function kubectl(
  binary: string,
  kubeconfigPath: string,
  args: readonly string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      binary,
      [`--kubeconfig=${kubeconfigPath}`, ...args],
      { env: { PATH: process.env["PATH"] ?? "", HOME: tmpdir() }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === "number") resolve({ code: error.code, stdout, stderr });
        // Not started at all (ENOENT: build.sh has not built kubectl).
        else resolve({ code: 127, stdout, stderr: `${stderr}${binary}: ${error.message}` });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

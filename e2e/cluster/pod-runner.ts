// One pod on the process kubelet: its address, volumes and containers (each a local process), its
// probes, restarts and status, and its graceful termination.
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type V1Container,
  type V1ContainerState,
  type V1ContainerStatus,
  type V1Pod,
} from "@kubernetes/client-node";

import { processFor, UnknownImageError } from "./images.js";
import type { PodAddressPool } from "../../testing/network.js";
import {
  containerEnv,
  ContainerConfigError,
  mountVolumes,
  writeVolumes,
  type PodSources,
} from "./pod-config.js";
import { probeCheck, ProbeLoop } from "./probes.js";
import { startProcess, type HarnessProcess } from "../../testing/processes.js";

/** What a pod runner needs from its kubelet. */
export interface PodRunnerContext {
  readonly core: CoreV1Api;
  readonly sources: PodSources;
  readonly addresses: PodAddressPool;
  readonly nodeIP: string;
  readonly repoRoot: string;
  /** Pod directories (volumes, mounts) are made under `<workDir>/pods/`. */
  readonly workDir: string;
  /** Where a container's stdout and stderr go; kept after the pod is gone. */
  logPath(namespace: string, pod: string, container: string): string;
  readonly apiServer: { readonly url: string; readonly caPem: string };
  /** Base restart back-off in ms (doubles per restart up to 32×). */
  readonly restartBackoffMs: number;
  log(line: string): void;
}

/** A restart back-off resets once a container has run this long. */
const STABLE_RUN_MS = 10_000;
/** How often a pod whose containers cannot be configured yet (missing Secret) is retried. */
const CONFIG_RETRY_MS = 1000;

type ContainerPhase =
  | { kind: "waiting"; reason: string; message?: string }
  | { kind: "running"; startedAt: string }
  | {
      kind: "terminated";
      exitCode: number;
      signal?: string;
      reason: string;
      message?: string;
      startedAt: string;
      finishedAt: string;
    };

interface ContainerRun {
  readonly spec: V1Container;
  phase: ContainerPhase;
  lastTerminated: ContainerPhase | undefined;
  process: HarnessProcess | undefined;
  startedOnce: boolean;
  ready: boolean;
  restartCount: number;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  probes: ProbeLoop[];
  /** Env from the pod spec and mounts, made once per pod start (volumes do not change). */
  env: Record<string, string> | undefined;
}

const now = (): string => new Date().toISOString();

export class PodRunner {
  private pod: V1Pod;
  private readonly key: string;
  private readonly podDir: string;
  private podIP: string | undefined;
  private startTime: string | undefined;
  private readonly containers: ContainerRun[];
  private starting: Promise<void> | undefined;
  private terminating: Promise<void> | undefined;
  private finished = false;
  private configTimer: NodeJS.Timeout | undefined;
  private writing = false;
  private dirty = false;
  private lastWritten = "";
  /** Condition type → its status and when it last changed, so unchanged conditions keep their time. */
  private readonly transitions = new Map<string, { status: string; time: string }>();

  constructor(
    pod: V1Pod,
    private readonly context: PodRunnerContext,
  ) {
    this.pod = pod;
    this.key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    this.podDir = join(
      context.workDir,
      "pods",
      `${pod.metadata?.namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`,
    );
    this.containers = (pod.spec?.containers ?? []).map((spec) => ({
      spec,
      phase: { kind: "waiting", reason: "ContainerCreating" },
      lastTerminated: undefined,
      process: undefined,
      startedOnce: false,
      ready: false,
      restartCount: 0,
      backoffMs: context.restartBackoffMs,
      restartTimer: undefined,
      probes: [],
      env: undefined,
    }));
  }

  /** Takes the pod's latest version; a deletionTimestamp starts graceful termination. */
  update(pod: V1Pod): void {
    this.pod = pod;
    if (pod.metadata?.deletionTimestamp !== undefined) void this.terminate();
  }

  /** Gives the pod an address, writes its volumes and starts its containers (once). */
  start(): Promise<void> {
    this.starting ??= this.pod.metadata?.deletionTimestamp === undefined ? this.setUp() : Promise.resolve();
    return this.starting;
  }

  private async setUp(): Promise<void> {
    this.context.log(`${this.key}: starting`);
    this.startTime = now();
    mkdirSync(this.podDir, { recursive: true });
    this.podIP = await this.context.addresses.acquire();
    if (this.pod.spec?.initContainers?.length) {
      for (const run of this.containers) {
        run.phase = {
          kind: "waiting",
          reason: "InitContainersUnsupported",
          message: "the process kubelet does not run init containers",
        };
      }
      this.markDirty();
      return;
    }
    await this.configureAndStart();
  }

  /** Volumes and env; on a missing Secret/ConfigMap the containers wait and this is retried. */
  private async configureAndStart(): Promise<void> {
    if (this.terminating !== undefined || this.podIP === undefined) return;
    const addresses = { podIP: this.podIP, hostIP: this.context.nodeIP };
    try {
      rmSync(join(this.podDir, "volumes"), { recursive: true, force: true });
      rmSync(join(this.podDir, "root"), { recursive: true, force: true });
      const volumeDirs = await writeVolumes(this.pod, this.podDir, this.context.sources, addresses);
      for (const run of this.containers) {
        const mountEnv = mountVolumes(run.spec, this.podDir, volumeDirs, this.context.apiServer);
        run.env = {
          ...mountEnv,
          ...(await containerEnv(this.pod, run.spec, this.context.sources, addresses)),
        };
      }
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      for (const run of this.containers)
        run.phase = { kind: "waiting", reason: error.code, message: error.message };
      this.markDirty();
      this.configTimer = setTimeout(
        () => void this.configureAndStart().catch((e: unknown) => this.fail(e)),
        CONFIG_RETRY_MS,
      );
      return;
    }
    for (const run of this.containers) this.startContainer(run);
  }

  private fail(error: unknown): void {
    this.context.log(`${this.key}: ${String(error)}`);
  }

  private startContainer(run: ContainerRun): void {
    if (this.terminating !== undefined || this.podIP === undefined || run.env === undefined) return;
    const { spec } = run;
    const namespace = this.pod.metadata?.namespace ?? "default";
    const name = this.pod.metadata?.name ?? "";
    let processSpec;
    try {
      processSpec = processFor({
        image: spec.image ?? "",
        args: spec.args ?? [],
        podIP: this.podIP,
        containerPort: spec.ports?.[0]?.containerPort,
        env: run.env,
        podDir: this.podDir,
        repoRoot: this.context.repoRoot,
      });
    } catch (error) {
      if (!(error instanceof UnknownImageError)) throw error;
      run.phase = { kind: "waiting", reason: error.code, message: error.message };
      this.context.log(`${this.key}/${spec.name}: ${error.message}`);
      this.markDirty();
      return;
    }
    const url = new URL(this.context.apiServer.url);
    const env = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: this.podDir,
      HOSTNAME: name,
      // No kube-proxy: the service host is the API server itself, not the kubernetes ClusterIP.
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port,
      KUBERNETES_SERVICE_PORT_HTTPS: url.port,
      ...run.env,
      ...processSpec.env,
      // Inherited by whatever the container starts, so all of it can be found when it ends.
      [CONTAINER_TAG]: `${this.key}/${spec.name}/${run.restartCount}`,
    };
    const child = startProcess(`${this.key}/${spec.name}`, processSpec.command, processSpec.args, {
      cwd: processSpec.cwd,
      env,
      logPath: this.context.logPath(namespace, name, spec.name),
    });
    run.process = child;
    const startedAt = now();
    run.phase = { kind: "running", startedAt };
    run.startedOnce = true;
    run.ready = spec.readinessProbe === undefined;
    this.startProbes(run);
    this.context.log(
      `${this.key}/${spec.name}: started pid ${child.child.pid} (${processSpec.command} ${processSpec.args.join(" ")}) on ${this.podIP}`,
    );
    this.markDirty();
    void child.exit.then(({ code, signal }) => this.onExit(run, child, startedAt, code, signal));
  }

  private startProbes(run: ContainerRun): void {
    const podIP = this.podIP ?? "";
    const { readinessProbe, livenessProbe } = run.spec;
    if (readinessProbe !== undefined) {
      const check = probeCheck(readinessProbe, run.spec, podIP);
      if (typeof check === "string") {
        run.phase = {
          kind: "running",
          startedAt: run.phase.kind === "running" ? run.phase.startedAt : now(),
        };
        this.context.log(`${this.key}/${run.spec.name}: readiness probe: ${check}`);
      } else {
        const loop = new ProbeLoop(readinessProbe, check, (passing) => {
          run.ready = passing;
          // Tests time cold starts from these lines (process started → readiness probe passed).
          this.context.log(`${this.key}/${run.spec.name}: readiness probe ${passing ? "passed" : "failed"}`);
          this.markDirty();
        });
        run.probes.push(loop);
        loop.start();
      }
    }
    if (livenessProbe !== undefined) {
      const check = probeCheck(livenessProbe, run.spec, podIP);
      if (typeof check !== "string") {
        const loop = new ProbeLoop(livenessProbe, check, (passing) => {
          if (passing || run.process === undefined) return;
          this.context.log(`${this.key}/${run.spec.name}: liveness probe failed, restarting`);
          void run.process.stop((this.gracePeriodSeconds() ?? 30) * 1000);
        });
        run.probes.push(loop);
        loop.start();
      }
    }
  }

  private onExit(
    run: ContainerRun,
    child: HarnessProcess,
    startedAt: string,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    for (const probe of run.probes) probe.stop();
    // A container's processes end with it, as in its own PID namespace: a child in another process
    // group (a watchdog's user server) would outlive a watchdog killed with SIGKILL.
    killTagged(`${this.key}/${run.spec.name}/${run.restartCount}`);
    run.probes = [];
    run.process = undefined;
    run.ready = false;
    const spawnError = child.spawnError();
    const exitCode = code ?? (signal === null ? 128 : 128 + signalNumber(signal));
    const terminated: ContainerPhase = {
      kind: "terminated",
      exitCode,
      ...(signal === null ? {} : { signal }),
      reason: spawnError !== undefined ? "StartError" : exitCode === 0 ? "Completed" : "Error",
      ...(spawnError === undefined ? {} : { message: spawnError.message }),
      startedAt,
      finishedAt: now(),
    };
    run.phase = terminated;
    this.context.log(
      `${this.key}/${run.spec.name}: exited (${spawnError?.message ?? `code ${code}, signal ${signal}`})`,
    );
    const policy = this.pod.spec?.restartPolicy ?? "Always";
    const restart =
      this.terminating === undefined && (policy === "Always" || (policy === "OnFailure" && exitCode !== 0));
    if (restart) {
      if (Date.parse(terminated.finishedAt) - Date.parse(startedAt) >= STABLE_RUN_MS)
        run.backoffMs = this.context.restartBackoffMs;
      const delayMs = run.backoffMs;
      run.backoffMs = Math.min(run.backoffMs * 2, this.context.restartBackoffMs * 32);
      run.lastTerminated = terminated;
      run.phase = {
        kind: "waiting",
        reason: "CrashLoopBackOff",
        message: `back-off ${delayMs}ms restarting failed container ${run.spec.name}`,
      };
      run.restartTimer = setTimeout(() => {
        run.restartTimer = undefined;
        run.restartCount++;
        this.startContainer(run);
      }, delayMs);
    }
    this.markDirty();
  }

  private gracePeriodSeconds(): number | undefined {
    return this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds;
  }

  /**
   * Graceful deletion: readiness off (reported), each container's preStop sleep (the only preStop
   * action supported; it counts against the grace period, as in the kubelet), SIGTERM, SIGKILL
   * after what is left of the grace period, address released, then the pod object deleted with
   * grace 0.
   */
  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      await this.starting?.catch(() => undefined);
      const graceMs = (this.gracePeriodSeconds() ?? 30) * 1000;
      this.context.log(`${this.key}: terminating (grace ${graceMs / 1000}s)`);
      this.stopTimers();
      for (const run of this.containers) run.ready = false;
      this.markDirty();
      const deadlineMs = Date.now() + graceMs;
      await Promise.all(
        this.containers.map(async (run) => {
          const sleepMs = Math.min(graceMs, (run.spec.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000);
          if (sleepMs > 0 && run.process !== undefined) {
            this.context.log(`${this.key}/${run.spec.name}: preStop sleep ${sleepMs / 1000}s`);
            await new Promise((resolve) => setTimeout(resolve, sleepMs));
          }
          await run.process?.stop(Math.max(0, deadlineMs - Date.now()));
        }),
      );
      await this.release();
      const { name = "", namespace = "default", uid } = this.pod.metadata ?? {};
      try {
        await this.context.core.deleteNamespacedPod({
          name,
          namespace,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid } },
        });
      } catch (error) {
        if (!isStatus(error, 404) && !isStatus(error, 409)) this.fail(error);
      }
      this.context.log(`${this.key}: deleted`);
    })();
    return this.terminating;
  }

  /** The pod object is gone (force deletion, or our own delete): kill at once, release the address. */
  async forget(): Promise<void> {
    this.finished = true;
    await this.starting?.catch(() => undefined);
    this.stopTimers();
    await Promise.all(this.containers.map((run) => run.process?.stop(0) ?? Promise.resolve()));
    await this.release();
  }

  private stopTimers(): void {
    clearTimeout(this.configTimer);
    for (const run of this.containers) {
      clearTimeout(run.restartTimer);
      for (const probe of run.probes) probe.stop();
    }
  }

  private async release(): Promise<void> {
    if (this.podIP !== undefined) {
      const ip = this.podIP;
      this.podIP = undefined;
      await this.context.addresses.release(ip);
    }
    rmSync(this.podDir, { recursive: true, force: true });
  }

  /** Status writes are coalesced: one in flight, the latest state written after it. */
  private markDirty(): void {
    this.dirty = true;
    if (this.writing) return;
    this.writing = true;
    void (async () => {
      while (this.dirty && !this.finished) {
        this.dirty = false;
        await this.writeStatus().catch((error: unknown) => {
          if (isStatus(error, 404)) this.finished = true;
          else this.fail(error);
        });
      }
      this.writing = false;
    })();
  }

  private async writeStatus(): Promise<void> {
    const status = this.status();
    const text = JSON.stringify(status);
    if (text === this.lastWritten) return;
    const { name = "", namespace = "default" } = this.pod.metadata ?? {};
    await this.context.core.patchNamespacedPodStatus(
      { name, namespace, body: { status } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    this.lastWritten = text;
  }

  /** The pod status as the kubelet reports it; condition transition times kept while unchanged. */
  private status(): Record<string, unknown> {
    const containersReady = this.containers.every((run) => run.ready && run.phase.kind === "running");
    const allTerminated = this.containers.every((run) => run.phase.kind === "terminated");
    const phase = allTerminated
      ? this.containers.every((run) => run.phase.kind === "terminated" && run.phase.exitCode === 0)
        ? "Succeeded"
        : "Failed"
      : this.containers.every((run) => run.startedOnce)
        ? "Running"
        : "Pending";
    const condition = (type: string, ok: boolean, reason?: string): Record<string, string> => {
      const status = ok ? "True" : "False";
      const before = this.transitions.get(type);
      const lastTransitionTime = before?.status === status ? before.time : now();
      this.transitions.set(type, { status, time: lastTransitionTime });
      return { type, status, lastTransitionTime, ...(ok || reason === undefined ? {} : { reason }) };
    };
    const ips = this.podIP === undefined ? {} : { podIP: this.podIP, podIPs: [{ ip: this.podIP }] };
    return {
      phase,
      hostIP: this.context.nodeIP,
      hostIPs: [{ ip: this.context.nodeIP }],
      ...ips,
      startTime: this.startTime,
      conditions: [
        condition("PodReadyToStartContainers", this.podIP !== undefined),
        condition("Initialized", true),
        condition("Ready", containersReady, "ContainersNotReady"),
        condition("ContainersReady", containersReady, "ContainersNotReady"),
        condition("PodScheduled", true),
      ],
      containerStatuses: this.containers.map((run) => this.containerStatus(run)),
    };
  }

  private containerStatus(run: ContainerRun): V1ContainerStatus {
    return {
      name: run.spec.name,
      image: run.spec.image ?? "",
      imageID: `process://${run.spec.image ?? ""}`,
      ...(run.process?.child.pid === undefined ? {} : { containerID: `process://${run.process.child.pid}` }),
      ready: run.ready && run.phase.kind === "running",
      started: run.phase.kind === "running",
      restartCount: run.restartCount,
      state: containerState(run.phase),
      ...(run.lastTerminated === undefined ? {} : { lastState: containerState(run.lastTerminated) }),
    };
  }
}

function containerState(phase: ContainerPhase): V1ContainerState {
  switch (phase.kind) {
    case "waiting":
      return {
        waiting: { reason: phase.reason, ...(phase.message === undefined ? {} : { message: phase.message }) },
      };
    case "running":
      return { running: { startedAt: phase.startedAt as never } };
    case "terminated":
      return {
        terminated: {
          exitCode: phase.exitCode,
          reason: phase.reason,
          ...(phase.message === undefined ? {} : { message: phase.message }),
          startedAt: phase.startedAt as never,
          finishedAt: phase.finishedAt as never,
        },
      };
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return (
    { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 }[
      signal as string
    ] ?? 0
  );
}

/** True when `error` is an API error with HTTP status `code` (client-node's ApiException). */
export function isStatus(error: unknown, code: number): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

/** The environment variable that marks every process of one run of one container. */
const CONTAINER_TAG = "FLINT_E2E_CONTAINER";

/** SIGKILLs every process whose environment carries `tag` (read from /proc; the harness runs as root). */
function killTagged(tag: string): void {
  const needle = Buffer.from(`${CONTAINER_TAG}=${tag}\0`);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`).includes(needle)) process.kill(Number(entry), "SIGKILL");
    } catch {
      // gone already, or not ours to read
    }
  }
}

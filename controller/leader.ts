// Leader election on a coordination.k8s.io Lease, as client-go does it: take the lease when it is free
// or its holder stopped renewing, renew it every retry period, step down when renewal fails for the
// renew deadline. Expiry is judged by when this process last saw the record change (its own clock),
// never by comparing another machine's timestamps with ours.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Clock } from "../platform/ports.js";
import type { LeaderElectionConfig } from "./config.js";
import { isStatus } from "./controller.js";

/** The Lease reads and writes the elector makes; Kubernetes in production, memory in unit tests. */
export interface LeaseClient {
  /** The lease, or undefined when there is none. */
  get(): Promise<V1Lease | undefined>;
  /** Rejects when it already exists. */
  create(lease: V1Lease): Promise<V1Lease>;
  /** Rejects when `lease.metadata.resourceVersion` is stale. */
  replace(lease: V1Lease): Promise<V1Lease>;
}

export interface LeaderCallbacks {
  /** This process now holds the lease. */
  onStartedLeading(): void;
  /** It lost or gave up the lease: stop leader-only work at once. */
  onStoppedLeading(): void;
}

export class LeaderElector {
  leader = false;
  private observed: { holder: string; renewTime: string } | undefined;
  private observedAtMs = 0;
  private lastRenewMs = 0;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly client: LeaseClient,
    private readonly config: LeaderElectionConfig,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly callbacks: LeaderCallbacks,
  ) {}

  start(): void {
    this.stopped = false;
    void this.round();
  }

  /** Stops campaigning; a leader releases the lease so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    if (!this.leader) return;
    this.stepDown("stopping");
    try {
      const lease = await this.client.get();
      if (lease?.spec?.holderIdentity === this.config.identity) {
        await this.client.replace({
          ...lease,
          spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 },
        });
      }
    } catch (error) {
      this.logger.warn({ err: errorText(error) }, "could not release the lease; it will expire");
    }
  }

  /** One attempt to take or renew, then the next one after the retry period. */
  private async round(): Promise<void> {
    if (this.stopped) return;
    let held = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (error) {
      this.logger.debug({ err: errorText(error) }, "lease round failed");
    }
    const nowMs = this.clock.now();
    if (held) {
      this.lastRenewMs = nowMs;
      if (!this.leader) {
        this.leader = true;
        this.logger.info({ identity: this.config.identity, lease: this.config.leaseName }, "became leader");
        this.callbacks.onStartedLeading();
      }
    } else if (this.leader && nowMs - this.lastRenewMs >= this.config.renewDeadlineMs) {
      this.stepDown("could not renew the lease within the renew deadline");
    }
    if (!this.stopped)
      this.cancelTimer = this.clock.setTimer(() => void this.round(), this.config.retryPeriodMs);
  }

  private stepDown(why: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.logger.warn({ identity: this.config.identity, why }, "stopped leading");
    this.callbacks.onStoppedLeading();
  }

  /** True when this process holds the lease after the attempt. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationMs, leaseName, leaseNamespace } = this.config;
    const nowMs = this.clock.now();
    const now = new V1MicroTime(nowMs);
    const durationSeconds = Math.max(1, Math.round(leaseDurationMs / 1000));
    const lease = await this.client.get();
    if (lease === undefined) {
      await this.client.create({
        metadata: { name: leaseName, namespace: leaseNamespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const record = { holder, renewTime: String(spec.renewTime?.valueOf() ?? "") };
    if (this.observed?.holder !== record.holder || this.observed.renewTime !== record.renewTime) {
      this.observed = record;
      this.observedAtMs = nowMs;
    }
    const heldByUs = holder === identity;
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const expired = holder === "" || nowMs - this.observedAtMs > leaseMs;
    if (!heldByUs && !expired) return false;
    await this.client.replace({
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        ...(heldByUs ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    });
    return true;
  }
}

/** The Lease through the Kubernetes API (get/create/update on one named Lease: the chart's RBAC). */
export function kubernetesLeaseClient(kubeConfig: KubeConfig, config: LeaderElectionConfig): LeaseClient {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  const name = config.leaseName;
  const namespace = config.leaseNamespace;
  return {
    get: () =>
      api.readNamespacedLease({ name, namespace }).catch((error: unknown) => {
        if (isStatus(error, 404)) return undefined;
        throw error;
      }),
    create: (body) => api.createNamespacedLease({ namespace, body }),
    replace: (body) => api.replaceNamespacedLease({ name, namespace, body }),
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

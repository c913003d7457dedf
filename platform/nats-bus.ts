// The bus between gateways and the autoscaler on core NATS: gateways publish concurrency samples,
// activation pokes and manual scale requests; the autoscaler's loop subscribes to them.
import { connect, type NatsConnection, type Subscription } from "nats";
import type { Logger } from "pino";
import { isValidFunctionName, type FunctionRef } from "../api/index.js";
import type { Bus, ConcurrencySample, ScaleRequest, ScaleTarget } from "./ports.js";

/** The subjects, one per message kind. Payloads are JSON (see docs/gateway-kubernetes.md). */
export const BUS_SUBJECTS = Object.freeze({
  /** A ConcurrencySample. */
  concurrency: "flint.stats.concurrency",
  /** A FunctionRef: `{ "namespace": "team", "name": "hello" }`. */
  activate: "flint.scale.activate",
  /** A FunctionRef and the replicas asked for: `{ "namespace", "name", "replicas" }`. */
  scale: "flint.scale.set",
});

/** Longest `source` (a gateway's pod name) a sample may carry: a DNS-1123 subdomain. */
const MAX_SOURCE_LENGTH = 253;
/** Most replicas a scale request may ask for; more is a malformed message, not a plan. */
const MAX_REPLICAS = 100_000;
/** A malformed message is logged as a warning once per this many, so a bad publisher cannot flood logs. */
const MALFORMED_LOG_EVERY = 1000;

export interface NatsBusOptions {
  readonly logger: Logger;
  /** Names this client in the server's connection list (the gateway's instance id). */
  readonly name: string;
  /**
   * Scale messages (activations, manual scale) kept for sending while NATS is unreachable; more are
   * dropped. Concurrency samples are never kept: a stale sample would mislead the autoscaler.
   * Default 1000.
   */
  readonly maxPendingWhileDisconnected?: number;
}

/** What the bus has done, for tests and logs. */
export interface BusCounts {
  /** Messages handed to the NATS client. */
  readonly published: number;
  /** Messages not sent: NATS unreachable (samples), the pending limit reached, or the client closed. */
  readonly dropped: number;
  /** Received messages that were not valid JSON of the subject's shape. */
  readonly malformed: number;
}

/**
 * Connects to NATS (`url`: one or more comma-separated servers) and returns the bus. Rejects when
 * no server answers now; once connected it reconnects for ever.
 */
export async function connectNatsBus(url: string, options: NatsBusOptions): Promise<NatsBus> {
  const nc = await connect({
    servers: url.split(",").map((server) => server.trim()),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  });
  return new NatsBus(nc, options);
}

/**
 * Bus and ScaleTarget on core NATS (no JetStream: a lost sample costs a second of precision, and a
 * lost poke delays a cold start to the autoscaler's next tick, where samples show the waiting calls). Publishing is fire and forget and
 * never throws into the call path. The subscriber side (`onConcurrency`, `onScaleRequest`) has the
 * same shape as MemoryBus's, for the autoscaler loop.
 */
export class NatsBus implements Bus, ScaleTarget {
  private readonly logger: Logger;
  private readonly maxPending: number;
  private connected = true;
  private pendingWhileDisconnected = 0;
  private published = 0;
  private dropped = 0;
  private malformed = 0;
  private readonly subscriptions = new Set<Subscription>();

  constructor(
    /** The connection; the bus closes it in `close()`. */
    readonly nc: NatsConnection,
    options: NatsBusOptions,
  ) {
    this.logger = options.logger.child({ component: "bus" });
    this.maxPending = options.maxPendingWhileDisconnected ?? 1000;
    void this.followStatus();
  }

  publishConcurrency(sample: ConcurrencySample): void {
    if (!this.connected) {
      this.dropped += 1;
      return;
    }
    this.publish(BUS_SUBJECTS.concurrency, sample);
  }

  activate(ref: FunctionRef): Promise<void> {
    this.publishScale(BUS_SUBJECTS.activate, { namespace: ref.namespace, name: ref.name });
    return Promise.resolve();
  }

  scale(ref: FunctionRef, replicas: number): Promise<void> {
    this.publishScale(BUS_SUBJECTS.scale, { namespace: ref.namespace, name: ref.name, replicas });
    return Promise.resolve();
  }

  /** Receives every valid concurrency sample from every gateway; the returned function stops it. */
  onConcurrency(listener: (sample: ConcurrencySample) => void): () => void {
    return this.subscribe(BUS_SUBJECTS.concurrency, (data) => {
      const sample = decodeConcurrencySample(data);
      if (sample !== undefined) listener(sample);
      return sample !== undefined;
    });
  }

  /** Receives every valid activation poke and manual scale request; the returned function stops it. */
  onScaleRequest(listener: (request: ScaleRequest) => void): () => void {
    const stops = [BUS_SUBJECTS.activate, BUS_SUBJECTS.scale].map((subject) =>
      this.subscribe(subject, (data) => {
        const request = decodeScaleRequest(subject, data);
        if (request !== undefined) listener(request);
        return request !== undefined;
      }),
    );
    return () => stops.forEach((stop) => stop());
  }

  counts(): BusCounts {
    return { published: this.published, dropped: this.dropped, malformed: this.malformed };
  }

  /** Sends what is buffered (for up to `timeoutMs`) and closes the connection. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.nc.isClosed()) return;
    if (this.connected) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([this.nc.flush().catch(() => undefined), deadline]);
      clearTimeout(timer);
    }
    await this.nc.close();
  }

  private publishScale(subject: string, message: object): void {
    if (!this.connected) {
      if (this.pendingWhileDisconnected >= this.maxPending) {
        this.dropped += 1;
        return;
      }
      this.pendingWhileDisconnected += 1;
    }
    this.publish(subject, message);
  }

  private publish(subject: string, message: object): void {
    try {
      this.nc.publish(subject, JSON.stringify(message));
      this.published += 1;
    } catch (error) {
      this.dropped += 1;
      this.logger.warn({ err: error, subject }, "cannot publish to NATS; dropped");
    }
  }

  /** Subscribes `accept` (which says whether the message was valid) to `subject`. */
  private subscribe(subject: string, accept: (data: unknown) => boolean): () => void {
    const subscription = this.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error !== null) {
          this.logger.warn({ err: error, subject }, "NATS subscription error");
          return;
        }
        let data: unknown;
        try {
          data = JSON.parse(new TextDecoder().decode(msg.data));
        } catch {
          data = undefined;
        }
        let valid = false;
        try {
          valid = accept(data);
        } catch (listenerError) {
          this.logger.error({ err: listenerError, subject }, "bus listener threw");
          return;
        }
        if (valid) return;
        this.malformed += 1;
        if (this.malformed % MALFORMED_LOG_EVERY === 1) {
          this.logger.warn(
            { subject, malformed: this.malformed, bytes: msg.data.byteLength },
            "malformed message dropped",
          );
        }
      },
    });
    this.subscriptions.add(subscription);
    return () => {
      this.subscriptions.delete(subscription);
      if (!this.nc.isClosed()) subscription.unsubscribe();
    };
  }

  private async followStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      const type = String(status.type);
      if (type === "disconnect") {
        this.connected = false;
        this.logger.warn({ server: status.data }, "NATS disconnected; samples are dropped until it is back");
      } else if (type === "reconnect") {
        this.connected = true;
        this.pendingWhileDisconnected = 0;
        this.logger.info({ server: status.data }, "NATS reconnected");
      }
    }
    this.connected = false;
  }
}

/** A ConcurrencySample from parsed JSON, with only its own fields; undefined when any is wrong. */
export function decodeConcurrencySample(data: unknown): ConcurrencySample | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const value = data as Record<string, unknown>;
  const fn = value["function"];
  const source = value["source"];
  if (typeof fn !== "string" || !isFunctionKey(fn)) return undefined;
  if (typeof source !== "string" || source.length === 0 || source.length > MAX_SOURCE_LENGTH)
    return undefined;
  const positive = (key: string): number | undefined => {
    const n = value[key];
    return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const atLeastZero = (key: string): number | undefined => {
    const n = value[key];
    return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const count = (key: string): number | undefined => {
    const n = value[key];
    return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  };
  const sample = {
    function: fn,
    source,
    timestampMs: positive("timestampMs"),
    windowMs: positive("windowMs"),
    averageConcurrency: atLeastZero("averageConcurrency"),
    averageQueued: atLeastZero("averageQueued"),
    peakConcurrency: atLeastZero("peakConcurrency"),
    requests: count("requests"),
    readyReplicas: count("readyReplicas"),
    asyncQueued: count("asyncQueued"),
  };
  return Object.values(sample).every((field) => field !== undefined)
    ? (sample as ConcurrencySample)
    : undefined;
}

/** A ScaleRequest from a message on `subject`; undefined when it is not the subject's shape. */
export function decodeScaleRequest(subject: string, data: unknown): ScaleRequest | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const value = data as Record<string, unknown>;
  const { name, namespace, replicas } = value;
  if (typeof name !== "string" || !isValidFunctionName(name)) return undefined;
  if (typeof namespace !== "string" || !isValidFunctionName(namespace)) return undefined;
  const ref = { namespace, name };
  if (subject === BUS_SUBJECTS.activate) return { type: "activate", ref };
  if (subject !== BUS_SUBJECTS.scale) return undefined;
  if (
    typeof replicas !== "number" ||
    !Number.isSafeInteger(replicas) ||
    replicas < 0 ||
    replicas > MAX_REPLICAS
  ) {
    return undefined;
  }
  return { type: "scale", ref, replicas };
}

function isFunctionKey(text: string): boolean {
  const slash = text.indexOf("/");
  return slash > 0 && isValidFunctionName(text.slice(0, slash)) && isValidFunctionName(text.slice(slash + 1));
}

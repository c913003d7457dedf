// Assembles a gateway from its ports and config: the node:http server, the /function/ hot path, the
// Express management app, one ReplicaPool per known function, metrics and concurrency stats.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pino, type Logger } from "pino";
import { functionKey, type FunctionRef, type FunctionResource } from "../api/index.js";
import { isWebSocketUpgrade, serveWithoutUpgrade } from "../api/upgrade.js";
import { Credentials } from "./auth.js";
import { systemClock } from "../platform/clock.js";
import type { GatewayConfig } from "./config.js";
import {
  QueueBudget,
  ReplicaPool,
  callSettings,
  type CallSettings,
  type PoolLimits,
  type PoolSnapshot,
} from "./replica-pool.js";
import {
  AsyncDisabledError,
  BadRequestError,
  HeadersTooLargeError,
  MethodNotAllowedError,
  MissingHostError,
  RequestTimeoutError,
  ShuttingDownError,
  RouteNotFoundError,
  rawErrorResponse,
} from "./errors.js";
import { FunctionNotFoundError } from "../platform/errors.js";
import { createManagementApp } from "./management.js";
import { GatewayMetrics } from "./metrics.js";
import type {
  Bus,
  Clock,
  EndpointSource,
  FunctionEvent,
  FunctionRuntime,
  FunctionStore,
  ScaleTarget,
} from "../platform/ports.js";
import { ALLOWED_METHODS, CALL_PREFIX } from "./route.js";
import { readRequestHead } from "./headers.js";
import { CallHandler, writeError, type FunctionRoute } from "./proxy.js";
import { ConcurrencyReporter } from "./stats.js";
import { UpgradeHandler } from "./upgrade.js";
import { ASYNC_PREFIX, AsyncCalls, CALLS_PATH } from "./async/async-calls.js";
import { CallTokens } from "./async/call-access.js";
import type { CallQueue, CallRecords } from "./async/ports.js";

/** Connections the kernel may hold for accept(); capped by net.core.somaxconn. */
const LISTEN_BACKLOG = 4096;

/** What a gateway is built from; Kubernetes and `flint up` pass their own implementations. */
export interface GatewayDeps {
  readonly store: FunctionStore;
  readonly endpoints: EndpointSource;
  readonly scaleTarget: ScaleTarget;
  readonly bus: Bus;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default: a silent logger. */
  readonly logger?: Logger;
  /** Reported by GET /system/info, e.g. "kubernetes" or "local". Default "embedded". */
  readonly platform?: string;
  /** Reported by GET /system/info. Default "dev". */
  readonly version?: string;
  /** Replicas and logs for the management API, where the platform has them (the local platform). */
  readonly runtime?: FunctionRuntime;
  /** The platform's own readiness (its watches are healthy), ANDed into /readyz. Default: ready. */
  readonly ready?: () => boolean;
  /** The call queue and call records for /async-function/; without them async calls get 503. */
  readonly async?: { readonly queue: CallQueue; readonly records: CallRecords };
}

export function createGateway(deps: GatewayDeps, config: GatewayConfig): Gateway {
  return new Gateway(deps, config);
}

export class Gateway {
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  /** Async calls, when the gateway has a queue. */
  readonly asyncCalls: AsyncCalls | undefined;
  private readonly routes = new Map<string, FunctionRoute & { unsubscribe: () => void }>();
  private readonly budget: QueueBudget;
  private readonly limits: PoolLimits;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly calls: CallHandler;
  private readonly upgrades: UpgradeHandler;
  private readonly management: ReturnType<typeof createManagementApp>;
  private readonly reporter: ConcurrencyReporter;
  private readonly unwatch: () => void;
  private synced = false;
  private draining = false;
  private closed = false;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly config: GatewayConfig,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? pino({ level: "silent" });
    this.budget = new QueueBudget(config.queueBytes);
    this.limits = {
      queueDepth: config.queueDepth,
      activationTimeoutMs: config.activationTimeoutMs,
      retryAfterSeconds: config.retryAfterSeconds,
      probeIntervalMs: config.probeIntervalMs,
      maxSocketsPerReplica: config.maxSocketsPerReplica,
    };
    this.metrics = new GatewayMetrics(
      () => this.pools(),
      () => this.budget.usedBytes,
    );
    const credentials = new Credentials(config.auth);
    this.calls = new CallHandler({
      routes: this.routes,
      credentials,
      metrics: this.metrics,
      clock: this.clock,
      logger: this.logger,
      defaultNamespace: config.defaultNamespace,
      draining: () => this.draining,
    });
    this.upgrades = new UpgradeHandler(this.calls);
    this.asyncCalls = deps.async === undefined ? undefined : this.createAsyncCalls(deps.async, credentials);
    const startedMs = this.clock.now();
    this.management = createManagementApp({
      asyncCalls: this.asyncCalls,
      store: deps.store,
      scaleTarget: deps.scaleTarget,
      credentials,
      registry: this.metrics.registry,
      logger: this.logger,
      defaultNamespace: config.defaultNamespace,
      ready: () => this.ready(),
      runtime: deps.runtime,
      info: () => ({
        provider: "flint",
        version: deps.version ?? "dev",
        platform: deps.platform ?? "embedded",
        functions: this.routes.size,
        uptimeSeconds: Math.floor((this.clock.now() - startedMs) / 1000),
      }),
    });

    this.server = createServer({
      // Calls are bounded by the function's timeout and queue waits by FLINT_ACTIVATION_TIMEOUT;
      // Node's own 300 s request timeout would cut off long uploads those allow.
      requestTimeout: 0,
      headersTimeout: config.headersTimeoutMs,
      // Node checks header deadlines on this interval; a quarter of the deadline keeps it near exact.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(config.headersTimeoutMs / 4))),
      noDelay: true,
      // Checked per route instead, so a request without Host gets the gateway's own error body.
      requireHostHeader: false,
    });
    this.server.keepAliveTimeout = config.keepAliveTimeoutMs;
    this.server.on("request", this.onRequest);
    this.server.on("upgrade", this.onUpgrade);
    this.server.on("clientError", this.onClientError);
    this.server.on("connect", this.onConnect);

    this.reporter = new ConcurrencyReporter(this.clock, deps.bus, config.instanceId, () =>
      [...this.routes.values()].map(({ pool }) => ({
        key: pool.key,
        window: pool.window,
        readyReplicas: pool.readyReplicas,
        asyncQueued: this.asyncCalls?.queued(pool.key) ?? 0,
      })),
    );
    this.reporter.start();
    this.asyncCalls?.start();
    this.unwatch = deps.store.watch(this.onFunctionEvent);
  }

  private createAsyncCalls(
    backends: NonNullable<GatewayDeps["async"]>,
    credentials: Credentials,
  ): AsyncCalls {
    const { config } = this;
    return new AsyncCalls({
      queue: backends.queue,
      records: backends.records,
      config: {
        maxBodyBytes: config.async.maxBodyBytes,
        maxInFlight: config.async.maxInFlight,
        retryOn: config.async.retryOn,
        resultMaxBytes: config.async.resultMaxBytes,
        callbackRetry: {
          maxRetries: config.async.callbackMaxRetries,
          initialBackoffMs: 1000,
          maxBackoffMs: 60_000,
        },
        callbackTimeoutMs: config.async.callbackTimeoutMs,
        drainTimeoutMs: config.shutdownTimeoutMs,
        maxUploads: config.async.maxUploads,
        retryAfterSeconds: config.retryAfterSeconds,
      },
      activationTimeoutMs: config.activationTimeoutMs,
      credentials,
      tokens: new CallTokens(config.auth),
      clock: this.clock,
      logger: this.logger,
      registry: this.metrics.registry,
      defaultNamespace: config.defaultNamespace,
      draining: () => this.draining,
    });
  }

  /** Listens on the configured host and port (0 picks one) and resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      // A burst of new connections beyond the default backlog (511) would wait for SYN retries.
      this.server.listen({ port: this.config.port, host: this.config.host, backlog: LISTEN_BACKLOG }, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Ready for traffic: every Function has been read, the platform's watches are healthy, and shutdown has not begun. */
  ready(): boolean {
    return this.synced && !this.draining && (this.deps.ready?.() ?? true);
  }

  /** The ReplicaPool's view of one function, or undefined if it is not known. */
  snapshot(ref: FunctionRef): PoolSnapshot | undefined {
    return this.routes.get(functionKey(ref))?.pool.snapshot();
  }

  /**
   * First step of shutdown: /readyz fails and responses close their connections, while the listener
   * stays open until load balancers have noticed.
   */
  failReadiness(): void {
    this.draining = true;
  }

  /**
   * Fails readiness, stops accepting connections and waits up to `deadlineMs` for every admitted
   * call (queued or in flight) to finish. Resolves true if they all did.
   */
  async drain(deadlineMs: number): Promise<boolean> {
    this.draining = true;
    if (this.server.listening) this.server.close();
    this.server.closeIdleConnections();
    const endMs = this.clock.now() + deadlineMs;
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.activeCalls() === 0) return resolve(true);
        if (this.clock.now() >= endMs) return resolve(false);
        this.clock.setTimer(check, Math.min(25, endMs - this.clock.now()));
      };
      check();
    });
  }

  /** Stops everything: waiting calls get 503, connections close, timers and watches stop. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    this.unwatch();
    await this.asyncCalls?.close();
    this.reporter.flush();
    this.reporter.stop();
    for (const route of this.routes.values()) {
      route.unsubscribe();
      route.pool.close(new ShuttingDownError());
    }
    this.routes.clear();
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
    this.server.closeAllConnections();
    this.upgrades.closeAll();
    await closed;
  }

  private activeCalls(): number {
    let active = 0;
    for (const { pool } of this.routes.values()) active += pool.active;
    return active;
  }

  private *pools(): Iterable<ReplicaPool> {
    for (const route of this.routes.values()) yield route.pool;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "/";
    if (req.method === "TRACE") {
      // A function that reflected the request would echo the caller's cookies and credentials back.
      const head = readRequestHead(req.rawHeaders);
      const error = new MethodNotAllowedError(req.method, ALLOWED_METHODS);
      return writeError(req, res, head, error, head.callId ?? "none", true);
    }
    if (url.startsWith(CALL_PREFIX)) return this.calls.handle(req, res);
    if (url.startsWith(ASYNC_PREFIX) && !(req.method === "GET" && url.startsWith(CALLS_PATH))) {
      if (this.asyncCalls !== undefined) return this.asyncCalls.submit(req, res);
      const head = readRequestHead(req.rawHeaders);
      return writeError(req, res, head, new AsyncDisabledError(), head.callId ?? "none", this.draining);
    }
    if (req.headers.host === undefined && req.httpVersionMinor === 1) {
      return writeError(req, res, readRequestHead(req.rawHeaders), new MissingHostError(), "none", true);
    }
    void this.management(req, res);
  };

  /**
   * Upgrade requests: a WebSocket to a function is tunnelled to it; any other upgrade (h2c) is
   * answered as the plain request it also is.
   */
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, early: Buffer): void => {
    socket.on("error", () => socket.destroy());
    const url = req.url ?? "/";
    if (isWebSocketUpgrade(req)) {
      if (url.startsWith(CALL_PREFIX)) return this.upgrades.handle(req, socket, early);
      socket.end(rawErrorResponse(new RouteNotFoundError(req.method ?? "GET", url), "none"));
      return;
    }
    if (readRequestHead(req.rawHeaders).hasBody) {
      const error = new BadRequestError(
        "an Upgrade request with a body is not supported; send it without Upgrade",
      );
      socket.end(rawErrorResponse(error, "none"));
      return;
    }
    serveWithoutUpgrade(req, socket, this.onRequest);
  };

  /** CONNECT (node:http hands it over as a raw socket): the gateway opens no tunnels. */
  private readonly onConnect = (req: IncomingMessage, socket: Duplex): void => {
    socket.on("error", () => socket.destroy());
    const error = new MethodNotAllowedError(req.method ?? "CONNECT", ALLOWED_METHODS);
    socket.end(rawErrorResponse(error, readRequestHead(req.rawHeaders).callId ?? "none"));
  };

  /** Requests Node could not parse: answer with the gateway's own error body, then close. */
  private readonly onClientError = (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    if (error.code === "HPE_CLOSED_CONNECTION") {
      // Bytes after a request that said `Connection: close`: that request is answered (its response
      // may still be on its way) and the connection then closes; the rest is ignored (RFC 9112 §9.6).
      return;
    }
    const mapped =
      error.code === "HPE_HEADER_OVERFLOW"
        ? new HeadersTooLargeError()
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? new RequestTimeoutError()
          : new BadRequestError("the request is not valid HTTP/1.1", [], { cause: error });
    socket.end(rawErrorResponse(mapped, "none"));
    this.logger.debug({ code: error.code, mapped: mapped.code }, "malformed request");
  };

  private readonly onFunctionEvent = (event: FunctionEvent): void => {
    switch (event.type) {
      case "put":
        this.putFunction(event.function);
        return;
      case "delete":
        this.deleteFunction(event.ref);
        return;
      case "synced":
        this.synced = true;
        this.logger.info({ functions: this.routes.size }, "functions synced");
        return;
    }
  };

  private putFunction(fn: FunctionResource): void {
    const key = functionKey(fn.metadata);
    let settings: CallSettings;
    try {
      settings = callSettings(fn);
    } catch (error) {
      this.logger.error({ function: key, err: error }, "function has an unusable spec; ignoring it");
      return;
    }
    const existing = this.routes.get(key);
    if (existing !== undefined) {
      existing.pool.configure(settings);
      this.asyncCalls?.putFunction(fn, existing);
      return;
    }
    const ref = { name: fn.metadata.name, namespace: fn.metadata.namespace };
    const pool = new ReplicaPool({
      ref,
      settings,
      limits: this.limits,
      budget: this.budget,
      clock: this.clock,
      scaleTarget: this.deps.scaleTarget,
      logger: this.logger.child({ function: key }),
      onActivation: (activated) => this.metrics.activations.labels(activated.key).inc(),
    });
    const route = { pool, metrics: this.metrics.forFunction(key), unsubscribe: (): void => undefined };
    this.routes.set(key, route);
    route.unsubscribe = this.deps.endpoints.subscribe(ref, (endpoints) => pool.update(endpoints));
    this.asyncCalls?.putFunction(fn, route);
  }

  private deleteFunction(ref: FunctionRef): void {
    const key = functionKey(ref);
    const route = this.routes.get(key);
    if (route === undefined) return;
    this.routes.delete(key);
    this.asyncCalls?.deleteFunction(ref);
    route.unsubscribe();
    route.pool.close(new FunctionNotFoundError(key));
    route.metrics.forget();
  }
}

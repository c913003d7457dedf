// The controller process: read config, connect to the API server, NATS and Redis, reconcile Functions,
// run the autoscaler while holding the lease, and on SIGTERM release it and stop.
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Counter, Registry, collectDefaultMetrics } from "prom-client";
import { policyByName } from "../autoscaler/index.js";
import { systemClock } from "../platform/clock.js";
import { ConfigError } from "../platform/errors.js";
import { connectNatsBus } from "../platform/nats-bus.js";
import { ClusterAutoscaler, RedisPolicyStateStore } from "./autoscaler.js";
import { loadConfig } from "./config.js";
import { FunctionController } from "./controller.js";
import { startHealthServer } from "./health.js";
import { LeaderElector, kubernetesLeaseClient } from "./leader.js";

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`flint controller: invalid configuration: ${error.message}\n`);
  process.exit(1);
}
const logger = pino({ level: config.logLevel });
const registry = new Registry();
collectDefaultMetrics({ register: registry });
const scaleWrites = new Counter({
  name: "flint_autoscaler_scale_writes_total",
  help: "Replica counts the autoscaler wrote, by reason (tick, activation, manual).",
  labelNames: ["reason"],
  registers: [registry],
});

// KUBECONFIG when set (the e2e process kubelet), else the pod's service account.
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
// NATS not answering yet (its pod still starting) ends the process with one line, not a stack
// trace: the kubelet restarts it with a back-off until NATS is up.
const bus = await connectNatsBus(config.natsUrl, { logger, name: config.leaderElection.identity }).catch(
  (error: unknown) => {
    logger.fatal({ err: error, nats: config.natsUrl }, "cannot connect to NATS for the autoscaler's signals");
    return process.exit(1);
  },
);
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
redis.on("error", (error: Error) => logger.warn({ err: error.message }, "Redis unavailable"));

// The autoscaler reads the controller's Deployment cache; the controller tells it of Functions.
const autoscaler: ClusterAutoscaler = new ClusterAutoscaler({
  policy: policyByName("flint"),
  signals: bus,
  store: new RedisPolicyStateStore(redis),
  deployments: { get: (namespace, name) => controller.deployments.get(namespace, name) },
  scale: (namespace, name, replicas) => controller.writer.scaleDeployment(namespace, name, replicas),
  config,
  clock: systemClock,
  logger: logger.child({ component: "autoscaler" }),
  onScale: (event) => {
    scaleWrites.labels(event.reason).inc();
    logger.info(event, "scaled");
  },
});
const controller: FunctionController = new FunctionController({
  kubeConfig,
  config,
  clock: systemClock,
  logger,
  onFunction: (event, fn) => autoscaler.onFunction(event, fn),
});
const elector = new LeaderElector(
  kubernetesLeaseClient(kubeConfig, config.leaderElection),
  config.leaderElection,
  systemClock,
  logger.child({ component: "leader" }),
  {
    onStartedLeading: () => void autoscaler.start(),
    onStoppedLeading: () => void autoscaler.stop(),
  },
);

const health = await startHealthServer({
  host: config.host,
  port: config.port,
  ready: () => controller.healthy(),
  registry,
});
await controller.start();
elector.start();
logger.info(
  { port: health.address.port, namespaces: config.namespaces, identity: config.leaderElection.identity },
  "controller started",
);

let stopping = false;
const shutdown = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  const stop = async (): Promise<void> => {
    await elector.stop();
    await autoscaler.stop();
    await controller.stop();
    await bus.close();
    redis.disconnect();
    health.server.close();
  };
  stop().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    },
  );
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

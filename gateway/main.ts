// The gateway process: read config, open the platform's ports (Kubernetes or in memory), listen,
// and on SIGTERM fail readiness, drain and exit.
import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { openAsyncBackends, type AsyncBackends } from "./async/connect.js";
import { systemClock } from "../platform/clock.js";
import { loadConfig, type GatewayConfig } from "./config.js";
import { ConfigError } from "../platform/errors.js";
import { MemoryFunctionStore } from "../platform/function-store.js";
import { createGateway } from "./gateway.js";
import {
  loadKubernetesConfig,
  platformOf,
  type KubernetesGatewayConfig,
} from "../platform/kubernetes/config.js";
import { openKubernetesPlatform, type PlatformPorts } from "../platform/kubernetes/platform.js";
import { MemoryBus, MemoryEndpointSource } from "../platform/memory.js";

let config: GatewayConfig;
let kubernetes: KubernetesGatewayConfig | undefined;
try {
  config = loadConfig(process.env);
  kubernetes = platformOf(process.env) === "kubernetes" ? loadKubernetesConfig(process.env) : undefined;
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`flint gateway: invalid configuration: ${error.message}\n`);
  process.exit(1);
}

const destination = pino.destination({ dest: 1, sync: false });
const logger = pino({ level: config.logLevel }, destination);
const exit = (code: number): never => {
  destination.flushSync();
  process.exit(code);
};
const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const backends: AsyncBackends = await openAsyncBackends(config.async, {
  clock: systemClock,
  logger,
  name: config.instanceId,
}).catch((error: unknown) => {
  logger.fatal({ err: error }, "cannot open the async call queue or records");
  return exit(1);
});
if (backends.kind.queue === "memory") logger.warn("NATS_URL is not set: async calls are kept in memory only");

let ports: PlatformPorts;
if (kubernetes === undefined) {
  const bus = new MemoryBus();
  ports = {
    ...{ store: new MemoryFunctionStore(), endpoints: new MemoryEndpointSource(), scaleTarget: bus, bus },
    ...{ platform: "embedded", ready: () => true, close: () => Promise.resolve() },
  };
} else {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  ports = await openKubernetesPlatform({
    kubeConfig,
    config: kubernetes,
    logger,
    name: config.instanceId,
  }).catch((error: unknown) => {
    logger.fatal({ err: error, nats: kubernetes.natsUrl }, "cannot connect to NATS for the autoscaler bus");
    return exit(1);
  });
  logger.info(
    { namespaces: kubernetes.namespaces, server: kubeConfig.getCurrentCluster()?.server },
    "on Kubernetes",
  );
}

const gateway = createGateway(
  {
    ...{ store: ports.store, endpoints: ports.endpoints, scaleTarget: ports.scaleTarget, bus: ports.bus },
    ...{ platform: ports.platform, logger, version, async: backends, ready: () => ports.ready() },
  },
  config,
);

let stopping = false;
const shutdown = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, delayMs: config.shutdownDelayMs }, "shutting down: readiness fails first");
  const stop = async (): Promise<void> => {
    gateway.failReadiness();
    await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
    const drained = await gateway.drain(config.shutdownTimeoutMs);
    if (!drained) logger.warn("calls still running at the shutdown deadline; cutting them off");
    await gateway.close();
    await ports.close();
  };
  stop().then(
    () => exit(0),
    (error: unknown) => {
      logger.error({ err: error }, "shutdown failed");
      exit(1);
    },
  );
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

const address = await gateway.listen();
logger.info({ host: address.address, port: address.port }, "listening");

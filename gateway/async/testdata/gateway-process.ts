// Test fixture (built to dist/): a gateway process with one static function and one static replica,
// real async backends from NATS_URL / REDIS_URL, so tests can kill -9 a consuming gateway.
// FLINT_TEST_FUNCTION: the Function as JSON; FLINT_TEST_REPLICA: "host:port" of its one replica, or
// empty for none yet (a line "replica host:port" on stdin adds it later, for the async benchmark).
import { createInterface } from "node:readline";
import { pino } from "pino";
import { validateFunction } from "../../../api/index.js";
import { systemClock } from "../../clock.js";
import { loadConfig } from "../../config.js";
import { MemoryFunctionStore } from "../../function-store.js";
import { createGateway } from "../../gateway.js";
import { MemoryBus, MemoryEndpointSource } from "../../memory.js";
import { openAsyncBackends } from "../connect.js";

const config = loadConfig(process.env);
const logger = pino({ level: config.logLevel });
const parsed = validateFunction(JSON.parse(process.env["FLINT_TEST_FUNCTION"] ?? "null"));
if (!parsed.ok)
  throw new Error(`FLINT_TEST_FUNCTION is not a valid Function: ${JSON.stringify(parsed.errors)}`);
const fn = parsed.value;

const store = new MemoryFunctionStore(systemClock);
await store.create(fn);
const endpoints = new MemoryEndpointSource();
const setReplica = (address: string): void => {
  const [host, port] = address.trim().split(":");
  endpoints.set(fn.metadata, [
    { id: "replica-1", host: host ?? "127.0.0.1", port: Number(port), state: "ready" },
  ]);
};
if ((process.env["FLINT_TEST_REPLICA"] ?? "") !== "") setReplica(process.env["FLINT_TEST_REPLICA"] ?? "");
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.startsWith("replica ")) setReplica(line.slice("replica ".length));
});
const bus = new MemoryBus();
const backends = await openAsyncBackends(config.async, {
  clock: systemClock,
  logger,
  name: config.instanceId,
});
const gateway = createGateway({ store, endpoints, scaleTarget: bus, bus, logger, async: backends }, config);
const address = await gateway.listen();
// Printed whatever the log level, so the test learns the port.
process.stdout.write(`${JSON.stringify({ msg: "listening", port: address.port })}\n`);
process.once("SIGTERM", () => {
  void gateway.close().then(() => process.exit(0));
});
process.stdin.once("end", () => process.stdin.destroy());

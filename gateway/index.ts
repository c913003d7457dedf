// The gateway's public surface, for the composition roots that run it in-process (embedded/, the
// `flint up` platform): build a gateway on given platform ports, read its config, open async backends.
export { createGateway, type Gateway, type GatewayDeps } from "./gateway.js";
export { loadConfig, type GatewayConfig } from "./config.js";
export { openAsyncBackends, type AsyncBackends } from "./async/connect.js";

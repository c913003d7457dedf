// The process kubelet's "image registry": which local command a container image runs as.
// A pod's own `command` is ignored for these images (the mapping is the entrypoint); its `args`
// are appended for Flint's images. See docs/cluster.md for the table.
import { existsSync } from "node:fs";
import { join } from "node:path";

/** How to run one container as a local process. */
export interface ProcessSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Working directory of the process. */
  readonly cwd: string;
  /**
   * Variables set after the pod's own env, so they win: the listen address must be the pod's IP,
   * as a container's 0.0.0.0 would be its own network namespace and here all pods share one.
   */
  readonly env: Readonly<Record<string, string>>;
}

/** What a container needs to know to be mapped. */
export interface ImageContext {
  readonly image: string;
  readonly args: readonly string[];
  readonly podIP: string;
  /** The container's first declared port, if any. */
  readonly containerPort: number | undefined;
  /** The container's environment from its pod spec (FLINT_MODE and friends). */
  readonly env: Readonly<Record<string, string>>;
  /** A directory the pod may write to (data of NATS, Redis). */
  readonly podDir: string;
  readonly repoRoot: string;
}

/** The image is not one the process kubelet knows: the container stays Waiting with this reason. */
export class UnknownImageError extends Error {
  readonly code = "ErrImagePull";
}

const FLINT = "ghcr.io/flint-dev/";
/** http-mode upstreams listen on this plus the pod IP's last octet (see watchdogEnv). */
export const UPSTREAM_PORT_BASE = 20_000;

/**
 * The watchdog listens on the pod IP. In http mode with a command, the server it starts listens on
 * 127.0.0.1:FLINT_UPSTREAM_PORT, and loopback is shared by every pod here: each pod gets its own
 * upstream port, 20000 + the last octet of its IP (unique among running pods, and below the
 * ephemeral range the harness's free ports come from).
 */
function watchdogEnv(context: ImageContext): Record<string, string> {
  const env: Record<string, string> = { FLINT_HOST: context.podIP };
  if (context.env["FLINT_MODE"] === "http" && (context.env["FLINT_COMMAND"] ?? "") !== "") {
    env["FLINT_UPSTREAM_PORT"] = String(UPSTREAM_PORT_BASE + Number(context.podIP.split(".").pop()));
  }
  return env;
}

/** Repository part of an image reference, without tag or digest (`nats:2.10` → `nats`). */
export function imageRepository(image: string): string {
  const withoutDigest = image.split("@")[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.indexOf(":", lastSlash + 1);
  const repository = colon === -1 ? withoutDigest : withoutDigest.slice(0, colon);
  // Docker Hub spellings of official images: nats, library/nats, docker.io/library/nats.
  return repository.replace(/^(docker\.io\/)?(library\/)?/, "");
}

/**
 * Maps an image to a local command, or throws {@link UnknownImageError}.
 *
 * | image                                  | process                                                  |
 * |----------------------------------------|----------------------------------------------------------|
 * | ghcr.io/flint-dev/flint-gateway:*      | node dist/gateway/main.js, FLINT_GATEWAY_HOST=pod IP     |
 * | ghcr.io/flint-dev/flint-controller:*   | node dist/controller/main.js, FLINT_CONTROLLER_HOST=pod IP |
 * | ghcr.io/flint-dev/flint-watchdog:*     | node dist/watchdog/main.js, FLINT_HOST=pod IP            |
 * | ghcr.io/flint-dev/flint-example-DIR:*  | node dist/watchdog/main.js in examples/DIR, FLINT_HOST=pod IP |
 * | nats:*                                 | nats-server -js -a pod IP -p port (default 4222)         |
 * | redis:*                                | redis-server --bind pod IP --port port (default 6379) --protected-mode no |
 */
export function processFor(context: ImageContext): ProcessSpec {
  const { repoRoot, podIP } = context;
  const node = process.execPath;
  const repository = imageRepository(context.image);
  const distMain = (component: string): string => {
    const main = join(repoRoot, "dist", component, "main.js");
    if (!existsSync(main))
      throw new UnknownImageError(`${context.image} maps to ${main}, which is not built (npm run build)`);
    return main;
  };

  if (repository === `${FLINT}flint-gateway`) {
    return {
      command: node,
      args: [distMain("gateway"), ...context.args],
      cwd: repoRoot,
      env: { FLINT_GATEWAY_HOST: podIP },
    };
  }
  if (repository === `${FLINT}flint-controller`) {
    // Its health port (8080 by default) would take 0.0.0.0:8080 from every watchdog on the node.
    return {
      command: node,
      args: [distMain("controller"), ...context.args],
      cwd: repoRoot,
      env: { FLINT_CONTROLLER_HOST: podIP },
    };
  }
  if (repository === `${FLINT}flint-watchdog`) {
    return {
      command: node,
      args: [distMain("watchdog"), ...context.args],
      cwd: repoRoot,
      env: watchdogEnv(context),
    };
  }
  if (repository.startsWith(`${FLINT}flint-example-`)) {
    const example = repository.slice(`${FLINT}flint-example-`.length);
    const dir = join(repoRoot, "examples", example);
    if (!/^[a-z0-9-]+$/.test(example) || !existsSync(dir)) {
      throw new UnknownImageError(`${context.image}: no example folder examples/${example}`);
    }
    return {
      command: node,
      args: [distMain("watchdog"), ...context.args],
      cwd: dir,
      env: watchdogEnv(context),
    };
  }
  if (repository === "nats") {
    const port = String(context.containerPort ?? 4222);
    return {
      command: "nats-server",
      args: ["-js", "-a", podIP, "-p", port, "-sd", join(context.podDir, "nats")],
      cwd: context.podDir,
      env: {},
    };
  }
  if (repository === "redis") {
    const port = String(context.containerPort ?? 6379);
    return {
      command: "redis-server",
      // The official image turns protected mode off (its build patches the default), so clients on
      // other pods may connect; redis-server from a distribution keeps it on and drops them.
      args: [
        ...["--bind", podIP, "--port", port, "--protected-mode", "no"],
        ...["--save", "", "--appendonly", "no", "--dir", context.podDir],
      ],
      cwd: context.podDir,
      env: {},
    };
  }
  throw new UnknownImageError(
    `image ${context.image} has no local command (known: ${FLINT}flint-gateway, flint-controller, flint-watchdog, flint-example-<dir>, nats, redis; see e2e/cluster/images.ts)`,
  );
}

// The image → command mapping of the process kubelet.
import { join } from "node:path";

import { REPO_ROOT } from "../../testing/watchdog.js";
import { imageRepository, processFor, UnknownImageError, type ImageContext } from "./images.js";

const context = (image: string, args: string[] = []): ImageContext => ({
  image,
  args,
  podIP: "10.88.1.7",
  containerPort: undefined,
  env: {},
  podDir: "/tmp/pod",
  repoRoot: REPO_ROOT,
});

describe("imageRepository", () => {
  it.each([
    ["nats:2.10-alpine", "nats"],
    ["docker.io/library/redis:7", "redis"],
    ["library/nats", "nats"],
    ["ghcr.io/flint-dev/flint-gateway:0.1.0", "ghcr.io/flint-dev/flint-gateway"],
    ["ghcr.io/flint-dev/flint-example-hello@sha256:abc", "ghcr.io/flint-dev/flint-example-hello"],
    ["localhost:5000/x:1", "localhost:5000/x"],
  ])("%s → %s", (image, repository) => {
    expect(imageRepository(image)).toBe(repository);
  });
});

describe("processFor", () => {
  it("runs an example image as the watchdog in the example's folder, bound to the pod IP", () => {
    const spec = processFor(context("ghcr.io/flint-dev/flint-example-hello:1", ["--x"]));
    expect(spec).toEqual({
      command: process.execPath,
      args: [join(REPO_ROOT, "dist", "watchdog", "main.js"), "--x"],
      cwd: join(REPO_ROOT, "examples", "hello"),
      env: { FLINT_HOST: "10.88.1.7" },
    });
  });

  it("gives an http-mode upstream a port of the pod's own, as all pods share loopback", () => {
    const env = { FLINT_MODE: "http", FLINT_COMMAND: '["node","server.js"]', FLINT_UPSTREAM_PORT: "8081" };
    expect(processFor({ ...context("ghcr.io/flint-dev/flint-example-http-counter:1"), env }).env).toEqual({
      FLINT_HOST: "10.88.1.7",
      FLINT_UPSTREAM_PORT: "20007",
    });
    expect(processFor({ ...context("ghcr.io/flint-dev/flint-watchdog:1"), env }).cwd).toBe(REPO_ROOT);
  });

  it("binds the gateway and the controller to the pod IP", () => {
    expect(processFor(context("ghcr.io/flint-dev/flint-gateway:dev")).env).toEqual({
      FLINT_GATEWAY_HOST: "10.88.1.7",
    });
    expect(processFor(context("ghcr.io/flint-dev/flint-controller:dev")).env).toEqual({
      FLINT_CONTROLLER_HOST: "10.88.1.7",
    });
  });

  it("runs nats and redis from the machine on the pod IP and the declared port", () => {
    expect(processFor({ ...context("nats:2"), containerPort: 4223 }).args).toEqual([
      "-js",
      "-a",
      "10.88.1.7",
      "-p",
      "4223",
      "-sd",
      "/tmp/pod/nats",
    ]);
    expect(processFor(context("redis:7")).args.slice(0, 6)).toEqual([
      "--bind",
      "10.88.1.7",
      "--port",
      "6379",
      "--protected-mode",
      "no",
    ]);
  });

  it.each(["busybox:1", "ghcr.io/flint-dev/flint-example-nope:1", "ghcr.io/flint-dev/flint-example-../x:1"])(
    "refuses %s with ErrImagePull",
    (image) => {
      expect(() => processFor(context(image))).toThrow(UnknownImageError);
    },
  );
});

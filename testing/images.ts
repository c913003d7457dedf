// The platform images as test data: each Dockerfile, the compiled entrypoint it runs, and how its
// runtime stage starts it (images/images.test.ts reads the Dockerfiles, build-context.test.ts compiles).

export interface PlatformImage {
  /** The Dockerfile under images/. */
  readonly file: string;
  /** The entrypoint `npx tsc -p tsconfig.build.json` must produce, relative to the build's root. */
  readonly entry: string;
  /** The runtime stage's instruction that starts it, and its exact arguments. */
  readonly run: readonly [keyword: "CMD" | "ENTRYPOINT", args: string];
}

export const PLATFORM_IMAGES: readonly PlatformImage[] = [
  { file: "gateway.Dockerfile", entry: "dist/gateway/main.js", run: ["CMD", '["dist/gateway/main.js"]'] },
  {
    file: "controller.Dockerfile",
    entry: "dist/controller/main.js",
    run: ["CMD", '["dist/controller/main.js"]'],
  },
  {
    file: "watchdog.Dockerfile",
    entry: "dist/watchdog/main.js",
    run: ["ENTRYPOINT", '["/usr/bin/tini", "--", "node", "/flint/dist/watchdog/main.js"]'],
  },
];

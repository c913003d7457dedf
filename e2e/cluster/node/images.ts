// The images `npm run images` built (scripts/images/build.sh), as the real node loads them: its
// manifest lists each image's reference and archive.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { flintCacheDir } from "../../../testing/control-plane.js";

export interface BuiltImage {
  readonly ref: string;
  /** An archive `ctr images import` and `kind load image-archive` take. */
  readonly archive: string;
  readonly digest: string;
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
}

/** The images of the chart's NATS and Redis on the real node (no registry to pull nats:2.10-alpine from). */
export const SUPPORT_IMAGES: readonly string[] = [
  "localhost/flint-e2e/nats:2.10",
  "localhost/flint-e2e/redis:7",
];

/** The `--set` values that point the chart's NATS and Redis at {@link SUPPORT_IMAGES}. */
export const SUPPORT_IMAGE_VALUES: readonly string[] = (["nats", "redis"] as const).flatMap(
  (component, i) => {
    const ref = SUPPORT_IMAGES[i]!;
    const colon = ref.lastIndexOf(":");
    return [
      `${component}.image.repository=${ref.slice(0, colon)}`,
      `${component}.image.tag=${ref.slice(colon + 1)}`,
    ];
  },
);

/** `${FLINT_CACHE_DIR:-~/.cache/flint}/images/images.json`, which scripts/images/build.sh writes. */
export function imagesManifestPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(flintCacheDir(env), "images", "images.json");
}

/** No image archives, or not the ones asked for: run `npm run images`. */
export class ImagesMissingError extends Error {
  readonly code = "IMAGES_MISSING";
}

/** Every image the manifest lists. */
export function builtImages(path = imagesManifestPath()): BuiltImage[] {
  if (!existsSync(path)) throw new ImagesMissingError(`no ${path}: run npm run images first`);
  return JSON.parse(readFileSync(path, "utf8")) as BuiltImage[];
}

/** The archives of `refs`, in order; fails naming every ref the manifest lacks or whose archive is gone. */
export function archivesOf(refs: readonly string[], images: readonly BuiltImage[] = builtImages()): string[] {
  const byRef = new Map(images.map((image) => [image.ref, image]));
  const missing = refs.filter((ref) => {
    const image = byRef.get(ref);
    return image === undefined || !existsSync(image.archive);
  });
  if (missing.length > 0) {
    throw new ImagesMissingError(`not built (or archive gone): ${missing.join(", ")}: run npm run images`);
  }
  return refs.map((ref) => byRef.get(ref)!.archive);
}

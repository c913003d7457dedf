import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

describe("generated api files", () => {
  it("match crds/function.yaml (run `npm run gen` after editing the CRD)", async () => {
    const script = fileURLToPath(new URL("../scripts/gen-api.mjs", import.meta.url));
    await expect(promisify(execFile)(process.execPath, [script, "--check"])).resolves.toBeDefined();
  });
});

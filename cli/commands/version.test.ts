// `flint version` against a real gateway, an unreachable one (a free port nobody listens on), and
// with bad usage.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";

import { runFlint } from "../../testing/cli.js";
import { startGateway, TOKEN, type TestGateway } from "../../testing/gateway.js";
import { REPO_ROOT } from "../../testing/watchdog.js";
import { freeLoopbackPort } from "../../platform/free-port.js";

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string })
  .version;

describe("flint version", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ logger: pino({ level: "silent" }) });
  });
  afterAll(() => gw.close());

  it("prints the CLI's version from package.json and the gateway's, with its platform", async () => {
    const result = await runFlint(["version"], {
      env: { FLINT_GATEWAY_URL: gw.url, FLINT_AUTH_TOKEN: TOKEN },
    });
    expect(result).toEqual({
      status: 0,
      stdout: `flint CLI  ${VERSION}\ngateway    dev (test) at ${gw.url}\n`,
      stderr: "",
    });
  });

  it("answers --output json", async () => {
    const result = await runFlint(["version", "-o", "json", "--gateway", gw.url], {
      env: { FLINT_AUTH_TOKEN: TOKEN },
    });
    expect(JSON.parse(result.stdout)).toEqual({
      cli: VERSION,
      gateway: { url: gw.url, version: "dev", platform: "test" },
    });
  });

  it("reports an unreachable gateway and still exits 0", async () => {
    const url = `http://127.0.0.1:${await freeLoopbackPort()}`;
    const result = await runFlint(["version"], {
      env: { FLINT_GATEWAY_URL: url, FLINT_HOME: "/nonexistent" },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^flint CLI  ${VERSION.replaceAll(".", "\\.")}\\ngateway    unreachable at ${url}: `),
    );
  });

  it.each([[["version", "extra"]], [["version", "-o", "yaml"]]])(
    "refuses %j with exit status 2",
    async (args) => {
      const result = await runFlint(args);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("usage: flint version");
    },
  );
});

describe("flint --help", () => {
  it("lists every command and documents the exit statuses; an unknown command is usage (2)", async () => {
    const help = await runFlint(["--help"]);
    expect(help.status).toBe(0);
    for (const name of ["new", "templates", "up", "call", "dead-letters", "validate", "version"]) {
      expect(help.stdout).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
    }
    expect(help.stdout).toContain("Exit status: 0 when the command did what it was asked, 1 when it failed");
    const unknown = await runFlint(["frobnicate"]);
    expect(unknown).toMatchObject({
      status: 2,
      stderr: expect.stringContaining('unknown command "frobnicate"'),
    });
  });
});

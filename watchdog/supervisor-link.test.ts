// The supervisor link: a watchdog given a pipe on FLINT_SUPERVISOR_FD ends, with what it started, when
// the other end closes; a bad FLINT_SUPERVISOR_FD is a configuration error.
import { spawn } from "node:child_process";
import type { Socket } from "node:net";

import { ConfigError } from "../platform/errors.js";
import { freeLoopbackPort } from "../platform/free-port.js";
import { REPO_ROOT, WATCHDOG_MAIN, processGone, runWatchdogToExit, waitFor } from "../testing/watchdog.js";
import { SUPERVISOR_GONE_CODE, supervisorFd } from "./supervisor-link.js";

describe("supervisorFd", () => {
  it.each([
    [{}, undefined],
    [{ FLINT_SUPERVISOR_FD: "" }, undefined],
    [{ FLINT_SUPERVISOR_FD: "3" }, 3],
    [{ FLINT_SUPERVISOR_FD: "17" }, 17],
  ])("reads %j as %s", (env, fd) => {
    expect(supervisorFd(env)).toBe(fd);
  });

  it.each(["0", "2", "-3", "three", "3.5", "99999"])("refuses FLINT_SUPERVISOR_FD=%s", (text) => {
    expect(() => supervisorFd({ FLINT_SUPERVISOR_FD: text })).toThrow(ConfigError);
    expect(() => supervisorFd({ FLINT_SUPERVISOR_FD: text })).toThrow(
      `FLINT_SUPERVISOR_FD must be a file descriptor of 3 or more, was "${text}"`,
    );
  });

  it("makes a bad value a configuration error of the watchdog process", async () => {
    const result = await runWatchdogToExit({ FLINT_SUPERVISOR_FD: "1", FLINT_MODE: "module" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("FLINT_SUPERVISOR_FD must be a file descriptor of 3 or more");
  });
});

describe("a watchdog whose supervisor goes away", () => {
  it("exits, logging why, and ends its upstream server's process group", async () => {
    const child = spawn(process.execPath, [WATCHDOG_MAIN], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env["PATH"] ?? "",
        ...{ FLINT_PORT: "0", FLINT_HOST: "127.0.0.1", FLINT_SUPERVISOR_FD: "3" },
        ...{
          FLINT_MODE: "http",
          FLINT_COMMAND: JSON.stringify(["node", "watchdog/testdata/upstream-server.mjs"]),
        },
        FLINT_UPSTREAM_PORT: String(await freeLoopbackPort()),
      },
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    await waitFor("the upstream to be ready", () => stdout.includes("upstream ready"), { timeoutMs: 20_000 });
    const upstreamPid = Number(/"pid":(\d+),"port":\d+,"msg":"upstream ready"/.exec(stdout)?.[1]);
    expect(upstreamPid).toBeGreaterThan(0);

    // What the kernel does when the supervisor dies: its end of the pipe closes.
    (child.stdio[3] as Socket).destroy();

    expect(await exited).toBe(1);
    expect(stdout).toContain(`"code":"${SUPERVISOR_GONE_CODE}"`);
    await waitFor("the upstream server to end", () => processGone(upstreamPid), { timeoutMs: 5_000 });
  }, 30_000);
});

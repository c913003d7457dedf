// exec mode against a real watchdog: one process per call, env from the request, failures and kills.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  TESTDATA,
  call,
  metric,
  processGone,
  startWatchdog,
  stopAllWatchdogs,
  waitFor,
  type RunningWatchdog,
} from "../testing/watchdog.js";

describe("exec mode", () => {
  let watchdog: RunningWatchdog;
  /** The program writes the pids of a hanging call here, named by call id. */
  let pidDir: string;
  beforeAll(async () => {
    pidDir = mkdtempSync(join(tmpdir(), "flint-watchdog-exec-"));
    watchdog = await startWatchdog({
      FLINT_MODE: "exec",
      FLINT_COMMAND: JSON.stringify([join(TESTDATA, "exec-program.sh")]),
      // Long enough for a loaded machine to fork the shell and write its pid files before the kill.
      FLINT_TIMEOUT: "2s",
      FLINT_MAX_BODY_BYTES: "1000",
      PID_DIR: pidDir,
    });
  });
  afterAll(async () => {
    await stopAllWatchdogs();
    rmSync(pidDir, { recursive: true, force: true });
  });

  it("runs the program with the body on stdin and the request in its environment", async () => {
    const reply = await call(`${watchdog.url}/env?a=1&b=2`, {
      method: "PUT",
      headers: { "content-type": "text/plain", "x-custom": "yes", "x-call-id": "exec-1" },
      body: "from stdin",
    });
    expect(reply.status).toBe(200);
    expect(reply.headers["x-call-id"]).toBe("exec-1");
    expect(reply.headers["content-type"]).toBe("text/plain");
    expect(reply.headers["content-length"]).toBe(String(reply.body.length));
    expect(reply.body).toBe(
      "method=PUT path=/env query=a=1&b=2 call=exec-1 type=text/plain custom=yes\nfrom stdin",
    );
  });

  it("streams a large output in chunks", async () => {
    const body = "y".repeat(300 * 1024);
    const reply = await call(`${watchdog.url}/cat`, {
      headers: { "content-type": "text/plain" },
      body: body.slice(0, 1000),
    });
    expect(reply.body).toBe(body.slice(0, 1000));
    const big = await startWatchdog({
      FLINT_MODE: "exec",
      FLINT_COMMAND: JSON.stringify(["sh", "-c", "head -c 307200 /dev/zero | tr '\\0' y"]),
    });
    const streamed = await call(`${big.url}/`);
    expect(streamed.status).toBe(200);
    expect(streamed.headers["transfer-encoding"]).toBe("chunked");
    expect(streamed.body).toBe(body);
    await big.stop();
  });

  it("answers 500 with the call id on a non-zero exit, logs stderr, and serves the next call", async () => {
    const reply = await call(`${watchdog.url}/fail`, { headers: { "x-call-id": "exec-fail" } });
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body)).toMatchObject({
      error: { code: "HANDLER_FAILED", message: "the program exited with code 3", callId: "exec-fail" },
    });
    await waitFor("the stderr line in the log", () =>
      watchdog.logs.some(
        (line) =>
          line.callId === "exec-fail" && line.stream === "stderr" && line.msg === "something went wrong",
      ),
    );
    expect((await call(`${watchdog.url}/cat`, { body: "next" })).body).toBe("next");
  });

  it("answers 500 when the program is killed by a signal", async () => {
    const reply = await call(`${watchdog.url}/selfkill`);
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body)).toMatchObject({
      error: { code: "HANDLER_FAILED", message: "the program was killed by SIGKILL" },
    });
  });

  it("answers 504 past the timeout and kills the program and everything it started", async () => {
    const reply = await call(`${watchdog.url}/hang`, { headers: { "x-call-id": "exec-hang" } });
    expect(reply.status).toBe(504);
    const pidFiles = ["sh", "sleep"].map((kind) => join(pidDir, `exec-hang.${kind}`));
    expect(pidFiles.map((file) => existsSync(file))).toEqual([true, true]);
    for (const file of pidFiles) {
      const pid = Number(readFileSync(file, "utf8"));
      await waitFor(`pid ${pid} to be gone`, () => processGone(pid));
    }
  });

  it("kills the program when the client goes away, and counts the call as 499", async () => {
    const req = request(`${watchdog.url}/hang`, { headers: { "x-call-id": "exec-gone" }, agent: false });
    req.on("error", () => undefined);
    req.end();
    const pidFiles = ["sh", "sleep"].map((kind) => join(pidDir, `exec-gone.${kind}`));
    const written = (file: string): boolean => existsSync(file) && readFileSync(file, "utf8").endsWith("\n");
    await waitFor("the program to write its pids", () => pidFiles.every(written));
    req.destroy();
    for (const file of pidFiles) {
      const pid = Number(readFileSync(file, "utf8"));
      await waitFor(`pid ${pid} to be gone`, () => processGone(pid));
    }
    await waitFor(
      "the 499 to be counted",
      async () => (await metric(watchdog.url, "flint_watchdog_requests_total", 'code="499"')) === 1,
    );
  });

  it("answers 413 for a streamed body over the limit", async () => {
    const reply = await call(`${watchdog.url}/cat`, {
      method: "POST",
      body: Readable.from([Buffer.alloc(800), Buffer.alloc(800)]),
    });
    expect(reply.status).toBe(413);
  });
});

describe("exec mode, a program that cannot start", () => {
  afterAll(stopAllWatchdogs);

  it("answers 500 and keeps serving", async () => {
    const watchdog = await startWatchdog({
      FLINT_MODE: "exec",
      FLINT_COMMAND: JSON.stringify(["/nonexistent/program"]),
    });
    const reply = await call(`${watchdog.url}/`);
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "HANDLER_FAILED" } });
    expect((await call(`${watchdog.url}/_/health`)).status).toBe(200);
  });
});

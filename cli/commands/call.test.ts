// `flint call` in-process against a real gateway with the in-memory async queue (the `flint up`
// default): the record of a call that succeeded and of one that died, the credential it needs, usage
// errors, an unknown id, and where the connection comes from.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { CallRecord } from "../../api/index.js";
import { openAsyncBackends } from "../../gateway/async/connect.js";
import { loadConfig } from "../../gateway/config.js";
import { call, makeFunction, startGateway, TOKEN, waitFor, type TestGateway } from "../../testing/gateway.js";
import { saveConnection } from "../connection.js";
import { runFlint, type CliOutcome } from "../../testing/cli.js";
import { callCommand } from "./call.js";

const logger = pino({ level: process.env["FLINT_TEST_LOG"] ?? "silent" });
/** One retry, milliseconds apart: a failing call is dead within a few tens of ms. */
const fastRetries = { maxRetries: 1, backoff: { initial: "20ms", max: "50ms" }, deadLetter: true };
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;

type Outcome = CliOutcome;

/** Runs `flint ARGS` in-process with buffer IO. */
const flint = (args: string[], env: NodeJS.ProcessEnv): Promise<Outcome> => runFlint(args, { env });

/** The function: answers 500 on paths under /fail, 200 elsewhere. */
function handle(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on("end", () => {
    if ((req.url ?? "/").startsWith("/fail")) return void res.writeHead(500).end("broken");
    res.writeHead(200, { "content-type": "text/plain" }).end("done");
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("flint call", () => {
  let fnServer: Server;
  let gw: TestGateway;
  let home: string;
  /** The connection as a user sets it: the gateway and its management token, no saved file. */
  let env: NodeJS.ProcessEnv;
  let succeeded: { callId: string; token: string };
  let dead: { callId: string; token: string };

  async function submit(path: string): Promise<{ callId: string; token: string }> {
    const reply = await call(`${gw.url}/async-function/worker${path}`, { method: "POST", body: "hi" });
    expect(reply.status).toBe(202);
    return { callId: reply.headers["x-call-id"] as string, token: reply.headers["x-call-token"] as string };
  }

  /** The record as the gateway serves it to the management credential. */
  async function record(callId: string): Promise<CallRecord> {
    const reply = await call(`${gw.url}/async-function/calls/${callId}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(reply.status).toBe(200);
    return JSON.parse(reply.body) as CallRecord;
  }

  async function ended(callId: string, state: CallRecord["state"]): Promise<CallRecord> {
    await waitFor(`call ${callId} to be ${state}`, async () => (await record(callId)).state === state);
    return record(callId);
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "flint-call-"));
    fnServer = createServer(handle);
    await new Promise<void>((resolve) => fnServer.listen(0, "127.0.0.1", resolve));
    const config = loadConfig({ FLINT_AUTH_TOKEN: TOKEN });
    const backends = await openAsyncBackends(config.async, {
      clock: { now: Date.now, setTimer },
      logger,
      name: "test",
    });
    gw = await startGateway({ logger, async: backends });
    await gw.store.create(makeFunction("worker", { async: fastRetries }));
    gw.endpoints.set({ name: "worker", namespace: "default" }, [
      { id: "r1", host: "127.0.0.1", port: (fnServer.address() as AddressInfo).port, state: "ready" },
    ]);
    env = { FLINT_GATEWAY_URL: gw.url, FLINT_AUTH_TOKEN: TOKEN, FLINT_HOME: home };
    succeeded = await submit("/ok");
    dead = await submit("/fail");
    await ended(succeeded.callId, "succeeded");
    await ended(dead.callId, "dead");
  });

  afterAll(async () => {
    await gw?.close();
    await new Promise((resolve) => fnServer?.close(resolve));
    rmSync(home, { recursive: true, force: true });
  });

  it("prints a succeeded call's record as text", async () => {
    const done = await record(succeeded.callId);
    const result = await flint(["call", succeeded.callId], env);
    expect(result).toEqual({ status: 0, stdout: expect.any(String) as string, stderr: "" });
    expect(result.stdout.split("\n")).toEqual([
      `call:      ${succeeded.callId}`,
      "function:  default/worker",
      "state:     succeeded",
      "attempts:  1",
      `accepted:  ${new Date(done.acceptedAtMs).toISOString()}`,
      `finished:  ${new Date(done.finishedAtMs ?? 0).toISOString()}`,
      "status:    200",
      expect.stringMatching(/^ {2}attempt 1: 200 in \d+ ms$/),
      "",
    ]);
  });

  it("prints a dead call's record, every attempt, as text", async () => {
    const result = await flint(["call", dead.callId], env);
    expect(result.status).toBe(0);
    expect(result.stdout.split("\n")).toEqual([
      `call:      ${dead.callId}`,
      "function:  default/worker",
      "state:     dead",
      "attempts:  2",
      expect.stringMatching(new RegExp(`^accepted:  ${ISO.source}$`)),
      expect.stringMatching(new RegExp(`^finished:  ${ISO.source}$`)),
      "status:    500",
      expect.stringMatching(/^ {2}attempt 1: 500 in \d+ ms$/),
      expect.stringMatching(/^ {2}attempt 2: 500 in \d+ ms$/),
      "",
    ]);
  });

  it.each([["--output"], ["-o"]])("prints the gateway's record with %s json", async (flag) => {
    for (const { callId } of [succeeded, dead]) {
      const result = await flint(["call", callId, flag, "json"], env);
      expect(result.status).toBe(0);
      expect(result.stdout.endsWith("}\n")).toBe(true);
      expect(JSON.parse(result.stdout)).toEqual(await record(callId));
    }
    expect(JSON.parse((await flint(["call", dead.callId, "-o", "json"], env)).stdout)).toMatchObject({
      state: "dead",
      attempts: 2,
      status: 500,
    });
  });

  it("sends the management credential: without one the gateway's 401 says which variable to set", async () => {
    const withToken = await flint(["call", succeeded.callId, "-o", "json"], env);
    expect(withToken.status).toBe(0);
    const withoutToken = await flint(["call", succeeded.callId], { ...env, FLINT_AUTH_TOKEN: undefined });
    expect(withoutToken).toEqual({
      status: 1,
      stdout: "",
      stderr:
        "flint call: 401 UNAUTHORIZED: this route needs a credential: a bearer token or basic auth (set FLINT_AUTH_TOKEN, or run the command where `flint up` runs)\n",
    });
    const wrongToken = await flint(["call", succeeded.callId], { ...env, FLINT_AUTH_TOKEN: "not-the-token" });
    expect(wrongToken.status).toBe(1);
    expect(wrongToken.stderr).toMatch(/^flint call: 401 UNAUTHORIZED: the credential was not accepted /);
  });

  it("reads a record with the call's own token (--call-token), and only that call's", async () => {
    const noCredential = { ...env, FLINT_AUTH_TOKEN: undefined };
    const own = await flint(
      ["call", succeeded.callId, "--call-token", succeeded.token, "-o", "json"],
      noCredential,
    );
    expect(own.status).toBe(0);
    expect(JSON.parse(own.stdout)).toEqual(await record(succeeded.callId));
    // Another call's token gets the same 404 as an unknown id.
    const other = await flint(["call", succeeded.callId, "--call-token", dead.token], noCredential);
    expect(other.status).toBe(1);
    expect(other.stderr).toBe(
      `flint call: 404 CALL_NOT_FOUND: no async call ${succeeded.callId}: it was never accepted, or its record expired\n`,
    );
  });

  it("exits 1 with the gateway's 404 for an unknown call id", async () => {
    const result = await flint(["call", "no-such-call-0001"], env);
    expect(result).toEqual({
      status: 1,
      stdout: "",
      stderr:
        "flint call: 404 CALL_NOT_FOUND: no async call no-such-call-0001: it was never accepted, or its record expired\n",
    });
    const malformed = await flint(["call", "not a call id"], env);
    expect(malformed.status).toBe(1);
    expect(malformed.stderr).toBe('flint call: 400 BAD_REQUEST: "not a call id" is not a call id\n');
  });

  it.each<[string, string[], string]>([
    ["no call id", [], "expected one call id"],
    ["two call ids", ["a-1", "b-2"], "expected one call id"],
    ["--output yaml", ["a-1", "--output", "yaml"], '--output must be text or json, was "yaml"'],
    ["--output table", ["a-1", "-o", "table"], '--output must be text or json, was "table"'],
    ["an unknown option", ["a-1", "--follow"], "Unknown option '--follow'"],
  ])("exits 2 with the usage for %s", async (_name, args, message) => {
    const result = await flint(["call", ...args], env);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    // (Under Jest's VM parseArgs's TypeError is from another realm, so its name is printed too.)
    expect(result.stderr.split("\n")[0]).toMatch(/^flint call: /);
    expect(result.stderr.split("\n")[0]).toContain(message);
    expect(result.stderr.endsWith(`\n\n${callCommand.usage}`)).toBe(true);
  });

  it("prints the usage for --help", async () => {
    expect(await flint(["call", "--help"], env)).toEqual({
      status: 0,
      stdout: callCommand.usage,
      stderr: "",
    });
  });

  it("finds the gateway in FLINT_GATEWAY_URL, --gateway (which wins) or the file `flint up` saved", async () => {
    const nowhere = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await flint(["call", succeeded.callId], { ...env, FLINT_GATEWAY_URL: nowhere });
    expect(unreachable).toEqual({
      status: 1,
      stdout: "",
      stderr: `flint call: cannot reach the gateway at ${nowhere} (is \`flint up\` running? set FLINT_GATEWAY_URL to use another)\n`,
    });
    for (const flag of ["--gateway", "-g"]) {
      const result = await flint(["call", succeeded.callId, flag, `${gw.url}/`, "-o", "json"], {
        ...env,
        FLINT_GATEWAY_URL: nowhere,
      });
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ callId: succeeded.callId, state: "succeeded" });
    }
    const savedHome = mkdtempSync(join(tmpdir(), "flint-call-saved-"));
    try {
      saveConnection({ FLINT_HOME: savedHome }, { url: gw.url, token: TOKEN, pid: process.pid });
      const saved = await flint(["call", dead.callId, "-o", "json"], { FLINT_HOME: savedHome });
      expect(saved.status).toBe(0);
      expect(JSON.parse(saved.stdout)).toMatchObject({ callId: dead.callId, state: "dead" });
    } finally {
      rmSync(savedHome, { recursive: true, force: true });
    }
  });

  it("says so when the gateway takes no async calls", async () => {
    const plain = await startGateway({ logger });
    try {
      const result = await flint(["call", succeeded.callId], { ...env, FLINT_GATEWAY_URL: plain.url });
      expect(result).toEqual({
        status: 1,
        stdout: "",
        stderr: "flint call: 503 ASYNC_DISABLED: async calls are not enabled on this gateway\n",
      });
    } finally {
      await plain.close();
    }
  });
});

function setTimer(callback: () => void, delayMs: number): () => void {
  const timer = setTimeout(callback, delayMs);
  timer.unref();
  return () => clearTimeout(timer);
}

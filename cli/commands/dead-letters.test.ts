// `flint dead-letters` in-process against a real gateway with the in-memory async queue (the `flint up`
// default): list, redrive and purge of calls that failed every attempt, the credential they need,
// usage errors, the gateway's refusals, and where the connection comes from.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import type { CallRecord, DeadLetterEntry, DeadLetterList } from "../../api/index.js";
import { openAsyncBackends } from "../../gateway/async/connect.js";
import { loadConfig } from "../../gateway/config.js";
import { call, makeFunction, startGateway, TOKEN, waitFor, type TestGateway } from "../../testing/gateway.js";
import { runFlint, type CliOutcome } from "../../testing/cli.js";
import { deadLettersCommand } from "./dead-letters.js";

const logger = pino({ level: process.env["FLINT_TEST_LOG"] ?? "silent" });
const auth = { authorization: `Bearer ${TOKEN}` };
/** One retry, milliseconds apart: a failing call is dead within a few tens of ms. */
const fastRetries = { maxRetries: 1, backoff: { initial: "20ms", max: "50ms" }, deadLetter: true };
const HEADER = /^ID +FUNCTION +CALL ID +ATTEMPTS +LAST +DEAD AT$/;

type Outcome = CliOutcome;

/** Runs `flint ARGS` in-process with buffer IO. */
const flint = (args: string[], env: NodeJS.ProcessEnv): Promise<Outcome> => runFlint(args, { env });

/** The function behind both test functions: 500 on paths under /fail while `failing`, else 200. */
class FunctionServer {
  failing = true;
  readonly server: Server = createServer((req, res) => this.handle(req, res));

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    req.on("end", () => {
      if (this.failing && (req.url ?? "/").startsWith("/fail")) return void res.writeHead(500).end("broken");
      res.writeHead(200, { "content-type": "text/plain" }).end("done");
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("flint dead-letters", () => {
  let fnServer: FunctionServer;
  let gw: TestGateway;
  let home: string;
  /** The connection as a user sets it: the gateway and its management token, no saved file. */
  let env: NodeJS.ProcessEnv;
  /** Call ids dead in every test, oldest first: two of worker's, then one of other's. */
  let deadCalls: { worker: string[]; other: string[] };

  async function record(callId: string): Promise<CallRecord> {
    const reply = await call(`${gw.url}/async-function/calls/${callId}`, { headers: auth });
    expect(reply.status).toBe(200);
    return JSON.parse(reply.body) as CallRecord;
  }

  async function until(callId: string, state: CallRecord["state"]): Promise<void> {
    await waitFor(`call ${callId} to be ${state}`, async () => (await record(callId)).state === state);
  }

  /** Submits a call that fails every attempt and waits until it is dead. */
  async function killed(fn: string): Promise<string> {
    const reply = await call(`${gw.url}/async-function/${fn}/fail`, { method: "POST", body: "payload" });
    expect(reply.status).toBe(202);
    const callId = reply.headers["x-call-id"] as string;
    await until(callId, "dead");
    return callId;
  }

  /** The dead letters as the gateway's management API lists them. */
  async function letters(query = ""): Promise<readonly DeadLetterEntry[]> {
    const reply = await call(`${gw.url}/system/async/dead-letters${query}`, { headers: auth });
    expect(reply.status).toBe(200);
    return (JSON.parse(reply.body) as DeadLetterList).items;
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "flint-dead-letters-"));
    fnServer = new FunctionServer();
    await fnServer.start();
  });

  afterAll(async () => {
    await fnServer?.close();
    rmSync(home, { recursive: true, force: true });
  });

  // A gateway of its own per test, so each starts from the same three dead letters.
  beforeEach(async () => {
    fnServer.failing = true;
    const config = loadConfig({ FLINT_AUTH_TOKEN: TOKEN });
    const backends = await openAsyncBackends(config.async, {
      clock: { now: Date.now, setTimer },
      logger,
      name: "test",
    });
    gw = await startGateway({ logger, async: backends });
    for (const name of ["worker", "other"]) {
      await gw.store.create(makeFunction(name, { async: fastRetries }));
      gw.endpoints.set({ name, namespace: "default" }, [
        { id: `${name}-1`, host: "127.0.0.1", port: fnServer.port, state: "ready" },
      ]);
    }
    env = { FLINT_GATEWAY_URL: gw.url, FLINT_AUTH_TOKEN: TOKEN, FLINT_HOME: home };
    // One at a time, so "oldest first" has one answer.
    deadCalls = { worker: [await killed("worker"), await killed("worker")], other: [await killed("other")] };
  });

  afterEach(async () => {
    await gw?.close();
  });

  it.each([[[]], [["list"]]])("lists the dead letters as a table, oldest first (args %j)", async (args) => {
    const items = await letters();
    expect(items.map((letter) => letter.callId)).toEqual([...deadCalls.worker, ...deadCalls.other]);
    const result = await flint(["dead-letters", ...args], env);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe("");
    const [header, ...rows] = result.stdout.split("\n");
    expect(header).toMatch(HEADER);
    expect(rows).toHaveLength(items.length + 1);
    items.forEach((letter, i) => {
      const deadAt = new Date(letter.deadAtMs).toISOString();
      expect(rows[i]).toMatch(
        new RegExp(`^${letter.id} +${letter.function} +${letter.callId} +2 +500 +${deadAt}$`),
      );
    });
    expect(rows.at(-1)).toBe("");
    expect(rows[0]).toContain("default/worker");
    expect(rows[2]).toContain("default/other");
  });

  it("prints the gateway's entries with --output json", async () => {
    const result = await flint(["dead-letters", "--output", "json"], env);
    expect(result.status).toBe(0);
    const printed = JSON.parse(result.stdout) as DeadLetterEntry[];
    expect(printed).toEqual(await letters());
    expect(printed[0]).toMatchObject({
      callId: deadCalls.worker[0],
      function: "default/worker",
      method: "POST",
      path: "/fail",
      bodyBytes: 7,
      attempts: [
        expect.objectContaining({ attempt: 1, status: 500 }),
        expect.objectContaining({ attempt: 2, status: 500 }),
      ],
    });
  });

  it("lists one function's with --function (NAME or NAME.NS) and at most --limit", async () => {
    const callIds = async (args: string[]): Promise<string[]> => {
      const result = await flint(["dead-letters", "-o", "json", ...args], env);
      expect(result.status).toBe(0);
      return (JSON.parse(result.stdout) as DeadLetterEntry[]).map((letter) => letter.callId);
    };
    expect(await callIds(["--function", "other"])).toEqual(deadCalls.other);
    expect(await callIds(["-f", "worker.default"])).toEqual(deadCalls.worker);
    expect(await callIds(["--limit", "1"])).toEqual([deadCalls.worker[0]]);
    expect(await callIds(["-f", "worker", "--limit", "1"])).toEqual([deadCalls.worker[0]]);
    expect(await callIds(["-f", "other.elsewhere"])).toEqual([]);
    const table = await flint(["dead-letters", "-f", "other"], env);
    expect(table.stdout.split("\n")).toEqual([
      expect.stringMatching(HEADER),
      expect.stringContaining(deadCalls.other[0] ?? "?"),
      "",
    ]);
  });

  it("redrives the one letter --id names: it runs again, and succeeds once the function is fixed", async () => {
    const [first] = await letters();
    fnServer.failing = false;
    const result = await flint(["dead-letters", "redrive", "--id", first?.id ?? "?"], env);
    expect(result).toEqual({ status: 0, stdout: "queued 1 again\n", stderr: "" });
    await until(deadCalls.worker[0] ?? "?", "succeeded");
    expect((await record(deadCalls.worker[0] ?? "?")).attempts).toBe(3);
    expect((await letters()).map((letter) => letter.callId)).toEqual([
      deadCalls.worker[1],
      ...deadCalls.other,
    ]);
    // The letter is gone: the same id again is the gateway's 404.
    const again = await flint(["dead-letters", "redrive", "--id", first?.id ?? "?"], env);
    expect(again).toEqual({
      status: 1,
      stdout: "",
      stderr: `flint dead-letters: 404 DEAD_LETTER_NOT_FOUND: no dead letter ${first?.id}: it was redriven or purged, or never existed\n`,
    });
  });

  it("redrives all of a function's, or all, and says how many as text or json", async () => {
    fnServer.failing = false;
    const worker = await flint(["dead-letters", "redrive", "--function", "worker", "-o", "json"], env);
    expect(worker).toEqual({ status: 0, stdout: '{"redriven":2}\n', stderr: "" });
    for (const callId of deadCalls.worker) await until(callId, "succeeded");
    expect((await letters()).map((letter) => letter.callId)).toEqual(deadCalls.other);
    expect(await flint(["dead-letters", "redrive"], env)).toEqual({
      status: 0,
      stdout: "queued 1 again\n",
      stderr: "",
    });
    await until(deadCalls.other[0] ?? "?", "succeeded");
    expect(await flint(["dead-letters", "redrive"], env)).toEqual({
      status: 0,
      stdout: "queued 0 again\n",
      stderr: "",
    });
  });

  it("purges one function's, then all, and an empty list is its header", async () => {
    expect(await flint(["dead-letters", "purge", "-f", "other"], env)).toEqual({
      status: 0,
      stdout: "purged 1\n",
      stderr: "",
    });
    expect((await letters()).map((letter) => letter.callId)).toEqual(deadCalls.worker);
    expect(await flint(["dead-letters", "purge", "--output", "json"], env)).toEqual({
      status: 0,
      stdout: '{"purged":2}\n',
      stderr: "",
    });
    expect(await letters()).toEqual([]);
    const empty = await flint(["dead-letters"], env);
    expect(empty.status).toBe(0);
    expect(empty.stdout).toMatch(new RegExp(`${HEADER.source.slice(0, -1)}\n$`));
    expect(await flint(["dead-letters", "-o", "json"], env)).toEqual({
      status: 0,
      stdout: "[]\n",
      stderr: "",
    });
    // Purged records stay as they were: dead.
    expect((await record(deadCalls.other[0] ?? "?")).state).toBe("dead");
  });

  it("sends the management credential: without one the gateway's 401 says which variable to set", async () => {
    for (const args of [["list"], ["redrive"], ["purge"]]) {
      const result = await flint(["dead-letters", ...args], { ...env, FLINT_AUTH_TOKEN: undefined });
      expect(result).toEqual({
        status: 1,
        stdout: "",
        stderr:
          "flint dead-letters: 401 UNAUTHORIZED: this route needs a credential: a bearer token or basic auth (set FLINT_AUTH_TOKEN, or run the command where `flint up` runs)\n",
      });
    }
    const wrong = await flint(["dead-letters"], { ...env, FLINT_AUTH_TOKEN: "not-the-token" });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^flint dead-letters: 401 UNAUTHORIZED: the credential was not accepted /);
    // Nothing was redriven or purged.
    expect(await letters()).toHaveLength(3);
  });

  it.each<[string, string[], string]>([
    [
      "a bad --limit",
      ["--limit", "0"],
      '400 BAD_REQUEST: ?limit= must be a whole number from 1 to 1000, was "0"',
    ],
    [
      "a bad --function",
      ["purge", "-f", "Not_A_Name"],
      '400 BAD_FUNCTION_NAME: "Not_A_Name" is not a function name: expected name or name.namespace, each a DNS-1123 label',
    ],
  ])("exits 1 with the gateway's refusal of %s", async (_name, args, message) => {
    expect(await flint(["dead-letters", ...args], env)).toEqual({
      status: 1,
      stdout: "",
      stderr: `flint dead-letters: ${message}\n`,
    });
    expect(await letters()).toHaveLength(3);
  });

  it.each<[string, string[], string]>([
    ["an unknown action", ["replay"], 'expected list, redrive or purge, got "replay"'],
    ["two actions", ["list", "purge"], 'expected list, redrive or purge, got "list purge"'],
    ["--id with list", ["--id", "1"], "--id goes with redrive"],
    ["--id with purge", ["purge", "--id", "1"], "--id goes with redrive"],
    ["--output yaml", ["--output", "yaml"], '--output must be table or json, was "yaml"'],
    ["an unknown option", ["--all"], "Unknown option '--all'"],
  ])("exits 2 with the usage for %s", async (_name, args, message) => {
    const result = await flint(["dead-letters", ...args], env);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    // (Under Jest's VM parseArgs's TypeError is from another realm, so its name is printed too.)
    expect(result.stderr.split("\n")[0]).toMatch(/^flint dead-letters: /);
    expect(result.stderr.split("\n")[0]).toContain(message);
    expect(result.stderr.endsWith(`\n\n${deadLettersCommand.usage}`)).toBe(true);
    expect(await letters()).toHaveLength(3);
  });

  it("prints the usage for --help", async () => {
    expect(await flint(["dead-letters", "--help"], env)).toEqual({
      status: 0,
      stdout: deadLettersCommand.usage,
      stderr: "",
    });
  });

  it("finds the gateway in FLINT_GATEWAY_URL, or --gateway, which wins", async () => {
    const nowhere = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await flint(["dead-letters"], { ...env, FLINT_GATEWAY_URL: nowhere });
    expect(unreachable).toEqual({
      status: 1,
      stdout: "",
      stderr: `flint dead-letters: cannot reach the gateway at ${nowhere} (is \`flint up\` running? set FLINT_GATEWAY_URL to use another)\n`,
    });
    for (const flag of ["--gateway", "-g"]) {
      const result = await flint(["dead-letters", flag, gw.url, "-o", "json"], {
        ...env,
        FLINT_GATEWAY_URL: nowhere,
      });
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual(await letters());
    }
  });

  it("says so when the gateway takes no async calls", async () => {
    const plain = await startGateway({ logger });
    try {
      expect(await flint(["dead-letters"], { ...env, FLINT_GATEWAY_URL: plain.url })).toEqual({
        status: 1,
        stdout: "",
        stderr: "flint dead-letters: 503 ASYNC_DISABLED: async calls are not enabled on this gateway\n",
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

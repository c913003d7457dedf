// The management API over real HTTP: credentials, Function CRUD through the FunctionStore with
// validation by api/, manual scale, info, health, and shutdown; plus per-function invocation auth.
import { stringify } from "yaml";
import {
  TOKEN,
  call,
  captureLogs,
  makeFunction,
  startGateway,
  startReplica,
  waitFor,
  type ReplicaProcess,
  type TestGateway,
} from "../testing/gateway.js";

const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = (userPassword: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(userPassword).toString("base64")}`,
});

/** A manifest as a client would send it (no bookkeeping fields). */
function manifest(
  name: string,
  spec: Record<string, unknown> = {},
  namespace?: string,
): Record<string, unknown> {
  return {
    apiVersion: "flint.dev/v1alpha1",
    kind: "Function",
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec: { handler: { mode: "module", entry: "handler.mjs" }, ...spec },
  };
}

const json = (value: unknown): { body: string; headers: Record<string, string> } => ({
  body: JSON.stringify(value),
  headers: { ...bearer, "content-type": "application/json" },
});

describe("the management API", () => {
  let gw: TestGateway;
  let logs: ReturnType<typeof captureLogs>;
  let replica: ReplicaProcess;

  beforeAll(async () => {
    logs = captureLogs();
    [gw, replica] = await Promise.all([
      startGateway({
        logger: logs.logger,
        env: { FLINT_AUTH_USER: "admin", FLINT_AUTH_PASSWORD: "pw:with:colons" },
      }),
      startReplica("mgmt"),
    ]);
  });
  afterAll(async () => {
    await gw.close();
    await replica.stop();
  });

  it.each<[string, Record<string, string>, number]>([
    ["no credential", {}, 401],
    ["a wrong token", { authorization: "Bearer nope" }, 401],
    ["a wrong password", basic("admin:pw"), 401],
    ["an unknown scheme", { authorization: `Token ${TOKEN}` }, 401],
    ["the token", bearer, 200],
    ["the basic credential", basic("admin:pw:with:colons"), 200],
  ])("answers %s on /system/functions with %d", async (_what, headers, status) => {
    const reply = await call(`${gw.url}/system/functions`, { headers });
    expect(reply.status).toBe(status);
    if (status === 401) {
      expect(reply.headers["www-authenticate"]).toBe('Bearer realm="flint", Basic realm="flint"');
      expect(JSON.parse(reply.body)).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    }
  });

  it("logs a refused credential with the reason, never the secret", async () => {
    const guess = "Sup3r-Secret-Guess-42";
    await call(`${gw.url}/system/info`, { headers: { authorization: `Bearer ${guess}` } });
    await call(`${gw.url}/system/info`, { headers: basic(`admin:${guess}`) });
    const refusals = logs.lines.filter((line) => line["msg"] === "management request refused: credential");
    expect(refusals.slice(-2)).toEqual([
      expect.objectContaining({ problem: "wrong", scheme: "bearer", path: "/info", method: "GET" }),
      expect.objectContaining({ problem: "wrong", scheme: "basic" }),
    ]);
    expect(logs.text()).not.toContain(guess);
    expect(logs.text()).not.toContain(Buffer.from(`admin:${guess}`).toString("base64"));
    expect(logs.text()).not.toContain(TOKEN);
  });

  it("leaves /healthz, /readyz and /metrics open", async () => {
    expect((await call(`${gw.url}/healthz`)).status).toBe(200);
    expect((await call(`${gw.url}/readyz`)).status).toBe(200);
    const metrics = await call(`${gw.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain("flint_gateway_queue_bytes");
  });

  it("creates, reads, lists, updates and deletes a Function, and the data path follows", async () => {
    const created = await call(`${gw.url}/system/functions`, { method: "POST", ...json(manifest("crud")) });
    expect(created.status).toBe(201);
    expect(created.headers["location"]).toBe("/system/functions/crud.default");
    const stored = JSON.parse(created.body) as {
      metadata: { resourceVersion: string };
      spec: { timeout: string };
    };
    expect(stored).toMatchObject({
      metadata: { name: "crud", namespace: "default", generation: 1 },
      spec: { timeout: "30s" },
    });

    const again = await call(`${gw.url}/system/functions`, { method: "POST", ...json(manifest("crud")) });
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body)).toMatchObject({ error: { code: "FUNCTION_EXISTS" } });

    for (const path of [
      "/system/functions/crud",
      "/system/functions/crud.default",
      "/system/functions/crud?namespace=default",
    ]) {
      const got = await call(`${gw.url}${path}`, { headers: bearer });
      expect(got.status).toBe(200);
      expect(JSON.parse(got.body)).toEqual(stored);
    }
    expect((await call(`${gw.url}/system/functions/crud?namespace=other`, { headers: bearer })).status).toBe(
      404,
    );
    const list = JSON.parse((await call(`${gw.url}/system/functions`, { headers: bearer })).body) as {
      items: { metadata: { name: string } }[];
    };
    expect(list.items.map((fn) => fn.metadata.name)).toContain("crud");

    gw.endpoints.set({ name: "crud", namespace: "default" }, [replica.endpoint("ready")]);
    expect(
      (await call(`${gw.url}/function/crud/count`, { method: "POST", body: "x".repeat(100) })).status,
    ).toBe(200);
    const updated = await call(`${gw.url}/system/functions/crud`, {
      method: "PUT",
      ...json({
        ...manifest("crud", { maxBodyBytes: 10 }),
        metadata: { name: "crud", resourceVersion: stored.metadata.resourceVersion },
      }),
    });
    expect(updated.status).toBe(200);
    expect(JSON.parse(updated.body)).toMatchObject({
      metadata: { generation: 2 },
      spec: { maxBodyBytes: 10 },
    });
    // The gateway saw the change through the store's watch.
    expect(
      (await call(`${gw.url}/function/crud/count`, { method: "POST", body: "x".repeat(100) })).status,
    ).toBe(413);

    const stale = await call(`${gw.url}/system/functions/crud`, {
      method: "PUT",
      ...json({
        ...manifest("crud"),
        metadata: { name: "crud", resourceVersion: stored.metadata.resourceVersion },
      }),
    });
    expect(stale.status).toBe(409);
    expect(JSON.parse(stale.body)).toMatchObject({ error: { code: "CONFLICT" } });

    const renamed = await call(`${gw.url}/system/functions/crud`, {
      method: "PUT",
      ...json(manifest("other")),
    });
    expect(renamed.status).toBe(400);

    const deleted = await call(`${gw.url}/system/functions/crud`, { method: "DELETE", headers: bearer });
    expect(deleted.status).toBe(204);
    expect((await call(`${gw.url}/system/functions/crud`, { headers: bearer })).status).toBe(404);
    expect(
      (await call(`${gw.url}/system/functions/crud`, { method: "DELETE", headers: bearer })).status,
    ).toBe(404);
    expect((await call(`${gw.url}/function/crud`)).status).toBe(404);
    expect(
      (await call(`${gw.url}/system/functions/crud`, { method: "PUT", ...json(manifest("crud")) })).status,
    ).toBe(404);
  });

  it("takes YAML, and the namespace from the query", async () => {
    const reply = await call(`${gw.url}/system/functions?namespace=staging`, {
      method: "POST",
      headers: { ...bearer, "content-type": "application/yaml" },
      body: stringify(manifest("yaml-fn")),
    });
    expect(reply.status).toBe(201);
    expect(JSON.parse(reply.body)).toMatchObject({ metadata: { name: "yaml-fn", namespace: "staging" } });
    const listed = JSON.parse(
      (await call(`${gw.url}/system/functions?namespace=staging`, { headers: bearer })).body,
    ) as {
      items: unknown[];
    };
    expect(listed.items).toHaveLength(1);
  });

  it.each<[string, string | undefined, number, string, RegExp | undefined]>([
    [
      "a rule violation",
      JSON.stringify(manifest("bad", { scale: { min: 5, max: 2 } })),
      400,
      "BAD_REQUEST",
      /spec\.scale/,
    ],
    [
      "an unknown field",
      JSON.stringify(manifest("bad", { colour: "red" })),
      400,
      "BAD_REQUEST",
      /spec\.colour/,
    ],
    ["a bad name", JSON.stringify(manifest("Bad_Name")), 400, "BAD_REQUEST", /metadata\.name/],
    ["not a manifest", "{ nope", 400, "BAD_REQUEST", undefined],
    ["no body", undefined, 400, "BAD_REQUEST", undefined],
    [
      "a namespace that differs from the query",
      JSON.stringify(manifest("x", {}, "a")),
      400,
      "BAD_REQUEST",
      undefined,
    ],
    ["2 MiB", `# ${"x".repeat(2 * 1024 * 1024)}`, 413, "BODY_TOO_LARGE", undefined],
  ])("refuses %s", async (_what, body, status, code, field) => {
    const reply = await call(`${gw.url}/system/functions?namespace=b`, {
      method: "POST",
      headers: bearer,
      body,
    });
    expect(reply.status).toBe(status);
    const error = (JSON.parse(reply.body) as { error: { code: string; details?: { path: string }[] } }).error;
    expect(error.code).toBe(code);
    if (field !== undefined) expect(error.details?.map((d) => d.path).join(" ")).toMatch(field);
  });

  it.each([
    ["/system/functions/Bad_Name", 400, "BAD_FUNCTION_NAME"],
    ["/system/functions/a.b.c", 400, "BAD_FUNCTION_NAME"],
    ["/system/functions/x?namespace=Bad", 400, "BAD_REQUEST"],
    ["/system/functions/x.a?namespace=b", 400, "BAD_REQUEST"],
    ["/system/nope", 404, "NOT_FOUND"],
    ["/nope", 404, "NOT_FOUND"],
  ])("answers GET %s with %d %s", async (path, status, code) => {
    const reply = await call(`${gw.url}${path}`, { headers: bearer });
    expect(reply.status).toBe(status);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code, callId: reply.headers["x-call-id"] } });
  });

  it("asks the platform to scale a function, within spec.scale.max", async () => {
    await gw.store.create(makeFunction("scaled", { scale: { max: 3 } }));
    const ok = await call(`${gw.url}/system/functions/scaled/scale`, {
      method: "POST",
      ...json({ replicas: 3 }),
    });
    expect(ok.status).toBe(202);
    expect(gw.scaleTarget.scales).toEqual([{ ref: { name: "scaled", namespace: "default" }, replicas: 3 }]);
    for (const body of [{ replicas: 4 }, { replicas: -1 }, { replicas: 1.5 }, { replica: 1 }, "two"]) {
      const refused = await call(`${gw.url}/system/functions/scaled/scale`, {
        method: "POST",
        ...json(body),
      });
      expect(refused.status).toBe(400);
    }
    const unknown = await call(`${gw.url}/system/functions/ghost/scale`, {
      method: "POST",
      ...json({ replicas: 1 }),
    });
    expect(unknown.status).toBe(404);
    expect(gw.scaleTarget.scales).toHaveLength(1);
  });

  it("describes the gateway at /system/info", async () => {
    const reply = await call(`${gw.url}/system/info`, { headers: bearer });
    expect(JSON.parse(reply.body)).toMatchObject({
      provider: "flint",
      platform: "test",
      functions: (await gw.store.list()).length,
    });
  });

  it("requires the credential for a function that asks for it, and keeps it from the function", async () => {
    const fn = makeFunction("private");
    fn.metadata.annotations = { "flint.dev/invoke-auth": "required" };
    await gw.store.create(fn);
    gw.endpoints.set({ name: "private", namespace: "default" }, [replica.endpoint("ready")]);
    const refused = await call(`${gw.url}/function/private/headers`);
    expect(refused.status).toBe(401);
    expect(
      logs.lines.some((line) => line["msg"] === "call refused: credential" && line["problem"] === "missing"),
    ).toBe(true);
    const allowed = await call(`${gw.url}/function/private/headers`, { headers: bearer });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body)).not.toHaveProperty("headers.authorization");
  });
});

describe("credentials off, and shutdown", () => {
  it("opens the management API only with FLINT_AUTH=none", async () => {
    const gw = await startGateway({ env: { FLINT_AUTH: "none", FLINT_AUTH_TOKEN: "" } });
    try {
      expect((await call(`${gw.url}/system/functions`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it("fails readiness, then finishes calls in flight before it stops", async () => {
    const [gw, replica] = await Promise.all([startGateway(), startReplica("drain")]);
    try {
      await gw.store.create(makeFunction("draining"));
      gw.endpoints.set({ name: "draining", namespace: "default" }, [replica.endpoint("ready")]);
      const inFlight = call(`${gw.url}/function/draining/hold?ms=300`);
      await waitFor(
        "the call to be in flight",
        () => gw.gateway.snapshot({ name: "draining", namespace: "default" })?.inFlight === 1,
      );

      gw.gateway.failReadiness();
      expect((await call(`${gw.url}/readyz`)).status).toBe(503);
      const drained = await gw.gateway.drain(10_000);
      expect(drained).toBe(true);
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      expect(reply.headers["connection"]).toBe("close");
      await expect(call(`${gw.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await gw.close();
      await replica.stop();
    }
  });
});

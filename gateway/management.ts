// The management API on Express: /system/* (credential required), /healthz, /readyz, /metrics.
// What each route sends is one of api/management.ts's wire types (checked with `satisfies`).
import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import {
  MANIFEST_LIMITS,
  ManifestInvalidError,
  parseFunction,
  parseFunctionRef,
  type CallRecord,
  type DeadLetterEntry,
  type DeadLetterList,
  type FunctionList,
  type FunctionRef,
  type FunctionResource,
  type LogList,
  type PurgeResult,
  type RedriveResult,
  type ReplicaList,
  type ScaleAccepted,
  type ScaleRequestBody,
  type SystemInfo,
} from "../api/index.js";
import { Credentials } from "./auth.js";
import {
  BadFunctionNameError,
  BadRequestError,
  BodyTooLargeError,
  RouteNotFoundError,
  UnauthorizedError,
  AsyncDisabledError,
  errorResponse,
} from "./errors.js";
import { FunctionNotFoundError } from "../platform/errors.js";
import type { FunctionRuntime, FunctionStore, ScaleTarget } from "../platform/ports.js";
import type { AsyncCalls } from "./async/async-calls.js";
import { CALL_TOKEN_HEADER } from "./async/call-access.js";
import { writeJsonList } from "./json-list.js";

export interface ManagementOptions {
  readonly store: FunctionStore;
  readonly scaleTarget: ScaleTarget;
  readonly credentials: Credentials;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly defaultNamespace: string;
  /** Whether /readyz says ready: the Function watch has synced and shutdown has not begun. */
  readonly ready: () => boolean;
  /** The body of GET /system/info. */
  readonly info: () => SystemInfo;
  /** Replicas and logs for /system/functions/:name/replicas and /logs; 404 when absent. */
  readonly runtime?: FunctionRuntime;
  /** Call records and dead letters; async routes answer 503 when absent. */
  readonly asyncCalls?: AsyncCalls | undefined;
}

/** Most dead letters one GET /system/async/dead-letters returns. */
const MAX_DEAD_LETTERS = 1000;

/** Most log lines one GET /system/functions/:name/logs returns. */
const MAX_LOG_LINES = 10_000;

const CALL_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

// eslint-disable-next-line max-lines-per-function -- the route table: one short handler per route, read top to bottom
export function createManagementApp(options: ManagementOptions): express.Express {
  const { store, scaleTarget, credentials, registry, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");

  app.use((req, res, next) => {
    const header = req.get("x-call-id");
    const callId = header !== undefined && CALL_ID_RE.test(header) ? header : randomUUID();
    res.locals["callId"] = callId;
    res.setHeader("x-call-id", callId);
    next();
  });

  app.get("/healthz", (_req, res) => void res.type("text/plain").send("ok\n"));
  app.get("/readyz", (_req, res) => {
    const ready = options.ready();
    res
      .status(ready ? 200 : 503)
      .type("text/plain")
      .send(ready ? "ready\n" : "not ready\n");
  });
  app.get("/metrics", async (_req, res) => {
    const text = await registry.metrics();
    res.type(registry.contentType).send(text);
  });

  // The management credential, or the call's own read token (X-Call-Token, from the 202).
  app.get("/async-function/calls/:id", async (req, res) => {
    const id = req.params["id"] ?? "";
    if (!CALL_ID_RE.test(id)) throw new BadRequestError(`${JSON.stringify(id)} is not a call id`);
    const calls = requireAsync(options.asyncCalls);
    const authorization = req.get("authorization");
    const problem = credentials.check(authorization);
    if (problem !== undefined && authorization !== undefined) throw new UnauthorizedError(problem);
    const record = await calls.record(id, problem === undefined, req.get(CALL_TOKEN_HEADER));
    res.json(record satisfies CallRecord);
  });

  const system = express.Router();
  system.use((req, res, next) => {
    const authorization = req.get("authorization");
    const problem = credentials.check(authorization);
    if (problem === undefined) return next();
    logger.warn(
      {
        callId: res.locals["callId"] as string,
        method: req.method,
        path: req.path,
        problem,
        scheme: Credentials.schemeOf(authorization),
        remoteAddress: req.socket.remoteAddress,
      },
      "management request refused: credential",
    );
    next(new UnauthorizedError(problem));
  });
  const manifestBody = express.text({
    type: () => true,
    limit: MANIFEST_LIMITS.maxBytes,
    defaultCharset: "utf-8",
  });

  system.get("/info", (_req, res) => void res.json(options.info()));

  system.get("/functions", async (req, res) => {
    const namespace = optionalNamespace(req);
    res.json({ items: await store.list(namespace) } satisfies FunctionList);
  });

  system.post("/functions", manifestBody, async (req, res) => {
    const namespace = optionalNamespace(req);
    const fn = manifestFrom(req, namespace ?? options.defaultNamespace);
    if (namespace !== undefined && fn.metadata.namespace !== namespace) {
      throw new BadRequestError(
        `the manifest's namespace ${fn.metadata.namespace} differs from ?namespace=${namespace}`,
      );
    }
    const created = await store.create(fn);
    res.status(201).location(`/system/functions/${created.metadata.name}.${created.metadata.namespace}`);
    res.json(created satisfies FunctionResource);
  });

  system.get("/functions/:name", async (req, res) => {
    const ref = refFrom(req, options.defaultNamespace);
    res.json((await mustGet(store, ref)) satisfies FunctionResource);
  });

  system.put("/functions/:name", manifestBody, async (req, res) => {
    const ref = refFrom(req, options.defaultNamespace);
    const fn = manifestFrom(req, ref.namespace);
    if (fn.metadata.name !== ref.name || fn.metadata.namespace !== ref.namespace) {
      throw new BadRequestError(
        `the manifest names ${fn.metadata.namespace}/${fn.metadata.name} but the path names ${ref.namespace}/${ref.name}`,
      );
    }
    res.json((await store.update(fn)) satisfies FunctionResource);
  });

  system.delete("/functions/:name", async (req, res) => {
    await store.delete(refFrom(req, options.defaultNamespace));
    res.status(204).end();
  });

  system.get("/functions/:name/replicas", async (req, res) => {
    const runtime = requireRuntime(options.runtime, req);
    const ref = refFrom(req, options.defaultNamespace);
    await mustGet(store, ref);
    res.json({ items: runtime.replicas(ref) } satisfies ReplicaList);
  });

  system.get("/functions/:name/logs", async (req, res) => {
    const runtime = requireRuntime(options.runtime, req);
    const ref = refFrom(req, options.defaultNamespace);
    await mustGet(store, ref);
    const text = typeof req.query["limit"] === "string" ? req.query["limit"] : "200";
    const limit = Number(text);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOG_LINES) {
      throw new BadRequestError(
        `?limit= must be a whole number from 1 to ${MAX_LOG_LINES}, was ${JSON.stringify(text)}`,
      );
    }
    // Streamed: up to MAX_LOG_LINES lines of up to the platform's line bound each.
    await writeJsonList(res, runtime.logs(ref, limit) satisfies LogList);
  });

  system.post("/functions/:name/scale", manifestBody, async (req, res) => {
    const ref = refFrom(req, options.defaultNamespace);
    const replicas = replicasFrom(req.body);
    const fn = await mustGet(store, ref);
    if (replicas > fn.spec.scale.max) {
      throw new BadRequestError(
        `replicas must be at most spec.scale.max (${fn.spec.scale.max}), was ${replicas}`,
      );
    }
    await scaleTarget.scale(ref, replicas);
    res.status(202).json({ function: `${ref.namespace}/${ref.name}`, replicas } satisfies ScaleAccepted);
  });

  system.get("/async/dead-letters", async (req, res) => {
    const calls = requireAsync(options.asyncCalls);
    const limit = limitFrom(req, 100, MAX_DEAD_LETTERS);
    const letters = await calls.listDead(functionFrom(req, options.defaultNamespace), limit);
    res.json({
      items: letters.map(({ id, call, attempts, deadAtMs }): DeadLetterEntry => ({
        id,
        callId: call.callId,
        function: `${call.function.namespace}/${call.function.name}`,
        method: call.method,
        path: call.path,
        bodyBytes: call.body.byteLength,
        acceptedAtMs: call.acceptedAtMs,
        deadAtMs,
        attempts,
      })),
    } satisfies DeadLetterList);
  });

  system.post("/async/dead-letters/redrive", async (req, res) => {
    const calls = requireAsync(options.asyncCalls);
    const id = typeof req.query["id"] === "string" ? req.query["id"] : undefined;
    const redriven = await calls.redrive(functionFrom(req, options.defaultNamespace), id);
    res.json({ redriven } satisfies RedriveResult);
  });

  system.delete("/async/dead-letters", async (req, res) => {
    const calls = requireAsync(options.asyncCalls);
    res.json({
      purged: await calls.purgeDead(functionFrom(req, options.defaultNamespace)),
    } satisfies PurgeResult);
  });

  app.use("/system", system);
  app.use((req, _res, next) => next(new RouteNotFoundError(req.method, req.path)));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const callId = (res.locals["callId"] as string | undefined) ?? randomUUID();
    const mapped = fromBodyParser(error);
    const response = errorResponse(mapped, callId);
    if (response.status >= 500)
      logger.error({ err: error, callId, method: req.method, path: req.path }, "request failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(response.status).set(response.headers).send(response.body);
  });
  return app;
}

function requireAsync(calls: AsyncCalls | undefined): AsyncCalls {
  if (calls === undefined) throw new AsyncDisabledError();
  return calls;
}

/** ?function=name or name.namespace, or undefined for all functions. */
function functionFrom(req: Request, defaultNamespace: string): FunctionRef | undefined {
  const value: unknown = req.query["function"];
  if (value === undefined) return undefined;
  const text = typeof value === "string" ? value : "";
  const ref = parseFunctionRef(text, defaultNamespace);
  if (ref === undefined) throw new BadFunctionNameError(text);
  return ref;
}

function limitFrom(req: Request, fallback: number, max: number): number {
  const text = typeof req.query["limit"] === "string" ? req.query["limit"] : String(fallback);
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new BadRequestError(`?limit= must be a whole number from 1 to ${max}, was ${JSON.stringify(text)}`);
  }
  return limit;
}

function requireRuntime(runtime: FunctionRuntime | undefined, req: Request): FunctionRuntime {
  if (runtime === undefined) throw new RouteNotFoundError(req.method, req.originalUrl.split("?")[0] ?? "");
  return runtime;
}

/** The function a path names: `:name` as "name" or "name.namespace", or with ?namespace=. */
function refFrom(req: Request, defaultNamespace: string): FunctionRef {
  const param: unknown = req.params["name"];
  const text = typeof param === "string" ? param : "";
  const namespace = optionalNamespace(req);
  const ref = parseFunctionRef(text, namespace ?? defaultNamespace);
  if (ref === undefined) throw new BadFunctionNameError(text);
  if (namespace !== undefined && ref.namespace !== namespace) {
    throw new BadRequestError(`the path names namespace ${ref.namespace} but ?namespace=${namespace}`);
  }
  return ref;
}

function optionalNamespace(req: Request): string | undefined {
  const value: unknown = req.query["namespace"];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || parseFunctionRef(value) === undefined) {
    throw new BadRequestError(`?namespace= must be one DNS-1123 label, was ${JSON.stringify(value)}`);
  }
  return value;
}

/** A Function from the request body (YAML or JSON), validated by api/; status is Flint's to write. */
function manifestFrom(req: Request, defaultNamespace: string): FunctionResource {
  const body: unknown = req.body;
  if (typeof body !== "string")
    throw new BadRequestError("the request needs a Function manifest as its body");
  try {
    const fn = parseFunction(body, { defaultNamespace, source: "request body" });
    delete fn.status;
    return fn;
  } catch (error) {
    if (error instanceof ManifestInvalidError) {
      throw new BadRequestError("invalid Function manifest", error.errors, { cause: error });
    }
    throw error;
  }
}

function replicasFrom(body: unknown): number {
  let value: unknown;
  try {
    value = typeof body === "string" && body !== "" ? JSON.parse(body) : undefined;
  } catch (error) {
    throw new BadRequestError('the body must be JSON like {"replicas": 2}', [], { cause: error });
  }
  const replicas = (value as { [K in keyof ScaleRequestBody]?: unknown } | undefined)?.replicas;
  if (typeof replicas !== "number" || !Number.isSafeInteger(replicas) || replicas < 0) {
    throw new BadRequestError(
      `replicas must be a whole number of at least 0, was ${JSON.stringify(replicas)}`,
      [{ path: "replicas", message: "must be a whole number of at least 0" }],
    );
  }
  return replicas;
}

async function mustGet(store: FunctionStore, ref: FunctionRef): Promise<FunctionResource> {
  const fn = await store.get(ref);
  if (fn === undefined) throw new FunctionNotFoundError(`${ref.namespace}/${ref.name}`);
  return fn;
}

/** Express's body parser reports with `type`; turn those into the gateway's own errors. */
function fromBodyParser(error: unknown): unknown {
  const type = (error as { type?: unknown } | null)?.type;
  if (type === "entity.too.large") return new BodyTooLargeError(MANIFEST_LIMITS.maxBytes);
  if (type === "encoding.unsupported" || type === "charset.unsupported" || type === "request.aborted") {
    return new BadRequestError((error as Error).message, [], { cause: error });
  }
  return error;
}

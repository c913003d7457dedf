// A generic runtime waiting to become a function (the pre-started pool behind fast cold starts):
// it listens, answers /_/health, reports not ready, and takes its function's environment and
// working directory from one POST /_/specialize, after which main.ts starts it as that function.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The largest specialization body, in bytes: a function's environment is bounded by the CRD. */
const MAX_SPECIALIZE_BYTES = 1024 * 1024;

/** What a specialization gives the waiting runtime. */
export interface Specialization {
  /** Environment variables to add: the watchdog's FLINT_* settings and the function's own env. */
  readonly env: Record<string, string>;
  /** The function's folder: handler paths are relative to it. */
  readonly workdir: string;
  /** The port the runtime listened on while waiting; the watchdog takes it over. */
  readonly port: number;
  /** Answers the specialize request (after the watchdog is ready, or with the reason it is not). */
  reply(status: number, body: Record<string, unknown>): void;
}

/**
 * Listens on `host:port` (0 picks one, passed to `onListening`) until a specialization arrives, then
 * stops listening (the request's connection stays open for the reply) and resolves with it.
 */
export function awaitSpecialization(
  host: string,
  port: number,
  onListening: (address: AddressInfo) => void,
): Promise<Specialization> {
  return new Promise((resolve, reject) => {
    let taken = false;
    const server = createServer((req, res) => {
      if (req.url === "/_/health")
        return void res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      if (req.url !== "/_/specialize" || req.method !== "POST" || taken) {
        const status = req.url === "/_/specialize" && taken ? 409 : 503;
        return void res
          .writeHead(status, { "content-type": "text/plain", connection: "close" })
          .end("not specialized\n");
      }
      taken = true;
      readJson(req).then(
        (body) => {
          const parsed = specializationFrom(body);
          if (typeof parsed === "string") {
            taken = false;
            return void reply(res, 400, { error: parsed });
          }
          const { port: bound } = server.address() as AddressInfo;
          server.close();
          resolve({ ...parsed, port: bound, reply: (status, reply_) => reply(res, status, reply_) });
        },
        (error: unknown) => {
          taken = false;
          reply(res, 400, { error: String(error) });
        },
      );
    });
    server.once("error", reject);
    server.listen(port, host, () => onListening(server.address() as AddressInfo));
  });
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res
    .writeHead(status, { "content-type": "application/json", connection: "close" })
    .end(JSON.stringify(body));
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_SPECIALIZE_BYTES) {
        reject(new Error(`the specialization is larger than ${MAX_SPECIALIZE_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.once("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (error) {
        reject(new Error(`the specialization is not JSON: ${String(error)}`));
      }
    });
    req.once("error", reject);
  });
}

function specializationFrom(body: unknown): Omit<Specialization, "port" | "reply"> | string {
  if (typeof body !== "object" || body === null) return "the specialization must be a JSON object";
  const { env, workdir } = body as { env?: unknown; workdir?: unknown };
  if (typeof workdir !== "string" || workdir === "") return "workdir must be a non-empty string";
  if (typeof env !== "object" || env === null) return "env must be an object of strings";
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== "string") return `env.${name} must be a string`;
  }
  return { env: env as Record<string, string>, workdir };
}

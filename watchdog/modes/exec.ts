// exec mode: fork the command per call, request body on stdin, stdout streamed back as the response.
import { spawn } from "node:child_process";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { HandlerFailedError } from "../errors.js";
import type { Call, Mode } from "./mode.js";
import { killGroup, trackGroup } from "../process-group.js";

/**
 * The response is committed (status line sent) once stdout has produced this many bytes, this many
 * milliseconds after its first byte, or the process has ended, whichever comes first. Until then a
 * failing program still gets a clean 500; after it, a failure can only cut the response off.
 */
const COMMIT_BYTES = 64 * 1024;
const COMMIT_DELAY_MS = 250;
/** Longest stderr line logged as one entry, in characters; longer lines are split. */
const STDERR_LINE_MAX = 8 * 1024;
/** Header names that can become environment variable names. */
const ENV_SAFE_NAME_RE = /^[A-Za-z0-9-]+$/;

/**
 * Runs the program once per call, like OpenFaaS's classic watchdog. The request reaches it as:
 * stdin = the body; env `Http_Method`, `Http_Path`, `Http_Query` (raw, without "?"), `X_Call_Id`,
 * and every header as `Http_<Canonical_Name>` (Content-Type → `Http_Content_Type`).
 */
export class ExecMode implements Mode {
  private readonly running = new Set<ReturnType<typeof spawn>>();

  constructor(
    private readonly command: readonly string[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    // Nothing runs between calls.
  }

  ready(): boolean {
    return true;
  }

  // One exec call: spawn, stdin, stdout streaming, deadline and exit handling share the child and
  // the call, so they stay in one function (over the length cap by a few lines).
  // eslint-disable-next-line max-lines-per-function
  handle(call: Call): Promise<void> {
    // eslint-disable-next-line max-lines-per-function
    return new Promise((resolve, reject) => {
      const { req, res } = call;
      const child = trackGroup(
        spawn(this.command[0] as string, this.command.slice(1), {
          env: callEnv(req, call.id),
          stdio: ["pipe", "pipe", "pipe"],
          // Its own process group, so a timeout kills whatever the program started too.
          detached: true,
        }),
      );
      this.running.add(child);
      const log = this.logger.child({ callId: call.id, pid: child.pid });

      call.onAbort(() => {
        killGroup(child, "SIGKILL");
        // A stdout paused for backpressure would never reach its end, and "close" would never come.
        child.stdout.resume();
      });

      // The program may exit without reading its input; the broken pipe is not the call's failure.
      child.stdin.on("error", () => undefined);
      if (call.body === null) child.stdin.end();
      else call.body.pipe(child.stdin);

      let stderrLine = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (text: string) => {
        const lines = (stderrLine + text).split("\n");
        stderrLine = lines.pop() as string;
        for (const line of lines) log.info({ stream: "stderr" }, line);
        while (stderrLine.length > STDERR_LINE_MAX) {
          log.info({ stream: "stderr" }, stderrLine.slice(0, STDERR_LINE_MAX));
          stderrLine = stderrLine.slice(STDERR_LINE_MAX);
        }
      });

      let committed = false;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let commitTimer: NodeJS.Timeout | undefined;
      const contentType = req.headers["content-type"] ?? "application/octet-stream";
      const resume = (): void => void child.stdout.resume();
      const commit = (): void => {
        clearTimeout(commitTimer);
        if (committed || call.aborted) return;
        committed = true;
        res.writeHead(200, { "x-call-id": call.id, "content-type": contentType });
        let flowing = true;
        for (const chunk of pending) flowing = res.write(chunk);
        pending = [];
        if (!flowing) {
          child.stdout.pause();
          res.once("drain", resume);
        }
      };
      child.stdout.on("data", (chunk: Buffer) => {
        if (call.aborted) return;
        if (committed) {
          if (!res.write(chunk)) {
            child.stdout.pause();
            res.once("drain", resume);
          }
          return;
        }
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= COMMIT_BYTES) commit();
        else commitTimer ??= setTimeout(commit, COMMIT_DELAY_MS);
      });

      let settled = false;
      const settle = (error: HandlerFailedError | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(commitTimer);
        this.running.delete(child);
        if (stderrLine !== "") log.info({ stream: "stderr" }, stderrLine);
        if (call.aborted) {
          resolve();
          return;
        }
        if (error !== undefined) {
          reject(error);
          return;
        }
        if (committed) res.end();
        else {
          const body = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
          res
            .writeHead(200, {
              "x-call-id": call.id,
              "content-type": contentType,
              "content-length": body.length,
            })
            .end(body);
        }
        resolve();
      };
      child.once("error", (error) =>
        settle(new HandlerFailedError(`cannot run ${this.command[0]}: ${error.message}`, { cause: error })),
      );
      // "close", not "exit": all of stdout has been read by then.
      child.once("close", (code, signal) => {
        if (code === 0) settle(undefined);
        else
          settle(
            new HandlerFailedError(
              signal === null
                ? `the program exited with code ${code}`
                : `the program was killed by ${signal}`,
            ),
          );
      });
    });
  }

  close(): Promise<void> {
    for (const child of this.running) killGroup(child, "SIGKILL");
    return Promise.resolve();
  }
}

/** The environment of one call: the watchdog's own, plus the request as variables. */
function callEnv(req: IncomingMessage, callId: string): NodeJS.ProcessEnv {
  const headers: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!ENV_SAFE_NAME_RE.test(name)) continue;
    const key = `Http_${canonical(name)}`;
    headers[key] = Object.hasOwn(headers, key) ? `${headers[key]}, ${raw[i + 1]}` : (raw[i + 1] as string);
  }
  const url = req.url ?? "/";
  const queryAt = url.indexOf("?");
  // Set last, so that a header named "Method" cannot pose as the request's method.
  return {
    ...process.env,
    ...headers,
    Http_Method: req.method,
    Http_Path: queryAt === -1 ? url : url.slice(0, queryAt),
    Http_Query: queryAt === -1 ? "" : url.slice(queryAt + 1),
    Http_X_Call_Id: callId,
    X_Call_Id: callId,
  };
}

/** content-type → Content_Type, as Go's CanonicalMIMEHeaderKey and OpenFaaS spell header variables. */
function canonical(name: string): string {
  return name
    .split("-")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1).toLowerCase())
    .join("_");
}

// A closed-loop load generator for the cluster tests: each worker sends its next call as soon as its
// last one has ended, over keep-alive connections, and every answer is judged and counted.
import { Agent, request } from "node:http";

/** What a load run saw. */
export interface LoadResult {
  readonly calls: number;
  /** Calls the judge accepted. */
  readonly ok: number;
  /** HTTP status → calls; 0 counts calls that got no HTTP answer (connection refused or reset, timeout). */
  readonly statuses: Readonly<Record<number, number>>;
  /** The first failures (a rejected answer or an error), each with its time since the start. */
  readonly failures: readonly string[];
  readonly seconds: number;
}

export interface Load {
  /** Calls finished so far. */
  readonly calls: number;
  /** Calls the judge accepted so far. */
  readonly ok: number;
  /** Stops sending, waits for the calls in flight and returns the tally. */
  stop(): Promise<LoadResult>;
}

export interface LoadOptions {
  /** Calls in flight at once (one per worker). */
  readonly workers: number;
  /** Whether an answer is right. Default: status 200. */
  readonly judge?: (status: number, body: string) => boolean;
  /** One call's deadline, in ms. Default 30 s. */
  readonly timeoutMs?: number;
}

/** How many failures are kept word for word; the rest are only counted. */
const FAILURES_KEPT = 20;

/** Starts `options.workers` workers calling `url` (GET) in a loop until `stop()`. */
export function startLoad(url: string, options: LoadOptions): Load {
  const judge = options.judge ?? ((status: number): boolean => status === 200);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const agent = new Agent({ keepAlive: true, maxSockets: options.workers });
  const startedMs = performance.now();
  const statuses: Record<number, number> = {};
  const failures: string[] = [];
  let calls = 0;
  let ok = 0;
  let stopped = false;

  const fail = (what: string): void => {
    if (failures.length < FAILURES_KEPT)
      failures.push(`+${((performance.now() - startedMs) / 1000).toFixed(2)}s ${what}`);
  };
  const once = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const req = request(url, { agent, timeout: timeoutMs }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.once("error", (error: Error) => {
          statuses[0] = (statuses[0] ?? 0) + 1;
          fail(`response broke off: ${error.message}`);
          resolve();
        });
        res.once("end", () => {
          const status = res.statusCode ?? 0;
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (judge(status, body)) ok++;
          else fail(`${status} ${body.slice(0, 200).trim()}`);
          resolve();
        });
      });
      req.once("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
      req.once("error", (error: Error) => {
        statuses[0] = (statuses[0] ?? 0) + 1;
        fail(error.message);
        resolve();
      });
      req.end();
    }).then(() => {
      calls++;
    });

  const worker = async (): Promise<void> => {
    while (!stopped) await once();
  };
  const running = Promise.all(Array.from({ length: options.workers }, worker));

  return {
    get calls() {
      return calls;
    },
    get ok() {
      return ok;
    },
    async stop(): Promise<LoadResult> {
      stopped = true;
      await running;
      agent.destroy();
      return { calls, ok, statuses, failures, seconds: (performance.now() - startedMs) / 1000 };
    },
  };
}

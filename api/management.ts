// The wire types of the gateway's management API (/system/..., /async-function/calls/:id): what the
// gateway sends and the CLI reads, as JSON. Times are epoch milliseconds; functions "namespace/name".
import type { FunctionResource } from "./types.js";

/** GET /system/info: the gateway itself. */
export interface SystemInfo {
  readonly provider: "flint";
  /** Flint's version, "dev" for an unreleased build. */
  readonly version: string;
  /** Where the gateway runs: "kubernetes", "local" (`flint up`) or "embedded". */
  readonly platform: string;
  /** Functions the gateway routes to now. */
  readonly functions: number;
  /** Whole seconds since the gateway started. */
  readonly uptimeSeconds: number;
}

/**
 * GET /system/functions (?namespace=): every Function with its status, sorted by namespace then
 * name. GET, POST and PUT /system/functions/:name answer with one FunctionResource.
 */
export interface FunctionList {
  readonly items: readonly FunctionResource[];
}

/** One replica of a function, as `flint describe` shows it. */
export interface ReplicaEntry {
  /** Stable for the replica's life: a process id locally, a pod name on Kubernetes. */
  readonly id: string;
  /** Where it is in its life, e.g. "starting", "ready", "draining". */
  readonly state: string;
  /** host:port the gateway calls; absent until known. */
  readonly address?: string | undefined;
  /** When it started, epoch ms. */
  readonly startedAtMs: number;
  /** Process id (local platform) or pod name (Kubernetes), when the platform knows one. */
  readonly process?: string | undefined;
}

/** GET /system/functions/:name/replicas (platforms that run the replicas themselves, i.e. `flint up`). */
export interface ReplicaList {
  readonly items: readonly ReplicaEntry[];
}

/** One line a replica wrote, as `flint logs` shows it. */
export interface LogLine {
  /** When it was written, epoch ms. */
  readonly timeMs: number;
  /** The replica's id. */
  readonly replica: string;
  readonly stream: "stdout" | "stderr";
  /** The line, without its newline. */
  readonly line: string;
}

/**
 * GET /system/functions/:name/logs?limit=N (1..10000, default 200): the last lines, oldest first,
 * streamed. The platform keeps a bounded buffer per function; `dropped` says what it let go.
 */
export interface LogList {
  readonly items: readonly LogLine[];
  /** Since the buffer started (`flint up`'s start, or the function's first apply). */
  readonly dropped: {
    /** Whole lines evicted, oldest first, to stay within `limits`. */
    readonly lines: number;
    /** UTF-8 bytes of the evicted lines plus those cut off long lines. */
    readonly bytes: number;
    /** Lines kept with their end cut off; each ends with " … [N bytes cut]". */
    readonly cutLines: number;
  };
  /** The buffer's bounds per function: lines, UTF-8 bytes in all, and bytes per line. */
  readonly limits: { readonly lines: number; readonly bytes: number; readonly lineBytes: number };
}

/** The body of POST /system/functions/:name/scale: run this many replicas (0..spec.scale.max) now. */
export interface ScaleRequestBody {
  readonly replicas: number;
}

/** The 202 answer to a scale request: asked of the platform's scaler, which may change it later. */
export interface ScaleAccepted {
  /** "namespace/name". */
  readonly function: string;
  readonly replicas: number;
}

/** Where an async call is in its life. queued → running → (queued again on retry) → a terminal state. */
export type CallState = "queued" | "running" | "succeeded" | "failed" | "dead";

/** One attempt at an async call. */
export interface AttemptRecord {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Epoch ms. */
  readonly startedAtMs: number;
  /** Epoch ms. */
  readonly finishedAtMs: number;
  /** The function's status, or the gateway's (502, 503, 504) when it did not answer. */
  readonly status: number;
  /** The gateway's error code when the function did not answer. */
  readonly error?: string;
}

/** What `GET /async-function/calls/:id` returns: an async call's record. */
export interface CallRecord {
  readonly callId: string;
  /** "namespace/name". */
  readonly function: string;
  readonly state: CallState;
  /** Attempts made so far. */
  readonly attempts: number;
  /** When the gateway accepted the call, epoch ms. */
  readonly acceptedAtMs: number;
  /** When the record last changed, epoch ms. */
  readonly updatedAtMs: number;
  /** When the call reached a terminal state, epoch ms. */
  readonly finishedAtMs?: number;
  /** Status of the last attempt. */
  readonly status?: number;
  /** The gateway's error code of the last attempt, when the function did not answer. */
  readonly error?: string;
  /** Every attempt, oldest first. */
  readonly history: readonly AttemptRecord[];
  /** Where the result is POSTed (X-Callback-Url), if the caller asked. */
  readonly callbackUrl?: string;
  /** Whether the callback was delivered, once one is due. */
  readonly callback?: "pending" | "delivered" | "failed";
}

/** A dead-lettered call as GET /system/async/dead-letters lists it (without its body). */
export interface DeadLetterEntry {
  /** The queue's handle, for redrive of this one letter (?id=). */
  readonly id: string;
  readonly callId: string;
  /** "namespace/name". */
  readonly function: string;
  readonly method: string;
  /** Path and query the replica saw. */
  readonly path: string;
  /** Size of the call's body in bytes. */
  readonly bodyBytes: number;
  /** Epoch ms. */
  readonly acceptedAtMs: number;
  /** When it was dead-lettered, epoch ms. */
  readonly deadAtMs: number;
  /** Every attempt, oldest first. */
  readonly attempts: readonly AttemptRecord[];
}

/** GET /system/async/dead-letters (?function=, ?limit= 1..1000, default 100): oldest first. */
export interface DeadLetterList {
  readonly items: readonly DeadLetterEntry[];
}

/** POST /system/async/dead-letters/redrive (?function=, ?id=): how many were queued again. */
export interface RedriveResult {
  readonly redriven: number;
}

/** DELETE /system/async/dead-letters (?function=): how many were removed. */
export interface PurgeResult {
  readonly purged: number;
}

/** The body of every error answer (4xx, 5xx) of the gateway. */
export interface ErrorBody {
  readonly error: {
    /** Stable, e.g. BAD_REQUEST, UNAUTHORIZED; branch on it, not on the message. */
    readonly code: string;
    readonly message: string;
    /** The request's id, as in its X-Call-Id header and the gateway's logs. */
    readonly callId?: string;
    /** What is wrong with which field, for a manifest or body that failed validation. */
    readonly details?: readonly { readonly path: string; readonly message: string }[];
  };
}

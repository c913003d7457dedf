// The one interface every handler mode implements, and the call it is handed (of-watchdog's executor/).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { WatchdogError } from "../errors.js";

/**
 * One call as a mode sees it. The server owns its lifecycle: it answers limit, timeout and body
 * errors itself, so a mode only has to stop its work when `signal` aborts.
 */
export interface Call {
  /** From the caller's X-Call-Id, or generated. Every response a mode writes carries it as X-Call-Id. */
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /**
   * The request body, null when the request has none. It is `req` itself when the length was
   * declared (already checked against the limit), or a byte-counting stream over it otherwise.
   */
  readonly body: Readable | null;
  /** Aborts with CallTimeoutError, BodyTooLargeError or ClientClosedError; the response is then the server's. */
  readonly signal: AbortSignal;
  /** True once the call was aborted; cheaper than reading `signal`, which is created on first use. */
  readonly aborted: boolean;
  /**
   * Sets the one cleanup a mode needs when the call is aborted (kill the child, drop the upstream
   * request); runs at once if already aborted. A plain callback: an AbortController and its
   * listeners cost several microseconds per call, a tenth of a whole bare request.
   */
  onAbort(cleanup: () => void): void;
  /** When the call times out, in epoch milliseconds. */
  readonly deadlineMs: number;
}

/**
 * An Upgrade request (a WebSocket handshake) handed over with its connection. It counts as one call
 * in flight from admission until the mode calls `done`; the server has already admitted it.
 */
export interface UpgradeCall {
  /** From the caller's X-Call-Id, or generated; the mode passes it on as X-Call-Id. */
  readonly id: string;
  readonly req: IncomingMessage;
  /** The client's connection. node:http no longer reads it: it is the mode's until `done`. */
  readonly socket: Socket;
  /** Bytes the client sent after the request head (the start of the new protocol; usually empty). */
  readonly head: Buffer;
  /** Close the tunnel once no byte has moved either way for this long, in milliseconds (FLINT_TIMEOUT). */
  readonly idleTimeoutMs: number;
  /**
   * Ends the call; the mode calls it exactly once, when the tunnel has closed. With the status the
   * upstream answered (101 when it switched protocols), or, only while nothing has been written to
   * `socket`, with the error that kept the tunnel from opening: the server then answers it on `socket`.
   */
  done(outcome: number | WatchdogError): void;
}

/** A way of running the user's handler. Selected once, in modes/index.ts. */
export interface Mode {
  /** Prepares the handler (import the module, start and wait for the upstream). Rejects if it cannot. */
  start(): Promise<void>;
  /** Whether calls can be served now; false while an http upstream restarts. */
  ready(): boolean;
  /**
   * Serves one call: writes the whole response and resolves once `res.end()` has been called, or
   * rejects with a WatchdogError (mapped to a status by the server) if no response was started.
   */
  handle(call: Call): Promise<void>;
  /**
   * Takes over an admitted Upgrade request and its connection. Optional: the server answers an
   * upgrade to a mode without it with 501 (UpgradeNotSupportedError).
   */
  upgrade?(call: UpgradeCall): void;
  /** Stops everything the mode started (processes, sockets). Calls still running are cut off. */
  close(): Promise<void>;
}

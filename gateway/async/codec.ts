// How calls, dead letters and callback jobs travel as NATS messages: metadata as one JSON header,
// the body as the payload, so a body is never re-encoded.
import { headers as natsHeaders, type MsgHdrs } from "nats";
import type { AttemptRecord, CallbackJob, QueuedCall } from "./ports.js";

/** Header holding a call's metadata (everything but the body) as JSON. */
const CALL_HEADER = "Flint-Call";
/** Header holding a dead letter's attempts and time of death as JSON. */
const DEAD_HEADER = "Flint-Dead";
/** Header holding a callback job's metadata as JSON. */
const CALLBACK_HEADER = "Flint-Callback";

type CallMeta = Omit<QueuedCall, "body">;
type CallbackMeta = Omit<CallbackJob, "body">;

export class UndecodableMessageError extends Error {
  readonly code = "UNDECODABLE_MESSAGE";
  constructor(what: string, options?: ErrorOptions) {
    super(`a queued message is not a Flint ${what}`, options);
    this.name = "UndecodableMessageError";
  }
}

export function encodeCall(
  call: QueuedCall,
  dead?: { attempts: readonly AttemptRecord[]; deadAtMs: number },
): MsgHdrs {
  const meta: CallMeta = {
    callId: call.callId,
    function: call.function,
    method: call.method,
    path: call.path,
    headers: call.headers,
    callbackUrl: call.callbackUrl,
    acceptedAtMs: call.acceptedAtMs,
  };
  const hdrs = natsHeaders();
  hdrs.set(CALL_HEADER, JSON.stringify(meta));
  if (dead !== undefined) hdrs.set(DEAD_HEADER, JSON.stringify(dead));
  return hdrs;
}

export function decodeCall(hdrs: MsgHdrs | undefined, body: Uint8Array): QueuedCall {
  const meta = parseHeader<CallMeta>(hdrs, CALL_HEADER, "call");
  if (typeof meta.callId !== "string" || typeof meta.function?.name !== "string") {
    throw new UndecodableMessageError("call");
  }
  return { ...meta, body };
}

export function decodeDead(hdrs: MsgHdrs | undefined): { attempts: AttemptRecord[]; deadAtMs: number } {
  return parseHeader(hdrs, DEAD_HEADER, "dead letter");
}

export function encodeCallback(job: CallbackJob): MsgHdrs {
  const { body: _body, ...meta } = job;
  const hdrs = natsHeaders();
  hdrs.set(CALLBACK_HEADER, JSON.stringify(meta satisfies CallbackMeta));
  return hdrs;
}

export function decodeCallback(hdrs: MsgHdrs | undefined, body: Uint8Array): CallbackJob {
  return { ...parseHeader<CallbackMeta>(hdrs, CALLBACK_HEADER, "callback"), body };
}

function parseHeader<T>(hdrs: MsgHdrs | undefined, name: string, what: string): T {
  const text = hdrs?.get(name);
  if (text === undefined || text === "") throw new UndecodableMessageError(what);
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new UndecodableMessageError(what, { cause: error });
  }
}

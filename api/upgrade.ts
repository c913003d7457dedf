// Upgrade requests that are not WebSockets. Once a node:http server listens for 'upgrade', every
// request with `Connection: Upgrade` goes there, including `curl --http2`'s optional h2c offer; such
// a request is answered over HTTP/1.1 as if it had not asked, which RFC 9110 §7.8 allows.
import { ServerResponse, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Whether the request asks to switch to WebSocket (the only upgrade Flint passes through). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/**
 * Serves an upgrade request the server declines as a plain request, through `handle` (the server's
 * request handler), on a response bound to the raw socket; the connection closes after it. Node's
 * parser has stopped at the head, so this is for requests without a body.
 */
export function serveWithoutUpgrade(
  req: IncomingMessage,
  connection: Duplex,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  const socket = connection as Socket;
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once("finish", () => {
    res.detachSocket(socket);
    socket.end();
  });
  // The request has no body to read: end it, as the server's parser would have.
  req.push(null);
  handle(req, res);
}

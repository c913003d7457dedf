// Test fixture: a WebSocket echo server for http mode (RFC 6455 handshake and framing). Reads PORT.
// GET / answers "ok". An upgrade to /reject is refused with 403; any other upgrade is accepted, and the
// server's first message is JSON `{ url, headers }` of the handshake it saw, then it echoes every
// text or binary frame back, unmasked, answers ping with pong and close with close.
import { createHash } from "node:crypto";
import { createServer } from "node:http";

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

/** One unmasked, final frame (servers never mask). */
function frame(opcode, payload) {
  const length = payload.length;
  let header;
  if (length < 126) {
    header = Buffer.from([0x80 | opcode, length]);
  } else if (length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Reads whole frames off `buffer`: returns the frames and the bytes of an incomplete one. */
function parseFrames(buffer) {
  const frames = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const opcode = buffer[offset] & 0x0f;
    const masked = (buffer[offset + 1] & 0x80) !== 0;
    let length = buffer[offset + 1] & 0x7f;
    let cursor = offset + 2;
    if (length === 126) {
      if (buffer.length - cursor < 2) break;
      length = buffer.readUInt16BE(cursor);
      cursor += 2;
    } else if (length === 127) {
      if (buffer.length - cursor < 8) break;
      length = Number(buffer.readBigUInt64BE(cursor));
      cursor += 8;
    }
    const maskBytes = masked ? 4 : 0;
    if (buffer.length - cursor < maskBytes + length) break;
    const mask = buffer.subarray(cursor, cursor + maskBytes);
    cursor += maskBytes;
    const payload = Buffer.from(buffer.subarray(cursor, cursor + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
    frames.push({ opcode, payload });
    offset = cursor + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain" }).end("ok");
});

server.on("upgrade", (req, socket, head) => {
  socket.on("error", () => socket.destroy());
  if (req.url === "/reject") {
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    return;
  }
  const key = req.headers["sec-websocket-key"];
  const accept = createHash("sha1")
    .update(key + WEBSOCKET_GUID)
    .digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\n" +
      "upgrade: websocket\r\n" +
      "connection: Upgrade\r\n" +
      `sec-websocket-accept: ${accept}\r\n\r\n`,
  );
  socket.write(frame(TEXT, Buffer.from(JSON.stringify({ url: req.url, headers: req.headers }))));

  let pending = Buffer.alloc(0);
  const onBytes = (chunk) => {
    const { frames, rest } = parseFrames(Buffer.concat([pending, chunk]));
    pending = rest;
    for (const { opcode, payload } of frames) {
      if (opcode === TEXT || opcode === BINARY) socket.write(frame(opcode, payload));
      else if (opcode === PING) socket.write(frame(PONG, payload));
      else if (opcode === CLOSE) {
        // Echo the status code back, then close our side: the client closes the TCP connection.
        socket.end(frame(CLOSE, payload.subarray(0, 2)));
        return;
      }
    }
  };
  socket.on("data", onBytes);
  if (head.length > 0) onBytes(head);
});

server.listen(Number(process.env.PORT), "127.0.0.1");

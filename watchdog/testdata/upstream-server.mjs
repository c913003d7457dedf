// Test fixture: the user's HTTP server for http mode. Reads PORT; exits at once if $CRASH_GATE exists.
import { existsSync } from "node:fs";
import { createServer } from "node:http";

if (process.env.CRASH_GATE && existsSync(process.env.CRASH_GATE)) {
  console.error("crash gate is closed, exiting");
  process.exit(3);
}

let aborted = 0;
const CHUNK = Buffer.alloc(64 * 1024, 120);

createServer((req, res) => {
  const url = new URL(req.url, "http://upstream");
  switch (url.pathname) {
    case "/hello":
      res.writeHead(200, { "content-type": "text/plain" }).end("hello from upstream");
      return;
    case "/headers":
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(req.headers));
      return;
    case "/pid":
      res.end(String(process.pid));
      return;
    case "/count": {
      let bytes = 0;
      req.on("data", (chunk) => (bytes += chunk.length));
      req.on("end", () => res.end(String(bytes)));
      return;
    }
    case "/generate": {
      let left = Number(url.searchParams.get("bytes"));
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const pump = () => {
        while (left > 0) {
          const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
      return;
    }
    case "/hang":
      res.on("close", () => {
        if (!res.writableFinished) aborted++;
      });
      return;
    case "/aborted":
      res.end(String(aborted));
      return;
    case "/reset-upload":
      // Reads the first chunk of the body, then drops the connection: a server that dies mid-upload.
      req.once("data", () => req.socket.destroy());
      return;
    case "/trailers":
      // A chunked body with a trailer field after it, declared up front.
      res.writeHead(200, { "content-type": "text/plain", trailer: "x-checksum" });
      res.write("with ");
      res.addTrailers({ "x-checksum": "sha1-abc" });
      res.end("trailers");
      return;
    case "/status":
      res.writeHead(Number(url.searchParams.get("code")), { "x-upstream": "yes" }).end("status");
      return;
    default:
      res.writeHead(404).end("not found");
  }
}).listen(Number(process.env.PORT), "127.0.0.1");

// http-counter: a plain node:http server for http mode. Listens on $PORT; counts the calls it served.
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? 8081);
let count = 0;

const server = createServer((req, res) => {
  if (req.method === "DELETE") count = 0;
  else count += 1;
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ count, method: req.method, path: req.url }) + "\n");
});

server.listen(port, () => console.log(`http-counter listening on ${port}`));
// The watchdog stops its upstream with SIGTERM; close so in-flight responses finish.
process.on("SIGTERM", () => server.close(() => process.exit(0)));

// A free loopback port for a child process to listen on (a child cannot be handed a listening socket portably).
import { createServer } from "node:net";

/** A loopback port free right now: bound, read and released; the child takes it moments later (a small race). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

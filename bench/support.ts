// What the benchmarks share: finding a port for a server process and waiting until it answers.
import type { ChildProcess } from "node:child_process";

export { freeLoopbackPort as freePort } from "../platform/free-port.js";

/** Polls `url` until it answers 200, failing if the process exits or 20 s pass. */
export async function waitForOk(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`${url} did not answer 200 within 20 s`);
}

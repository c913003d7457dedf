// Where the CLI finds a running gateway: FLINT_GATEWAY_URL / FLINT_AUTH_TOKEN, else the file `flint up` writes.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { EnvReader } from "../platform/env.js";

/** A gateway and the credential for its management API. */
export interface Connection {
  url: string;
  token: string | undefined;
}

/** The file `flint up` writes so other `flint` commands find it: $FLINT_HOME or ~/.flint, then local.json. */
export function connectionFile(env: NodeJS.ProcessEnv): string {
  // An empty variable counts as unset, as everywhere in Flint (EnvReader).
  const read = new EnvReader(env);
  const home = read.string("FLINT_HOME") ?? join(read.string("HOME") ?? homedir(), ".flint");
  return join(home, "local.json");
}

export function saveConnection(env: NodeJS.ProcessEnv, connection: Connection & { pid: number }): string {
  const file = connectionFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(connection, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function forgetConnection(env: NodeJS.ProcessEnv, pid: number): void {
  const file = connectionFile(env);
  try {
    const saved = JSON.parse(readFileSync(file, "utf8")) as { pid?: number };
    if (saved.pid === pid) rmSync(file, { force: true });
  } catch {
    // nothing saved, or not ours
  }
}

/** The gateway to talk to: the environment wins over the saved file; the default is 127.0.0.1:8080. */
export function resolveConnection(env: NodeJS.ProcessEnv, urlOption?: string): Connection {
  let saved: Partial<Connection> = {};
  try {
    saved = JSON.parse(readFileSync(connectionFile(env), "utf8")) as Partial<Connection>;
  } catch {
    // no `flint up` running from this home
  }
  const read = new EnvReader(env);
  const url = urlOption ?? read.string("FLINT_GATEWAY_URL") ?? saved.url ?? "http://127.0.0.1:8080";
  const token = read.string("FLINT_AUTH_TOKEN") ?? saved.token;
  return { url: url.replace(/\/+$/, ""), token };
}

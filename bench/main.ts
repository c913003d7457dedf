// Benchmark runner: `npm run bench -- <name> [args]` runs bench/<name>.ts, which prints its own table.
import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** What every bench/<name>.ts exports. */
export interface Benchmark {
  run(args: string[]): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith(".js") && file !== "main.js" && file !== "support.js")
  .map((file) => file.slice(0, -".js".length))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === "--help" || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args]\navailable: ${available.join(", ") || "(none)"}`);
  process.exit(name === undefined || name === "--help" ? 0 : 2);
}
const bench = (await import(`./${name}.js`)) as Benchmark;
await bench.run(args);

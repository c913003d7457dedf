// `npm run simulate`: replays a workload through the given policies and prints the report (table or JSON).
import { parseArgs } from "node:util";
import { parseDurationMs } from "../api/duration.js";
import { resolveScaleSpec } from "./spec.js";
import type { ScaleSpec } from "./types.js";
import { loadWorkload } from "./sim/load.js";
import { policyUnderTest } from "./sim/policies.js";
import { comparePolicies, distributionTable, ratioTable, reportTable, reportTitle } from "./sim/report.js";
import { PLATFORM_DEFAULTS } from "./sim/simulate.js";

const USAGE = `usage: npm run simulate -- [options]
  --workload PATH|synthetic:NAME  Azure-layout folder (inv.csv, run.csv, mem.csv), a CSV of requests
                                  (t_ms,function,duration_ms), or synthetic:steady|diurnal|bursty|periodic|flash-crowd
                                  (default ../shared/traces/azure2019-200)
  --policy LIST                   comma-separated: flint, kpa, oracle, fixed-keepalive:DURATION
                                  (default flint,kpa,fixed-keepalive:10m,oracle)
  --startup DURATION              replica start-up latency, e.g. 250ms, 1s, 5s (default 1s)
  --scale KEY=VALUE,...           scale settings for trace functions: min, max, target, concurrency, idle
  --duration DURATION             measured span of a requests CSV (default: its last request, to the minute)
  --queue-timeout DURATION        how long a request may wait for a replica (default 30s)
  --seed N                        seed for spreading and drawing (default 1)
  --json                          print JSON instead of tables`;

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      workload: { type: "string", default: "../shared/traces/azure2019-200" },
      policy: { type: "string", default: "flint,kpa,fixed-keepalive:10m,oracle" },
      startup: { type: "string", default: "1s" },
      scale: { type: "string" },
      duration: { type: "string" },
      "queue-timeout": { type: "string", default: "30s" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed))
    throw new Error(`--seed must be an integer, was ${JSON.stringify(values.seed)}`);
  const model = {
    ...PLATFORM_DEFAULTS,
    startupMs: parseDurationMs(values.startup),
    queueTimeoutMs: parseDurationMs(values["queue-timeout"]),
  };
  const policies = values.policy
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "")
    .map(policyUnderTest);
  const workload = loadWorkload(values.workload, {
    seed,
    spec: values.scale === undefined ? undefined : resolveScaleSpec(parseScale(values.scale)),
    durationMs: values.duration === undefined ? undefined : parseDurationMs(values.duration),
  });
  const reports = comparePolicies(workload, policies, model);
  if (values.json) {
    console.log(JSON.stringify(reports, null, 2));
    return;
  }
  console.log(`## ${reportTitle(reports)}\n`);
  console.log(reportTable(reports));
  console.log(`\nRatios to the baselines in the same run:\n\n${ratioTable(reports)}`);
  console.log(`\nCold-start percentage across functions:\n\n${distributionTable(reports)}`);
}

/** `target=5,concurrency=10,idle=5m` → a partial scale spec; `resolveScaleSpec` then checks the values. */
function parseScale(text: string): Partial<ScaleSpec> {
  const spec: Partial<ScaleSpec> = {};
  for (const pair of text.split(",")) {
    const [key, value, extra] = pair.split("=").map((part) => part.trim());
    if (value === undefined || extra !== undefined) {
      throw new Error(`--scale takes KEY=VALUE pairs, was ${JSON.stringify(pair)}`);
    }
    switch (key) {
      case "idle":
        spec.idle = value;
        break;
      case "min":
      case "max":
      case "target":
      case "concurrency":
        spec[key] = Number(value);
        break;
      default:
        throw new Error(
          `--scale keys are min, max, target, concurrency and idle, was ${JSON.stringify(key)}`,
        );
    }
  }
  return spec;
}

try {
  main(process.argv.slice(2));
} catch (error) {
  console.error(`simulate: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exitCode = 2;
}

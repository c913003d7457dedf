// `npm run chaos [-- --probe NAME] [--scale 0.2]`: replays the reliability probes on a real `flint up`
// and prints, per probe, the calls sent, failed and lost and the peak memory; exits 1 if any probe
// saw a failure or a loss beyond what docs/reliability.md promises.
import { PROBES, type ProbeResult } from "./probes.js";

function parseArgs(argv: readonly string[]): { names: string[]; scale: number } {
  const names: string[] = [];
  let scale = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === "--probe" && value !== undefined) {
      names.push(value);
      i++;
    } else if (arg === "--scale" && value !== undefined && Number(value) > 0 && Number(value) <= 1) {
      scale = Number(value);
      i++;
    } else {
      console.error(
        `usage: npm run chaos -- [--probe NAME]... [--scale 0<S<=1]\nprobes: ${PROBES.map((p) => `"${p.name}"`).join(", ")}`,
      );
      process.exit(2);
    }
  }
  return { names, scale };
}

const { names, scale } = parseArgs(process.argv.slice(2));
const chosen = names.length === 0 ? PROBES : PROBES.filter((probe) => names.includes(probe.name));
if (chosen.length === 0) {
  console.error(`no probe named ${names.join(", ")}`);
  process.exit(2);
}

const results: ProbeResult[] = [];
for (const probe of chosen) {
  process.stderr.write(`chaos: ${probe.name}...\n`);
  const startedMs = Date.now();
  try {
    const result = await probe.run({ scale });
    results.push(result);
    process.stderr.write(
      `chaos: ${probe.name}: ${result.ok ? "held" : "FAILED"} in ${((Date.now() - startedMs) / 1000).toFixed(1)} s (${result.notes})\n`,
    );
  } catch (error) {
    results.push({
      name: probe.name,
      sent: 0,
      failed: 1,
      lost: 0,
      baselineMiB: 0,
      peakMiB: 0,
      promise: "the probe runs",
      ok: false,
      notes: error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error),
    });
    process.stderr.write(`chaos: ${probe.name}: the probe itself failed: ${String(error)}\n`);
  }
}

const header = [
  "probe",
  "sent",
  "failed",
  "lost",
  "RSS before MiB",
  "peak RSS MiB",
  "held",
  "promise",
  "notes",
];
const rows = results.map((r) => [
  r.name,
  String(r.sent),
  String(r.failed),
  String(r.lost),
  r.baselineMiB.toFixed(1),
  r.peakMiB.toFixed(1),
  r.ok ? "yes" : "NO",
  r.promise,
  r.notes,
]);
console.log(`| ${header.join(" | ")} |`);
console.log(`| ${header.map(() => "---").join(" | ")} |`);
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
const broken = results.filter((r) => !r.ok);
console.log(`\n${results.length - broken.length} of ${results.length} probes held (scale ${scale})`);
process.exit(broken.length === 0 ? 0 : 1);

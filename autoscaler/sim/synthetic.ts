// Synthetic workloads, so no policy is judged (or tuned) on one day of one trace: steady, diurnal,
// on/off bursts, periodic timers and a flash crowd. Each is deterministic for its seed.
import { resolveScaleSpec } from "../spec.js";
import type { ScaleSettings } from "../types.js";
import { exponential, logNormal, seededRandom, type Random } from "./random.js";
import type { FunctionWorkload, Workload } from "./workload.js";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * The scale settings of every synthetic function: a hard limit of 20 in flight per replica with a soft
 * target of 10, so scaling out matters for latency, and room (max 100) for over-provisioning to show.
 */
export const SYNTHETIC_SPEC: ScaleSettings = resolveScaleSpec({ max: 100, target: 10, concurrency: 20 });

/** A request rate that varies in time, requests per second. */
type Rate = (atMs: number) => number;

/** A stretch of constant rate: [start, end) ms at `rps` requests per second. */
type Segment = readonly [startMs: number, endMs: number, rps: number];

interface Requests {
  arrivalMs: Float64Array;
  durationMs: Float64Array;
}

/** A Poisson process that is constant within each segment (drawn directly: no rejected candidates). */
function segmentRequests(random: Random, segments: readonly Segment[], serviceMs: () => number): Requests {
  const arrivals: number[] = [];
  const durations: number[] = [];
  for (const [startMs, endMs, rps] of segments) {
    if (rps <= 0) continue;
    for (
      let atMs = startMs + exponential(random, 1000 / rps);
      atMs < endMs;
      atMs += exponential(random, 1000 / rps)
    ) {
      arrivals.push(atMs);
      durations.push(Math.max(1, serviceMs()));
    }
  }
  return { arrivalMs: Float64Array.from(arrivals), durationMs: Float64Array.from(durations) };
}

/** A Poisson process of a smoothly varying rate, drawn by thinning one of rate `peakRate`. */
function thinnedRequests(
  random: Random,
  rate: Rate,
  peakRate: number,
  spanMs: number,
  serviceMs: () => number,
): Requests {
  const arrivals: number[] = [];
  const durations: number[] = [];
  for (
    let atMs = exponential(random, 1000 / peakRate);
    atMs < spanMs;
    atMs += exponential(random, 1000 / peakRate)
  ) {
    if (random() * peakRate < rate(atMs)) {
      arrivals.push(atMs);
      durations.push(Math.max(1, serviceMs()));
    }
  }
  return { arrivalMs: Float64Array.from(arrivals), durationMs: Float64Array.from(durations) };
}

function fn(name: string, requests: Requests): FunctionWorkload {
  return { name, spec: SYNTHETIC_SPEC, requests };
}

/** Eight functions at constant rates from one every 20 s to 50 per second, 100 ms median service; 1 hour. */
export function steadyWorkload(seed: number): Workload {
  const rates = [0.05, 0.2, 1, 2, 5, 10, 20, 50];
  const functions = rates.map((rps, index) => {
    const random = seededRandom(seed, index);
    return fn(
      `steady-${rps}rps`,
      segmentRequests(random, [[0, HOUR_MS, rps]], () => logNormal(random, 100, 0.5)),
    );
  });
  return { name: "steady", durationMs: HOUR_MS, functions };
}

/** Six functions whose rate follows a day (5 % of peak at night), peaks from 0.02 to 8 per second; 24 hours. */
export function diurnalWorkload(seed: number): Workload {
  const peaks = [0.02, 0.1, 0.5, 1, 3, 8];
  const functions = peaks.map((peak, index) => {
    const random = seededRandom(seed, index);
    const rate: Rate = (atMs) => peak * (0.05 + 0.95 * (0.5 - 0.5 * Math.cos((2 * Math.PI * atMs) / DAY_MS)));
    return fn(
      `diurnal-${peak}rps`,
      thinnedRequests(random, rate, peak, DAY_MS, () => logNormal(random, 200, 0.7)),
    );
  });
  return { name: "diurnal", durationMs: DAY_MS, functions };
}

/**
 * Ten on/off functions: bursts of about a minute (exponential) at 5–40 requests per second, separated
 * by silences averaging 2–30 minutes; 6 hours.
 */
export function burstyWorkload(seed: number): Workload {
  const functions = Array.from({ length: 10 }, (_, index) => {
    const random = seededRandom(seed, index);
    const burstRate = 5 + 35 * random();
    const meanOffMs = (2 + 28 * random()) * MINUTE_MS;
    const bursts: Segment[] = [];
    for (let atMs = exponential(random, meanOffMs); atMs < 6 * HOUR_MS;) {
      const endMs = Math.min(6 * HOUR_MS, atMs + exponential(random, MINUTE_MS));
      bursts.push([atMs, endMs, burstRate]);
      atMs = endMs + exponential(random, meanOffMs);
    }
    return fn(
      `bursty-${index}`,
      segmentRequests(random, bursts, () => logNormal(random, 150, 0.6)),
    );
  });
  return { name: "bursty", durationMs: 6 * HOUR_MS, functions };
}

/**
 * Twenty timer-driven functions with periods from 1 minute to 4 hours, each firing once per period
 * (±3 s of jitter) at a random phase, 500 ms median service; 24 hours.
 */
export function periodicWorkload(seed: number): Workload {
  const periodsMinutes = [1, 2, 3, 5, 7, 10, 12, 15, 20, 25, 30, 40, 45, 60, 75, 90, 120, 150, 180, 240];
  const functions = periodsMinutes.map((minutes, index) => {
    const random = seededRandom(seed, index);
    const periodMs = minutes * MINUTE_MS;
    const arrivals: number[] = [];
    const durations: number[] = [];
    for (let atMs = random() * periodMs; atMs < DAY_MS; atMs += periodMs) {
      arrivals.push(Math.max(0, atMs + (random() - 0.5) * 6000));
      durations.push(Math.max(1, logNormal(random, 500, 0.5)));
    }
    return fn(`timer-${minutes}m`, {
      arrivalMs: Float64Array.from(arrivals),
      durationMs: Float64Array.from(durations),
    });
  });
  return { name: "periodic", durationMs: DAY_MS, functions };
}

/**
 * Six functions idling at 0.1–1 requests per second until a flash crowd of 100–400 per second arrives
 * without warning (between minutes 15 and 35) and lasts 3–10 minutes; 100 ms median service; 1 hour.
 * With a slow start-up this is the burst-during-a-slow-start case.
 */
export function flashCrowdWorkload(seed: number): Workload {
  const functions = Array.from({ length: 6 }, (_, index) => {
    const random = seededRandom(seed, index);
    const baseRate = 0.1 + 0.9 * random();
    const crowdRate = 100 + 300 * random();
    const startMs = (15 + 20 * random()) * MINUTE_MS;
    const endMs = startMs + (3 + 7 * random()) * MINUTE_MS;
    const segments: Segment[] = [
      [0, startMs, baseRate],
      [startMs, endMs, crowdRate],
      [endMs, HOUR_MS, baseRate],
    ];
    return fn(
      `crowd-${index}`,
      segmentRequests(random, segments, () => logNormal(random, 100, 0.5)),
    );
  });
  return { name: "flash-crowd", durationMs: HOUR_MS, functions };
}

/** The synthetic workloads by name. */
export const SYNTHETIC_WORKLOADS: Readonly<Record<string, (seed: number) => Workload>> = Object.freeze({
  steady: steadyWorkload,
  diurnal: diurnalWorkload,
  bursty: burstyWorkload,
  periodic: periodicWorkload,
  "flash-crowd": flashCrowdWorkload,
});

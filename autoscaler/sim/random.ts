// Seeded pseudo-random numbers: the simulator is deterministic for a seed, and each function draws from its own stream.

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * A generator for (`seed`, `stream`): mulberry32 seeded through a 32-bit mix, so neighbouring seeds and
 * streams (function indexes) give unrelated sequences, and one function's draws never shift another's.
 */
export function seededRandom(seed: number, stream = 0): Random {
  let state = mix32(mix32(seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9));
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An exponentially distributed draw with the given mean. */
export function exponential(random: Random, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** A log-normal draw with the given median and shape (sigma of the underlying normal). */
export function logNormal(random: Random, median: number, sigma: number): number {
  // Box–Muller; 1 - random() keeps the logarithm finite.
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * normal);
}

function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

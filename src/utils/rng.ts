/**
 * Small seeded pseudo-random generator (mulberry32): deterministic across platforms, so seeded
 * data, augmentation and bootstrap resampling repeat exactly.
 * @example const rand = rng(42); rand(); // 0 <= x < 1
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [0, n) from a generator made by `rng`. */
export function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

/** Standard normal sample (Box-Muller) from a generator made by `rng`. */
export function randNormal(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * Seeded pseudo-random numbers for everything in src/sid.
 *
 * Every randomised step (SVD test matrices, k-means++ seeding, the random last level) takes a
 * seed so that a SID build is reproducible bit for bit: the SID map is an artefact that later
 * stages (prompts, checkpoints) depend on, and a silent reshuffle of codes would invalidate them.
 *
 * Two generators:
 * - `Rng`: a sequential stream (mulberry32), for loops that draw many numbers in order.
 * - `hashUniform`: a counter-based draw, a pure function of (seed, a, b). The random last level
 *   uses it so that an item's random code does not depend on how the rows were chunked or on
 *   which other items were encoded in the same call.
 */

/** A small, fast, seedable generator (mulberry32, 32-bit state). Good enough for sampling. */
export class Rng {
  private state: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    // Mix the seed so that nearby seeds (0, 1, 2, …) start far apart.
    this.state = mix32(seed >>> 0 ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next(); // log(0) would be -Infinity
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** k distinct indices from [0, n), in random order (partial Fisher–Yates). */
  sample(n: number, k: number): Int32Array {
    if (k > n) throw new Error(`cannot sample ${k} distinct indices from ${n}`);
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const t = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = t;
    }
    return idx.slice(0, k);
  }
}

/** A 32-bit integer finaliser (from murmur3): turns structured inputs into well-spread bits. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform integer in [0, n) that depends only on (seed, a, b): reproducible under any chunking. */
export function hashInt(seed: number, a: number, b: number, n: number): number {
  // a may exceed 2^32 for very large row offsets; fold the high part in separately.
  const hi = Math.floor(a / 4294967296);
  let h = mix32((seed >>> 0) ^ 0x27d4eb2f);
  h = mix32(h ^ (a >>> 0));
  h = mix32(h ^ hi ^ Math.imul(b + 1, 0x165667b1));
  // Multiply-shift maps 32 random bits onto [0, n) without the modulo bias of h % n.
  return Math.floor((h / 4294967296) * n);
}

/**
 * Seeded pseudo-random numbers and integer hashes: the one place every seeded draw in the
 * project comes from. Math.random cannot be seeded, and generated artefacts (the synthetic
 * catalogue, SID maps, training batches) must come out identical for a given seed on every
 * machine, so everything random goes through `Rng` or one of the hashes below.
 *
 * - `Rng`: a sequential stream (mulberry32, 32-bit state), for loops that draw many numbers in
 *   order. Two ways of turning a seed into the starting state exist because artefacts were made
 *   with each; both stay as they are so that those artefacts stay reproducible:
 *     "golden" (the default): the synthetic catalogue, candidate lists, rankers, prompts;
 *     "murmur": everything in src/sid (SID builds, SVD, k-means seeding).
 * - `hashInt`: a counter-based draw, a pure function of (seed, a, b): reproducible under any
 *   chunking (the random last SID level uses it).
 * - `hash32`: a hash of a few integers (training batches are a pure function of their coordinates).
 * - `WeightedTable`: weighted sampling of a fixed list of values.
 */

/** How a seed becomes mulberry32's starting state (see the module comment for who uses which). */
export type RngSeeding = "golden" | "murmur";

/** A small, fast, seedable generator (mulberry32). Good enough for sampling; not for secrets. */
export class Rng {
  private state: number;
  private spareNormal: number | null = null;

  constructor(seed: number, seeding: RngSeeding = "golden") {
    // Mix the seed so that nearby seeds (0, 1, 2, …) do not start in nearby states.
    this.state =
      seeding === "golden"
        ? (Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x85ebca6b) >>> 0
        : mix32((seed >>> 0) ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform float in [0, 1). mulberry32: 32-bit state, passes the usual smoke tests, tiny. */
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

  /** Uniform integer in [lo, hi] (both inclusive). */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Rng.pick: empty list");
    return items[this.int(items.length)]!;
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

  /** A new array with the items in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /**
   * `sample(n, k)`: k distinct indices from [0, n), in random order (partial Fisher–Yates; k > n
   * is an error). `sample(items, k)`: k distinct items chosen uniformly (fewer if the list is
   * shorter). The two draw differently; each keeps the sequence its callers were built with.
   */
  sample(n: number, k: number): Int32Array;
  sample<T>(items: readonly T[], k: number): T[];
  sample<T>(from: number | readonly T[], k: number): Int32Array | T[] {
    if (typeof from !== "number") return this.shuffle(from).slice(0, Math.min(k, from.length));
    const n = from;
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

/**
 * Weighted sampling by binary search over cumulative weights: O(log n) per draw after an O(n)
 * build, which keeps generating hundreds of thousands of interactions fast.
 */
export class WeightedTable<T> {
  private readonly cumulative: Float64Array;

  constructor(readonly values: readonly T[], weights: readonly number[]) {
    if (values.length !== weights.length) throw new RangeError("WeightedTable: values and weights differ in length");
    this.cumulative = new Float64Array(values.length);
    let total = 0;
    weights.forEach((w, i) => {
      total += w;
      this.cumulative[i] = total;
    });
  }

  get size(): number {
    return this.values.length;
  }

  draw(rng: Rng): T {
    const n = this.cumulative.length;
    if (n === 0) throw new RangeError("WeightedTable.draw: empty table");
    const x = rng.next() * this.cumulative[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.values[lo]!;
  }
}

/** The multiply–xorshift tail of murmur3's 32-bit finaliser (shared by `mix32` and `hash32`). */
function fmix(h: number): number {
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A 32-bit integer finaliser (from murmur3): turns structured inputs into well-spread bits. */
export function mix32(h: number): number {
  return fmix(h ^ (h >>> 16)) >>> 0;
}

/** A well-mixed 32-bit hash of a few integers (each folded in with the murmur3 finaliser). */
export function hash32(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) h = fmix(h ^ (x | 0));
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

/**
 * A small seeded PRNG (mulberry32) and the sampling helpers the synthetic generator needs.
 * Math.random cannot be seeded, and the synthetic catalogue must be identical for a given seed
 * on every machine, so everything random in the data layer goes through `Rng`.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed once so that nearby seeds (1, 2, 3 …) do not start in nearby states.
    this.state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x85ebca6b) >>> 0;
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

  /** A new array with the items in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `k` distinct items chosen uniformly (fewer if the list is shorter). */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, Math.min(k, items.length));
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

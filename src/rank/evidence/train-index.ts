/**
 * Statistics of the TRAIN split that evidence is computed from: item popularity and
 * co-purchase counts. Built from `Split.train` only (each user's prefix before the valid and
 * test targets), so no validation or test interaction can ever appear as evidence.
 *
 * Lists built inside the train prefixes (a user's position k, to learn from) need one more
 * guard: the index counts that user's own purchases at and after k, the list's target among
 * them ("bought after X by 1 user" would be the target's own purchase). `Withheld` names the
 * part of a sequence a query must not see, and every count subtracts it.
 */
export interface TrainIndexOptions {
  /** b counts as bought after a when it comes 1..window positions later in a sequence (default 3). */
  window?: number;
}

/** A user's train sequence and the position from which its purchases are hidden from a list. */
export interface Withheld {
  sequence: readonly number[];
  /** Positions ≥ from are withheld (the list's target and what came after it). */
  from: number;
}

export class TrainIndex {
  /** Interactions per item in the train sequences. */
  readonly popularity: Int32Array;
  readonly window: number;
  /** a·numItems + b → users whose train sequence has b within `window` positions after a. */
  private readonly after = new Map<number, number>();

  private constructor(readonly numItems: number, window: number) {
    this.popularity = new Int32Array(numItems);
    this.window = window;
  }

  static build(train: readonly (readonly number[])[], numItems: number, o: TrainIndexOptions = {}): TrainIndex {
    const window = o.window ?? 3;
    if (!(Number.isInteger(window) && window >= 1)) throw new RangeError(`co-purchase window must be an integer ≥ 1, got ${window}`);
    const index = new TrainIndex(numItems, window);
    for (const seq of train) {
      // Count users, not occurrences: "bought after X by 3 users" is what a rationale states.
      const pairs = new Set<number>();
      seq.forEach((a, t) => {
        if (!(Number.isInteger(a) && a >= 0 && a < numItems)) throw new RangeError(`train index: item ${a} outside [0, ${numItems})`);
        index.popularity[a]!++;
        for (let d = 1; d <= window && t + d < seq.length; d++) {
          const b = seq[t + d]!;
          if (b !== a) pairs.add(a * numItems + b);
        }
      });
      for (const k of pairs) index.after.set(k, (index.after.get(k) ?? 0) + 1);
    }
    return index;
  }

  /** Users whose train sequence has `b` within `window` positions after `a` (less the withheld part's own count). */
  coPurchase(a: number, b: number, withheld?: Withheld): number {
    const n = this.after.get(a * this.numItems + b) ?? 0;
    if (!withheld || n === 0) return n;
    const { sequence, from } = withheld;
    // This user counted once if the pair occurs anywhere in the sequence; it keeps counting
    // only if the pair also occurs entirely before `from`.
    return this.hasPair(sequence, sequence.length, a, b) && !this.hasPair(sequence, from, a, b) ? n - 1 : n;
  }

  /** Training purchases of `item` (less the withheld part's). */
  popularityOf(item: number, withheld?: Withheld): number {
    let n = this.popularity[item]!;
    if (withheld) for (let t = Math.max(0, withheld.from); t < withheld.sequence.length; t++) if (withheld.sequence[t] === item) n--;
    return n;
  }

  private hasPair(seq: readonly number[], end: number, a: number, b: number): boolean {
    for (let t = 0; t < end; t++) {
      if (seq[t] !== a) continue;
      for (let d = 1; d <= this.window && t + d < end; d++) if (seq[t + d] === b) return true;
    }
    return false;
  }
}

/**
 * Statistics of the TRAIN split that the evidence teacher cites: item popularity and
 * co-purchase counts. Built from `Split.train` only (each user's prefix before the valid and
 * test targets), so no validation or test interaction can ever appear as evidence — the
 * teacher's rationales would otherwise teach the student facts it could not know.
 */
export interface TrainIndexOptions {
  /** b counts as bought after a when it comes 1..window positions later in a sequence (default 3). */
  window?: number;
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

  /** Users whose train sequence has `b` within `window` positions after `a`. */
  coPurchase(a: number, b: number): number {
    return this.after.get(a * this.numItems + b) ?? 0;
  }
}

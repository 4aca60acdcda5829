/**
 * Popularity: every user gets the same scores, the item's interaction count in the train split.
 * The floor every personalised ranker has to clear, and the "popularity re-sort" baseline's
 * source of scores.
 */
import type { Ranker } from "./ranker.js";

/** Interactions per item over the train prefixes (never the valid or test targets). */
export function itemCounts(trainSequences: readonly (readonly number[])[], numItems: number): Float32Array {
  const counts = new Float32Array(numItems);
  for (const seq of trainSequences) {
    for (const item of seq) {
      if (!(item >= 0 && item < numItems)) throw new RangeError(`item index ${item} is outside the catalogue of ${numItems} items`);
      counts[item]! += 1;
    }
  }
  return counts;
}

export class PopularityRanker implements Ranker {
  readonly name = "popularity";
  readonly numItems: number;

  constructor(readonly counts: Float32Array) {
    this.numItems = counts.length;
  }

  static fit(trainSequences: readonly (readonly number[])[], numItems: number): PopularityRanker {
    return new PopularityRanker(itemCounts(trainSequences, numItems));
  }

  scores(histories: readonly (readonly number[])[]): Float32Array[] {
    return histories.map(() => this.counts.slice());
  }
}

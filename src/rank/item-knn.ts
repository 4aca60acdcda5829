/**
 * Item-KNN (Sarwar et al. 2001; the "item-to-item" recommender): items bought by the same users
 * are similar. sim(i, j) = c_ij / sqrt(c_i · c_j) (cosine over user-item incidence), where c_ij
 * counts train users who have both. Each item keeps its `neighbours` most similar items; a
 * history scores item j as Σ_h decay^age(h) · sim(h, j), so recent items weigh more (the last
 * item predicts the next best in sequential data). A tiny popularity term breaks the many
 * zero-similarity ties in favour of popular items, as practitioners do.
 */
import { itemCounts } from "./popularity.js";
import type { Ranker } from "./ranker.js";
import { withDefaults } from "./defaults.js";

export interface ItemKnnOptions {
  /** Neighbours kept per item (default 100). */
  neighbours?: number;
  /** Weight of the item `age` steps before the last one: decay^age (default 0.8). */
  recencyDecay?: number;
}

export const ITEM_KNN_DEFAULTS: Required<ItemKnnOptions> = { neighbours: 100, recencyDecay: 0.8 };

/** Scale of the popularity tie-breaker: below any real similarity (≥ 1/#users). */
const POPULARITY_TIE_BREAK = 1e-9;

export class ItemKnnRanker implements Ranker {
  readonly name = "item-knn";
  readonly numItems: number;

  /**
   * @param neighbourIndex per item, its neighbours' indices (most similar first)
   * @param neighbourSim   the matching similarities
   * @param popularity     train counts, for the tie-breaker
   */
  constructor(
    readonly neighbourIndex: Int32Array[],
    readonly neighbourSim: Float32Array[],
    readonly popularity: Float32Array,
    readonly options: Required<ItemKnnOptions>,
  ) {
    this.numItems = popularity.length;
  }

  static fit(trainSequences: readonly (readonly number[])[], numItems: number, options: ItemKnnOptions = {}): ItemKnnRanker {
    const o = withDefaults(ITEM_KNN_DEFAULTS, options);
    const popularity = itemCounts(trainSequences, numItems);
    const userCounts = new Float32Array(numItems); // c_i: users having item i
    const together: Map<number, number>[] = Array.from({ length: numItems }, () => new Map());
    for (const seq of trainSequences) {
      const items = [...new Set(seq)];
      for (const i of items) userCounts[i]! += 1;
      for (let a = 0; a < items.length; a++) {
        for (let b = a + 1; b < items.length; b++) {
          const i = items[a]!;
          const j = items[b]!;
          together[i]!.set(j, (together[i]!.get(j) ?? 0) + 1);
          together[j]!.set(i, (together[j]!.get(i) ?? 0) + 1);
        }
      }
    }
    const neighbourIndex: Int32Array[] = [];
    const neighbourSim: Float32Array[] = [];
    for (let i = 0; i < numItems; i++) {
      const sims = [...together[i]!].map(([j, c]) => [j, c / Math.sqrt(userCounts[i]! * userCounts[j]!)] as const);
      sims.sort((x, y) => y[1] - x[1] || x[0] - y[0]);
      const kept = sims.slice(0, o.neighbours);
      neighbourIndex.push(Int32Array.from(kept, ([j]) => j));
      neighbourSim.push(Float32Array.from(kept, ([, s]) => s));
      together[i] = new Map(); // free as we go: the pair maps are the big part
    }
    return new ItemKnnRanker(neighbourIndex, neighbourSim, popularity, o);
  }

  scores(histories: readonly (readonly number[])[]): Float32Array[] {
    const maxCount = Math.max(1, ...this.popularity);
    return histories.map((history) => {
      const row = new Float32Array(this.numItems);
      for (let i = 0; i < row.length; i++) row[i] = (POPULARITY_TIE_BREAK * this.popularity[i]!) / maxCount;
      let weight = 1;
      for (let t = history.length - 1; t >= 0; t--, weight *= this.options.recencyDecay) {
        const h = history[t]!;
        const idx = this.neighbourIndex[h];
        if (!idx) continue; // an item outside the fitted catalogue contributes nothing
        const sim = this.neighbourSim[h]!;
        for (let n = 0; n < idx.length; n++) row[idx[n]!]! += weight * sim[n]!;
      }
      return row;
    });
  }
}

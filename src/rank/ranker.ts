/**
 * The upstream ranker: anything that scores every catalogue item for a user's history.
 *
 * GR2 re-ranks short lists; the lists come from an upstream ranker (docs/architecture.md,
 * Protocol). SASRec is the default, popularity and item-KNN are the simple alternatives, and a
 * user may bring their own lists instead (src/rank/candidates.ts). Everything downstream (candidate lists, full
 * ranking metrics) only needs `scores`, so every ranker implements just this.
 */

export interface Ranker {
  /** Short name used in reports and checkpoints ("sasrec", "popularity", "item-knn"). */
  readonly name: string;
  /** Catalogue size: each score row has this many entries, indexed by dense item index. */
  readonly numItems: number;
  /**
   * One score row per history (higher = more likely next). Items of the history are not
   * masked here; callers exclude them (`rankOfTarget`, `topItems`). Callers pass modest
   * batches (see `scoreInBatches`), so rankers need not batch internally.
   */
  scores(histories: readonly (readonly number[])[]): Float32Array[];
}

/** Default number of histories scored at once: bounds memory at batch × items floats. */
export const SCORE_BATCH = 256;

/**
 * Scores `histories` in batches and hands each batch's rows to `visit` (with the index of the
 * batch's first history), so that at most `batch` score rows are alive at any time.
 */
export function scoreInBatches(
  ranker: Ranker,
  histories: readonly (readonly number[])[],
  visit: (rows: Float32Array[], offset: number) => void,
  { batch = SCORE_BATCH, onProgress }: { batch?: number; onProgress?: (done: number, total: number) => void } = {},
): void {
  for (let start = 0; start < histories.length; start += batch) {
    const slice = histories.slice(start, start + batch);
    visit(ranker.scores(slice), start);
    onProgress?.(Math.min(start + batch, histories.length), histories.length);
  }
}

/**
 * The total order every ranker's scores are read in: score descending, then item index
 * ascending. Ties are therefore broken the same way in candidate lists and full-ranking metrics.
 */
export function outranks(scores: Float32Array, a: number, b: number): boolean {
  const sa = scores[a]!;
  const sb = scores[b]!;
  return sa > sb || (sa === sb && a < b);
}

/**
 * The 1-based rank of `target` among all items not in `history` (the full-ranking protocol).
 * NaN scores are treated as -Infinity so a broken ranker cannot look good.
 */
export function rankOfTarget(scores: Float32Array, history: readonly number[], target: number): number {
  const excluded = new Set(history);
  excluded.delete(target);
  const t = clean(scores[target]!);
  let rank = 1;
  for (let i = 0; i < scores.length; i++) {
    if (i === target || excluded.has(i)) continue;
    const s = clean(scores[i]!);
    if (s > t || (s === t && i < target)) rank++;
  }
  return rank;
}

/**
 * The `k` best items by `outranks` order, skipping `exclude`. A bounded insertion list: O(n·k)
 * worst case but O(n) in practice for k = 10, without sorting the whole catalogue.
 */
export function topItems(scores: Float32Array, k: number, exclude: ReadonlySet<number>): number[] {
  const best: number[] = [];
  const bestScore: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (exclude.has(i)) continue;
    const s = clean(scores[i]!);
    // Equal scores keep index order because i only grows: a later item never outranks on ties.
    if (best.length === k && s <= bestScore[k - 1]!) continue;
    let j = best.length < k ? best.length : k - 1;
    while (j > 0 && s > bestScore[j - 1]!) j--;
    best.splice(j, 0, i);
    bestScore.splice(j, 0, s);
    if (best.length > k) {
      best.pop();
      bestScore.pop();
    }
  }
  return best;
}

const clean = (x: number): number => (Number.isNaN(x) ? -Infinity : x);

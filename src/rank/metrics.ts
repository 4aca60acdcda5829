/**
 * Ranking metrics for one relevant item per user (leave-one-out), computed from the 1-based
 * rank r of that item:
 *
 *   Recall@k = [r ≤ k]          NDCG@k = [r ≤ k] / log2(r + 1)          MRR = 1 / r
 *
 * (With one relevant item the ideal DCG is 1, so NDCG@k is just the discounted gain.) Metrics
 * are kept per user as well as averaged, because the bootstrap intervals and the paired
 * differences resample users.
 */
import { rankOfTarget, scoreInBatches, type Ranker } from "./ranker.js";

/** Metrics reported on the re-ranked K = 10 lists. */
export const RERANK_METRICS = ["recall@1", "recall@3", "recall@5", "ndcg@3", "ndcg@5", "ndcg@10", "mrr"] as const;
/** Metrics reported for the upstream ranker over the whole catalogue. */
export const FULL_RANKING_METRICS = ["recall@5", "recall@10", "ndcg@5", "ndcg@10"] as const;

export type MetricName = `recall@${number}` | `ndcg@${number}` | "mrr";

/** The value of one metric for a user whose relevant item sits at 1-based `rank`. */
export function metricAtRank(metric: MetricName, rank: number): number {
  if (!(Number.isInteger(rank) && rank >= 1)) throw new RangeError(`rank must be an integer ≥ 1, got ${rank}`);
  if (metric === "mrr") return 1 / rank;
  const [kind, at] = metric.split("@") as [string, string];
  const k = Number(at);
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`metric "${metric}": the cut-off must be a positive integer`);
  if (rank > k) return 0;
  if (kind === "recall") return 1;
  if (kind === "ndcg") return 1 / Math.log2(rank + 1);
  throw new RangeError(`unknown metric "${metric}" (expected recall@k, ndcg@k or mrr)`);
}

/** Per-user values of each metric: name → Float64Array parallel to `ranks`. */
export function perUserMetrics<M extends MetricName>(ranks: ArrayLike<number>, metrics: readonly M[]): Record<M, Float64Array> {
  const out = {} as Record<M, Float64Array>;
  for (const m of metrics) {
    const values = new Float64Array(ranks.length);
    for (let u = 0; u < ranks.length; u++) values[u] = metricAtRank(m, ranks[u]!);
    out[m] = values;
  }
  return out;
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length === 0 ? NaN : s / values.length;
}

/** Mean of each metric over users. */
export function meanMetrics<M extends MetricName>(ranks: ArrayLike<number>, metrics: readonly M[]): Record<M, number> {
  const per = perUserMetrics(ranks, metrics);
  return Object.fromEntries(metrics.map((m) => [m, mean(per[m])])) as Record<M, number>;
}

export type FullRankingMetrics = Record<(typeof FULL_RANKING_METRICS)[number], number> & { users: number };

/** 1-based rank of each example's target among all items minus its history. */
export function fullRankingRanks(
  ranker: Ranker,
  examples: readonly { history: readonly number[]; target: number }[],
  onProgress?: (done: number, total: number) => void,
): Int32Array {
  const ranks = new Int32Array(examples.length);
  scoreInBatches(
    ranker,
    examples.map((e) => e.history),
    (rows, offset) => rows.forEach((row, i) => (ranks[offset + i] = rankOfTarget(row, examples[offset + i]!.history, examples[offset + i]!.target))),
    { onProgress },
  );
  return ranks;
}

/** Recall@5/10 and NDCG@5/10 of a ranker over the whole catalogue (history excluded). */
export function fullRankingMetrics(
  ranker: Ranker,
  examples: readonly { history: readonly number[]; target: number }[],
  onProgress?: (done: number, total: number) => void,
): FullRankingMetrics {
  const ranks = fullRankingRanks(ranker, examples, onProgress);
  return { ...meanMetrics(ranks, FULL_RANKING_METRICS), users: examples.length };
}

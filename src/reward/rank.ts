/**
 * GR2's verifiable rewards for re-ranking (paper §RL; technical report §rewards).
 *
 * Notation: D is the candidate list (|D| = K), x* the target item, rank_pre(x*) its 1-based
 * position in the incoming (upstream) order and rank_re(x*) its position in the model's output.
 *
 *   R_rank = (rank_pre(x*) − rank_re(x*)) / |D|                               (promotion)
 *   R_fmt  = 1 if the output parses to a valid permutation of D, else 0      (format)
 *   R      = R_rank + α·R_fmt   if R_rank > 0 or rank_pre(x*) = 1            (conditional)
 *          = R_rank             otherwise
 *
 * Why conditional: with the naive R_rank + α·R_fmt, copying the incoming order earns α for
 * free on every list (R_rank = 0), and a policy drifts to copying. Under the conditional form
 * a copy earns the format bonus only when the incoming order already had the target on top.
 * Invalid outputs get a fixed penalty (default −1) and stay in their group.
 */

export interface RankOutcome {
  /** 1-based position of the target in the incoming order. */
  rankPre: number;
  /** 1-based position of the target in the model's order; null when the output is invalid. */
  rankRe: number | null;
  listSize: number;
}

export interface RewardConfig {
  /** α: weight of the format reward (paper: 0.2). */
  alpha: number;
  /** Reward of an output that does not parse to a valid permutation. */
  invalidPenalty: number;
}

export const DEFAULT_REWARD: RewardConfig = { alpha: 0.2, invalidPenalty: -1 };

/** R_rank = (rank_pre − rank_re) / |D|. */
export function R_rank(rank_pre: number, rank_re: number, listSize: number): number {
  return (rank_pre - rank_re) / listSize;
}

/** The paper's conditional reward. */
export function conditionalReward(o: RankOutcome, c: RewardConfig = DEFAULT_REWARD): number {
  if (o.rankRe === null) return c.invalidPenalty;
  const r = R_rank(o.rankPre, o.rankRe, o.listSize);
  const R_fmt = 1;
  return r > 0 || o.rankPre === 1 ? r + c.alpha * R_fmt : r;
}

/** The naive sum, hackable by copying the incoming order: exists for the ablation only. */
export function naiveReward(o: RankOutcome, c: RewardConfig = DEFAULT_REWARD): number {
  if (o.rankRe === null) return c.invalidPenalty;
  return R_rank(o.rankPre, o.rankRe, o.listSize) + c.alpha;
}

// ---- technical report: several (graded) positives --------------------------------------

/**
 * Per-list AUC: the share of (positive, negative) pairs the output orders correctly.
 * `order` lists candidate indices best first; `relevance[i] > 0` marks positives.
 */
export function aucReward(order: readonly number[], relevance: readonly number[]): number {
  let positivesSeen = 0;
  let correct = 0;
  let pairs = 0;
  const positives = relevance.filter((g) => g > 0).length;
  const negatives = relevance.length - positives;
  if (positives === 0 || negatives === 0) return 0;
  for (const i of order) {
    if (relevance[i]! > 0) positivesSeen++;
    else correct += positivesSeen; // every positive above this negative is a correctly ordered pair
  }
  pairs = positives * negatives;
  return correct / pairs;
}

/**
 * Graded NDCG@k of one re-ranked list, for lists with several positives (the technical report's
 * setting): gains 2^g − 1 discounted by log2(rank + 1), over the ideal order's top k.
 * `order` lists candidate indices best first; `relevance[i]` is candidate i's grade (0 = not
 * relevant). A list with no positive scores 0. With one positive of grade 1 this is `ndcg@k`;
 * the evaluation reports it at k = 5 (src/eval/evaluate.ts).
 */
export function gradedNdcg(order: readonly number[], relevance: readonly number[], k: number = order.length): number {
  const dcg = (grades: readonly number[]) => grades.slice(0, k).reduce((s, g, r) => s + (2 ** g - 1) / Math.log2(r + 2), 0);
  const ideal = dcg([...relevance].sort((a, b) => b - a));
  return ideal > 0 ? dcg(order.map((i) => relevance[i]!)) / ideal : 0;
}

/** Graded NDCG over the whole list with gains 2^g − 1. */
export function ndcgReward(order: readonly number[], relevance: readonly number[]): number {
  return gradedNdcg(order, relevance, order.length);
}

/**
 * Technical-report guard: the ranking reward is zeroed when the output is invalid, or when it
 * equals the incoming order while that order is not optimal (so copying cannot be rewarded).
 */
export function guardedListReward(
  order: readonly number[] | null,
  relevance: readonly number[],
  metric: (order: readonly number[], relevance: readonly number[]) => number,
): number {
  if (!order) return 0;
  const incoming = relevance.map((_, i) => i);
  const isIncoming = order.every((v, i) => v === incoming[i]);
  const incomingOptimal = metric(incoming, relevance) >= 1 - 1e-12;
  return isIncoming && !incomingOptimal ? 0 : metric(order, relevance);
}

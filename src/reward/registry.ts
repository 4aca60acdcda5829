/**
 * Every re-ranking reward by name (as verl registers its advantage estimators), so DAPO, the
 * reward ablation and any later stage choose one from configuration rather than by `if`.
 *
 * A reward sees one rollout's outcome: the model's order (incoming indices, best first; null
 * when the answer is not a valid permutation), the target's incoming position rank_pre, and,
 * for lists with several (graded) positives, a relevance grade per incoming candidate. A list
 * with one target has relevance 1 at rank_pre − 1 and 0 elsewhere (`relevanceOf`).
 *
 *   conditional  the paper's R_rank + α·R_fmt, the format bonus only when R_rank > 0 or the
 *                incoming order already had the target first                    (rank.ts)
 *   naive        R_rank + α·R_fmt everywhere: copying earns α (ablation only)     (rank.ts)
 *   auc          the report's per-list AUC over (positive, negative) pairs, guarded
 *   ndcg         the report's graded NDCG (gains 2^g − 1), guarded
 *
 * "Guarded" is the report's copy guard (`guardedListReward`): the ranking reward is 0 when the
 * output equals a non-optimal incoming order. An invalid output gets `invalidPenalty` under
 * every reward, so it ranks below every valid output of its group.
 */
import { aucReward, conditionalReward, DEFAULT_REWARD, guardedListReward, naiveReward, ndcgReward, type RewardConfig } from "./rank.js";

export interface RerankOutcome {
  /** The model's order (incoming indices, best first), or null when the answer is invalid. */
  order: readonly number[] | null;
  /** 1-based position of the target in the incoming order. */
  rankPre: number;
  listSize: number;
  /** Relevance grade per incoming candidate (several positives); absent = the one target. */
  relevance?: readonly number[];
}

export type RewardFn = (o: RerankOutcome, c: RewardConfig) => number;

/** rank_re: the 1-based place of the target (incoming index rank_pre − 1) in the model's order. */
export function rankRe(order: readonly number[] | null, rankPre: number): number | null {
  if (!order) return null;
  const at = order.indexOf(rankPre - 1);
  return at < 0 ? null : at + 1;
}

/** The outcome's relevance grades: given, or 1 for the target and 0 for the rest. */
export function relevanceOf(o: RerankOutcome): readonly number[] {
  return o.relevance ?? Array.from({ length: o.listSize }, (_, i) => (i === o.rankPre - 1 ? 1 : 0));
}

const listReward =
  (metric: (order: readonly number[], relevance: readonly number[]) => number): RewardFn =>
  (o, c) =>
    o.order ? guardedListReward(o.order, relevanceOf(o), metric) : c.invalidPenalty;

export const REWARDS = {
  conditional: (o, c) => conditionalReward({ rankPre: o.rankPre, rankRe: rankRe(o.order, o.rankPre), listSize: o.listSize }, c),
  naive: (o, c) => naiveReward({ rankPre: o.rankPre, rankRe: rankRe(o.order, o.rankPre), listSize: o.listSize }, c),
  auc: listReward(aucReward),
  ndcg: listReward(ndcgReward),
} satisfies Record<string, RewardFn>;

export type RewardName = keyof typeof REWARDS;
export const REWARD_NAMES = Object.keys(REWARDS) as RewardName[];

export function isRewardName(name: string): name is RewardName {
  return Object.hasOwn(REWARDS, name);
}

/** The reward registered as `name`; an unknown name is an error that lists the known ones. */
export function rewardByName(name: string): RewardFn {
  if (!isRewardName(name)) throw new Error(`unknown reward "${name}": expected one of ${REWARD_NAMES.join(", ")}`);
  return REWARDS[name];
}

/** Scores one outcome with the named reward (DEFAULT_REWARD's α and invalid penalty unless given). */
export function scoreOutcome(name: string, o: RerankOutcome, c: RewardConfig = DEFAULT_REWARD): number {
  return rewardByName(name)(o, c);
}

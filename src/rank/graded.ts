/**
 * Several graded positives per candidate list, the technical report's setting for its AUC and
 * graded NDCG rewards: besides the target (grade 2), a candidate the user went on to buy within
 * the next `window` interactions after it is a positive of grade 1.
 *
 * Only interactions inside the user's train prefix count (`sequence[0 .. n−3]`): a later
 * purchase that is the user's valid or test target is never a label, so a reward computed from
 * these grades cannot leak what evaluation measures. Lists at the valid position therefore keep
 * the target as their only positive; the time-cut train-prefix lists gain the extra ones.
 */
import type { CandidateList } from "./candidates.js";

export function gradedRelevance(list: Pick<CandidateList, "history" | "candidates" | "target">, sequence: readonly number[], window: number): number[] {
  const at = targetPosition(list, sequence);
  const trainEnd = sequence.length - 2; // indices ≥ trainEnd are the valid and test targets
  const later = new Set(at < 0 ? [] : sequence.slice(at + 1, Math.min(at + 1 + window, trainEnd)));
  return list.candidates.map((c) => (c === list.target ? 2 : later.has(c) ? 1 : 0));
}

/** Where the list's target sits in the user's sequence: right after its history, or −1 if the history does not match. */
function targetPosition(list: Pick<CandidateList, "history" | "target">, sequence: readonly number[]): number {
  const p = list.history.length;
  const matches = sequence[p] === list.target && list.history.every((h, i) => sequence[i] === h);
  return matches ? p : -1;
}

/**
 * A list re-ranker: given candidate lists, a score per candidate (higher = shown earlier).
 * Every baseline and, later, GR2 itself is evaluated through this one shape, so the metrics
 * code never knows which method it is looking at.
 */
import type { CandidateList } from "../candidates.js";

export interface ListReranker {
  /** Name in reports ("incoming", "random", "popularity", "listwise"). */
  readonly name: string;
  /** Per list, one score per candidate in incoming order. */
  scoreLists(lists: readonly CandidateList[]): Float32Array[];
}

/**
 * Candidate positions (0-based, incoming order) sorted by score descending; equal scores keep
 * the incoming order, so a re-ranker that has no opinion changes nothing.
 */
export function orderByScore(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => {
    const d = clean(scores[b]!) - clean(scores[a]!);
    return d !== 0 && !Number.isNaN(d) ? d : a - b;
  });
}

/** The re-ranked list of items. */
export function reorder(list: CandidateList, scores: ArrayLike<number>): number[] {
  return orderByScore(scores).map((i) => list.candidates[i]!);
}

/** Per list, the target's 1-based position after re-ranking by `scores`. */
export function rerankedRanks(lists: readonly CandidateList[], scores: readonly ArrayLike<number>[]): Int32Array {
  if (scores.length !== lists.length) throw new RangeError(`${scores.length} score rows for ${lists.length} lists`);
  const ranks = new Int32Array(lists.length);
  lists.forEach((list, l) => {
    const s = scores[l]!;
    if (s.length !== list.candidates.length) throw new RangeError(`list ${l} (user ${list.user}): ${s.length} scores for ${list.candidates.length} candidates`);
    const t = list.rankPre - 1;
    const st = clean(s[t]!);
    let rank = 1;
    for (let i = 0; i < s.length; i++) {
      const si = clean(s[i]!);
      if (i !== t && (si > st || (si === st && i < t))) rank++;
    }
    ranks[l] = rank;
  });
  return ranks;
}

/** The incoming positions as ranks (what "no re-ranking" scores). */
export function incomingRanks(lists: readonly CandidateList[]): Int32Array {
  return Int32Array.from(lists, (l) => l.rankPre);
}

const clean = (x: number): number => (Number.isNaN(x) ? -Infinity : x);

/**
 * The evidence probe: how much a plain listwise logistic scorer gains over the incoming order
 * from each evidence set (src/rank/evidence/), fit on learning lists and measured on test lists
 * with paired bootstrap intervals. The cheapest answer to "is the information that beats the
 * upstream ranker in what the prompt shows?", before any language model trains on it.
 */
import type { CandidateList } from "../rank/candidates.js";
import { orderByScore, rerankedRanks } from "../rank/baselines/reranker.js";
import type { EvidenceSet, EvidenceSource } from "../rank/evidence/features.js";
import { EvidenceScorer } from "../rank/evidence/scorer.js";
import { evaluateRanks, vsIncomingOf, type VsIncoming } from "./evaluate.js";

export interface EvidenceProbeRow {
  set: EvidenceSet;
  fit_lists: number;
  test_lists: number;
  "recall@1": number;
  "ndcg@5": number;
  /** Paired difference against the incoming order: [diff, lo, hi]. */
  vs_incoming: VsIncoming;
  /** Share of test lists whose head the scorer moves. */
  head_moved: number;
  weights: Record<string, number>;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export function evidenceProbe(source: EvidenceSource, fitLists: readonly CandidateList[], testLists: readonly CandidateList[], sets: readonly EvidenceSet[], seed = 0): EvidenceProbeRow[] {
  return sets.map((set) => {
    const scorer = EvidenceScorer.fit(source, fitLists, set);
    const scores = scorer.scoreLists(testLists);
    const m = evaluateRanks(testLists, [{ name: set, ranks: rerankedRanks(testLists, scores) }], { seed }).methods[0]!;
    return {
      set,
      fit_lists: fitLists.length,
      test_lists: testLists.length,
      "recall@1": r4(m.metrics["recall@1"].mean),
      "ndcg@5": r4(m.metrics["ndcg@5"].mean),
      vs_incoming: vsIncomingOf(m),
      head_moved: r4(scores.filter((s) => orderByScore(s)[0] !== 0).length / Math.max(1, scores.length)),
      weights: Object.fromEntries(scorer.model.features.map((f, i) => [f, scorer.model.weights[i]!])),
    };
  });
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { meanMetrics, metricAtRank, perUserMetrics, fullRankingMetrics } from "../../src/rank/metrics.js";
import { rankOfTarget, topItems } from "../../src/rank/ranker.js";
import { orderByScore, rerankedRanks } from "../../src/rank/baselines/reranker.js";
import type { CandidateList } from "../../src/rank/candidates.js";
import { FixedRanker } from "../rank/helpers.js";

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) < eps, `${a} ≠ ${b}`);

test("metrics at a rank match hand-computed values", () => {
  assert.equal(metricAtRank("recall@1", 1), 1);
  assert.equal(metricAtRank("recall@1", 2), 0);
  assert.equal(metricAtRank("recall@5", 5), 1);
  assert.equal(metricAtRank("recall@5", 6), 0);
  assert.equal(metricAtRank("ndcg@3", 1), 1);
  close(metricAtRank("ndcg@3", 2), 1 / Math.log2(3)); // 0.6309…
  close(metricAtRank("ndcg@3", 3), 0.5);
  assert.equal(metricAtRank("ndcg@3", 4), 0);
  close(metricAtRank("ndcg@10", 7), 1 / 3); // log2(8) = 3
  close(metricAtRank("mrr", 4), 0.25);
  assert.throws(() => metricAtRank("ndcg@3", 0), /rank must be an integer ≥ 1/);
  assert.throws(() => metricAtRank("map@3" as "mrr", 1), /unknown metric/);
});

test("means over users: ranks 1, 2, 4, 11", () => {
  const m = meanMetrics([1, 2, 4, 11], ["recall@1", "recall@3", "recall@5", "ndcg@5", "mrr"] as const);
  close(m["recall@1"], 0.25);
  close(m["recall@3"], 0.5);
  close(m["recall@5"], 0.75);
  close(m["ndcg@5"], (1 + 1 / Math.log2(3) + 1 / Math.log2(5)) / 4);
  close(m.mrr, (1 + 0.5 + 0.25 + 1 / 11) / 4);
  assert.deepEqual(Array.from(perUserMetrics([3], ["recall@3"] as const)["recall@3"]), [1]);
});

test("full ranking: the history is excluded and ties go to the lower item index", () => {
  const scores = Float32Array.from([0.9, 0.5, 0.8, 0.5, 0.1]);
  assert.equal(rankOfTarget(scores, [], 2), 2); // below item 0
  assert.equal(rankOfTarget(scores, [0], 2), 1); // item 0 is history
  assert.equal(rankOfTarget(scores, [], 3), 4); // tied with item 1, which has the lower index
  assert.equal(rankOfTarget(scores, [], 1), 3);
  assert.equal(rankOfTarget(Float32Array.from([NaN, 0.2]), [], 1), 1); // NaN never outranks
  assert.deepEqual(topItems(scores, 3, new Set([0])), [2, 1, 3]);
  assert.deepEqual(topItems(scores, 10, new Set()), [0, 2, 1, 3, 4]);

  const ranker = new FixedRanker(scores);
  const m = fullRankingMetrics(ranker, [
    { history: [0], target: 2 }, // rank 1
    { history: [], target: 4 }, // rank 5
  ]);
  close(m["recall@5"], 1);
  close(m["ndcg@5"], (1 + 1 / Math.log2(6)) / 2);
  assert.equal(m.users, 2);
});

test("re-ranked ranks: higher score first, ties keep the incoming order", () => {
  const list = (rankPre: number): CandidateList => ({ user: "u", split: "test", history: [], candidates: [10, 11, 12, 13], target: 9 + rankPre, rankPre, scores: null });
  assert.deepEqual(orderByScore([0.1, 0.9, 0.5, 0.9]), [1, 3, 2, 0]);
  const ranks = rerankedRanks([list(1), list(4), list(3)], [[0, 0, 0, 0], [0, 0, 0, 5], [1, 2, 3, NaN]]);
  assert.deepEqual(Array.from(ranks), [1, 1, 1]);
  assert.throws(() => rerankedRanks([list(1)], [[1, 2]]), /2 scores for 4 candidates/);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { aucReward, conditionalReward, DEFAULT_REWARD, naiveReward, ndcgReward } from "../../src/reward/rank.js";
import { isRewardName, rankRe, relevanceOf, REWARD_NAMES, rewardByName, scoreOutcome } from "../../src/reward/registry.js";

const K = 10;
const incoming = Array.from({ length: K }, (_, i) => i);
const promote = (target: number) => [target, ...incoming.filter((i) => i !== target)];

test("rank_re is the target's 1-based place in the order, null for an invalid answer", () => {
  assert.equal(rankRe(promote(4), 5), 1);
  assert.equal(rankRe(incoming, 5), 5);
  assert.equal(rankRe(null, 5), null);
  assert.equal(rankRe([1, 2, 3], 1), null); // the target is missing from a partial order
});

test("every registered name resolves; an unknown one is an error naming the known ones", () => {
  assert.deepEqual(REWARD_NAMES, ["conditional", "naive", "auc", "ndcg"]);
  for (const n of REWARD_NAMES) assert.equal(typeof rewardByName(n), "function");
  assert.equal(isRewardName("toString"), false);
  assert.throws(() => rewardByName("ndgc"), /unknown reward "ndgc": expected one of conditional, naive, auc, ndcg/);
});

test("conditional and naive through the registry equal the paper's formulas on rank_pre and rank_re", () => {
  for (const rankPre of [1, 3, 7]) {
    for (const order of [incoming, promote(rankPre - 1), [...incoming].reverse(), null]) {
      const o = { order, rankPre, listSize: K };
      const r = { rankPre, rankRe: rankRe(order, rankPre), listSize: K };
      assert.equal(scoreOutcome("conditional", o), conditionalReward(r));
      assert.equal(scoreOutcome("naive", o), naiveReward(r));
    }
  }
});

test("the list rewards: a copied non-optimal order earns nothing, a promotion earns the metric, an invalid answer the penalty", () => {
  for (const name of ["auc", "ndcg"] as const) {
    const metric = name === "auc" ? aucReward : ndcgReward;
    const o = { rankPre: 4, listSize: K };
    assert.equal(scoreOutcome(name, { ...o, order: incoming }), 0, `${name}: copy`);
    assert.equal(scoreOutcome(name, { ...o, order: promote(3) }), 1, `${name}: target first`);
    const mid = [0, 3, 1, 2, 4, 5, 6, 7, 8, 9];
    assert.equal(scoreOutcome(name, { ...o, order: mid }), metric(mid, relevanceOf({ ...o, order: mid })));
    assert.equal(scoreOutcome(name, { ...o, order: null }), DEFAULT_REWARD.invalidPenalty);
    // When the incoming order already is optimal, copying it is the right answer and is paid.
    assert.equal(scoreOutcome(name, { order: incoming, rankPre: 1, listSize: K }), 1);
  }
});

test("graded relevance: NDCG rewards putting the higher grade first", () => {
  const relevance = [0, 1, 0, 3, 0, 0, 2, 0, 0, 0];
  const best = [3, 6, 1, 0, 2, 4, 5, 7, 8, 9];
  const swapped = [6, 3, 1, 0, 2, 4, 5, 7, 8, 9];
  const at = (order: number[]) => scoreOutcome("ndcg", { order, rankPre: 4, listSize: K, relevance });
  assert.equal(at(best), 1);
  assert.ok(at(swapped) < at(best) && at(swapped) > 0);
  assert.equal(at(incoming), 0); // the incoming order is not optimal here: copying is guarded
  assert.ok(scoreOutcome("auc", { order: swapped, rankPre: 4, listSize: K, relevance }) === 1); // AUC only sees positive vs negative
});

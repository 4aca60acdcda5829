import { test } from "node:test";
import assert from "node:assert/strict";
import { aucReward, conditionalReward, guardedListReward, naiveReward, ndcgReward, R_rank } from "../../src/reward/rank.js";
import { monitor } from "../../src/reward/monitors.js";

const K = 10;

test("R_rank is the promotion of the target over the list length", () => {
  assert.equal(R_rank(5, 1, K), 0.4);
  assert.equal(R_rank(1, 3, K), -0.2);
});

test("the conditional reward gives the format bonus only for a promotion or an already-correct top-1", () => {
  assert.equal(conditionalReward({ rankPre: 5, rankRe: 2, listSize: K }), 0.3 + 0.2);
  assert.equal(conditionalReward({ rankPre: 1, rankRe: 1, listSize: K }), 0 + 0.2);
  // Copying the incoming order when the target is not on top: no bonus.
  assert.equal(conditionalReward({ rankPre: 4, rankRe: 4, listSize: K }), 0);
  assert.ok(Math.abs(conditionalReward({ rankPre: 2, rankRe: 6, listSize: K }) - -0.4) < 1e-12);
  assert.equal(conditionalReward({ rankPre: 3, rankRe: null, listSize: K }), -1);
});

test("the naive reward pays for copying the incoming order; the conditional one does not", () => {
  const copy = { rankPre: 4, rankRe: 4, listSize: K };
  assert.equal(naiveReward(copy), 0.2);
  assert.equal(conditionalReward(copy), 0);
  // A mild demotion beats nothing under the naive reward (the bonus hides it) but not under the conditional.
  assert.ok(naiveReward({ rankPre: 4, rankRe: 5, listSize: K }) > 0);
  assert.ok(conditionalReward({ rankPre: 4, rankRe: 5, listSize: K }) < 0);
});

test("AUC and graded NDCG over several positives", () => {
  assert.equal(aucReward([0, 1, 2, 3], [1, 1, 0, 0]), 1);
  assert.equal(aucReward([2, 3, 0, 1], [1, 1, 0, 0]), 0);
  assert.equal(aucReward([0, 2, 1, 3], [1, 1, 0, 0]), 0.75);
  assert.equal(ndcgReward([0, 1, 2], [2, 1, 0]), 1);
  const swapped = ndcgReward([1, 0, 2], [2, 1, 0]);
  const expected = (1 + 3 / Math.log2(3)) / (3 + 1 / Math.log2(3));
  assert.ok(Math.abs(swapped - expected) < 1e-12);
});

test("the guarded list reward is zero for an invalid output or a copy of a non-optimal incoming order", () => {
  const relevance = [0, 0, 1, 0];
  assert.equal(guardedListReward(null, relevance, ndcgReward), 0);
  assert.equal(guardedListReward([0, 1, 2, 3], relevance, ndcgReward), 0);
  assert.equal(guardedListReward([2, 0, 1, 3], relevance, ndcgReward), 1);
  // When the incoming order is already optimal, keeping it is right and is rewarded.
  assert.equal(guardedListReward([0, 1, 2, 3], [1, 0, 0, 0], ndcgReward), 1);
});

test("monitors count validity, copies and the shown position of the chosen top-1", () => {
  const s = monitor(
    [
      { order: [0, 1, 2] },
      { order: [2, 0, 1], shownPosition: [1, 2, 0] },
      { order: null },
      { order: [0, 2, 1] },
    ],
    3,
  );
  assert.equal(s.valid_rate, 0.75);
  assert.equal(s.identity_rate, 0.25);
  assert.deepEqual(s.top1_position_hist, [1, 0, 0]);
  assert.equal(s.identity_rate_nonoptimal, 0, "no list says where its target was");
});

test("copies of the incoming order are told apart by whether that order had the target first", () => {
  const s = monitor(
    [
      { order: [0, 1, 2], rankPre: 1 }, // right to keep the order
      { order: [0, 1, 2], rankPre: 3 }, // a copy that loses the target
      { order: [2, 0, 1], rankPre: 3 },
      { order: null, rankPre: 2 }, // invalid: counts in the denominator
    ],
    3,
  );
  assert.equal(s.identity_rate, 0.5);
  assert.equal(s.identity_rate_nonoptimal, 1 / 3);
});

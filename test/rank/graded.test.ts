import assert from "node:assert/strict";
import { test } from "node:test";
import { gradedRelevance } from "../../src/rank/graded.js";

// A user's sequence: train prefix 10..15, valid target 16, test target 17.
const seq = [10, 11, 12, 13, 14, 15, 16, 17];

test("the target is grade 2, candidates bought within the window after it grade 1, the rest 0", () => {
  const list = { history: [10, 11], target: 12, candidates: [20, 12, 14, 13, 21, 15] };
  assert.deepEqual(gradedRelevance(list, seq, 2), [0, 2, 1, 1, 0, 0]);
  assert.deepEqual(gradedRelevance(list, seq, 3), [0, 2, 1, 1, 0, 1]);
  assert.deepEqual(gradedRelevance(list, seq, 0), [0, 2, 0, 0, 0, 0]);
});

test("the valid and test targets are never labels: a valid list keeps one positive", () => {
  const train = { history: [10, 11, 12, 13], target: 14, candidates: [15, 16, 17, 14] };
  assert.deepEqual(gradedRelevance(train, seq, 10), [1, 0, 0, 2]);
  const valid = { history: seq.slice(0, 6), target: 16, candidates: [17, 16, 15] };
  assert.deepEqual(gradedRelevance(valid, seq, 10), [0, 2, 0]);
});

test("a list whose history does not match the sequence gets only its target", () => {
  const odd = { history: [99, 11], target: 12, candidates: [13, 12] };
  assert.deepEqual(gradedRelevance(odd, seq, 3), [0, 2]);
});

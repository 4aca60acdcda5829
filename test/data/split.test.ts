import assert from "node:assert/strict";
import { test } from "node:test";
import { DataError } from "../../src/data/errors.js";
import { lastTrainExamples, leaveOneOut, testWindow, trainExamples } from "../../src/data/split.js";

const interactions = { userIds: ["a", "b"], sequences: [[10, 11, 12, 13, 14], [20, 21, 22]] };

test("test = last, valid = second-to-last, train = s[0..n-3]", () => {
  const split = leaveOneOut(interactions);
  assert.deepEqual(split.train, [[10, 11, 12], [20]]);
  assert.deepEqual(split.valid, [
    { user: 0, history: [10, 11, 12], target: 13 },
    { user: 1, history: [20], target: 21 },
  ]);
  assert.deepEqual(split.test, [
    { user: 0, history: [10, 11, 12, 13], target: 14 },
    { user: 1, history: [20, 21], target: 22 },
  ]);
  assert.equal(split.skippedUsers, undefined);
});

test("no target of valid or test is inside the user's train prefix", () => {
  const split = leaveOneOut(interactions);
  for (const e of [...split.valid, ...split.test]) assert.ok(!split.train[e.user]!.includes(e.target));
});

test("maxHistory keeps the last L items of example histories, not of train prefixes", () => {
  const split = leaveOneOut(interactions, { maxHistory: 2 });
  assert.deepEqual(split.test[0], { user: 0, history: [12, 13], target: 14 });
  assert.deepEqual(split.valid[0], { user: 0, history: [11, 12], target: 13 });
  assert.deepEqual(split.train[0], [10, 11, 12]);
  assert.throws(() => leaveOneOut(interactions, { maxHistory: 0 }), RangeError);
});

test("trainExamples: every prefix s[0..k-1] → s[k] for k = 1..n-3", () => {
  const split = leaveOneOut(interactions);
  assert.deepEqual(trainExamples(split), [
    { user: 0, history: [10], target: 11 },
    { user: 0, history: [10, 11], target: 12 },
  ]);
  assert.deepEqual(trainExamples(split, { maxHistory: 1 })[1], { user: 0, history: [11], target: 12 });
});

test("lastTrainExamples: one per user, the last train position s[0..n-4] → s[n-3], never a valid or test target", () => {
  const split = leaveOneOut({ userIds: ["a", "b", "c"], sequences: [[10, 11, 12, 13, 14], [20, 21, 22], [30, 31, 32, 33]] });
  assert.deepEqual(lastTrainExamples(split), [
    { user: 0, history: [10, 11], target: 12 },
    { user: 2, history: [30], target: 31 },
  ]);
  assert.deepEqual(lastTrainExamples(split, { maxHistory: 1 })[0], { user: 0, history: [11], target: 12 });
  for (const e of lastTrainExamples(split)) assert.ok(trainExamples(split).some((t) => t.user === e.user && t.target === e.target && t.history.length === e.history.length), "it is one of the train examples");
});

test("users with fewer than 3 items are rejected clearly, or skipped and listed", () => {
  const short = { userIds: ["a", "b", "c"], sequences: [[1, 2, 3], [4, 5], [6, 7, 8, 9]] };
  assert.throws(() => leaveOneOut(short), (err: unknown) => err instanceof DataError && /user "b" \(index 1\) has 2 item\(s\); leave-one-out needs at least 3/.test(err.message));
  const split = leaveOneOut(short, { skipShortUsers: true });
  assert.deepEqual(split.skippedUsers, [1]);
  assert.deepEqual(split.train, [[1], [], [6, 7]]);
  assert.deepEqual(split.test.map((e) => e.user), [0, 2]);
});

test("a test window sets each user's last W − 1 items aside: leave-one-out on the rest tests s[n−W], the window is its later items", () => {
  const { interactions: left, later } = testWindow(interactions, 3);
  // a: 5 items, two set aside; b: 3 items, the minimum a split needs, none set aside.
  assert.deepEqual(left.sequences, [[10, 11, 12], [20, 21, 22]]);
  assert.deepEqual(later, [[13, 14], []]);
  assert.deepEqual(left.userIds, interactions.userIds);
  const split = leaveOneOut(left);
  assert.deepEqual(split.test[0], { user: 0, history: [10, 11], target: 12 });
  // Nothing set aside is trained on or seen: the train prefix ends before the valid target.
  assert.deepEqual(split.train[0], [10]);
  assert.ok(!split.train.flat().some((i) => later.flat().includes(i)));
  // W = 1 is plain leave-one-out.
  assert.deepEqual(testWindow(interactions, 1).interactions.sequences, interactions.sequences);
  assert.throws(() => testWindow(interactions, 0), /test window must be an integer ≥ 1/);
});

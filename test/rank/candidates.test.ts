import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { buildCandidateLists, parseNegatives, readCandidateLists, writeCandidateLists, type CandidateList } from "../../src/rank/candidates.js";
import { assertDataError, FixedRanker, tempDir } from "./helpers.js";

// 30 items; item i scores 30 - i, so the ranker's order is 0, 1, 2, …
const N = 30;
const ranker = new FixedRanker(Float32Array.from({ length: N }, (_, i) => N - i));
const itemIds = Array.from({ length: N }, (_, i) => `sku-${i}`);
const userIds = ["alice", "bob", "carol"];

test("top negatives: the target plus the 9 best non-history items, in score order", () => {
  const { lists, fullRanks } = buildCandidateLists(
    ranker,
    [
      { user: 0, history: [0, 2], target: 20 }, // target outside the top: it comes last
      { user: 1, history: [1], target: 3 }, // target inside the top 9: the list is the top 10
    ],
    "test",
    userIds,
    { negatives: { kind: "top" } },
  );
  assert.deepEqual(lists[0]!.candidates, [1, 3, 4, 5, 6, 7, 8, 9, 10, 20]);
  assert.equal(lists[0]!.rankPre, 10);
  assert.equal(lists[0]!.user, "alice");
  assert.deepEqual(lists[0]!.scores, [29, 27, 26, 25, 24, 23, 22, 21, 20, 10]);
  assert.deepEqual(lists[1]!.candidates, [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(lists[1]!.rankPre, 3);
  assert.deepEqual(Array.from(fullRanks), [19, 3]); // 18 items (0–19 minus the history) outrank item 20
});

test("hits (the default): the ranker's top 10, only for users whose target is in it; full ranks for everyone", () => {
  const examples = [
    { user: 0, history: [0, 2], target: 20 }, // the ranker ranks it 19th: no list
    { user: 1, history: [1], target: 3 }, // 3rd: the list is the ranker's top 10
    { user: 2, history: [], target: 9 }, // 10th: the last place that still counts as a hit
    { user: 0, history: [], target: 10 }, // 11th: no list
  ];
  const { lists, fullRanks } = buildCandidateLists(ranker, examples, "test", userIds);
  assert.deepEqual(Array.from(fullRanks), [19, 3, 10, 11]);
  assert.deepEqual(lists.map((l) => l.user), ["bob", "carol"]);
  assert.deepEqual(lists[0]!.candidates, [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(lists[0]!.rankPre, 3);
  assert.deepEqual(lists[1]!.candidates, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(lists[1]!.rankPre, 10);
  // Where it keeps a list, `hits` is the same list as `top`: the protocol only drops the misses.
  const top = buildCandidateLists(ranker, examples, "test", userIds, { negatives: parseNegatives("top") }).lists;
  assert.deepEqual([top[1], top[2]], lists);
});

test("pool and random negatives: seeded, outside the history, still in score order", () => {
  const examples = [{ user: 2, history: [0, 1, 2], target: 5 }];
  for (const spec of ["pool:15", "random"]) {
    const negatives = parseNegatives(spec);
    const a = buildCandidateLists(ranker, examples, "valid", userIds, { negatives, seed: 4 }).lists[0]!;
    const b = buildCandidateLists(ranker, examples, "valid", userIds, { negatives, seed: 4 }).lists[0]!;
    assert.deepEqual(a, b);
    assert.equal(a.candidates.length, 10);
    assert.ok(a.candidates.includes(5));
    assert.ok(a.candidates.every((c) => c > 2), "history items never appear");
    assert.deepEqual(a.candidates, [...a.candidates].sort((x, y) => x - y), "score order");
    if (spec === "pool:15") assert.ok(a.candidates.every((c) => c <= 18), "negatives from the 15 best (3, 4, 6, …, 18)");
  }
  assert.throws(() => parseNegatives("best"), /expected hits, top, pool:P or random/);
  assert.throws(() => buildCandidateLists(ranker, examples, "valid", userIds, { negatives: { kind: "pool", size: 4 } }), /smaller than the 9 negatives/);
});

test("written lists read back identical (round trip through the JSONL artefact)", () => {
  const { lists } = buildCandidateLists(
    ranker,
    [
      { user: 0, history: [4], target: 12 },
      { user: 1, history: [], target: 0 },
    ],
    "valid",
    userIds,
    { negatives: { kind: "top" } },
  );
  const path = join(tempDir(), "candidates.jsonl");
  writeCandidateLists(path, lists, itemIds);
  const back = readCandidateLists(path, itemIds);
  assert.deepEqual(back, lists);
  assert.deepEqual(readCandidateLists(path, itemIds, { splits: ["test"] }), []);
  const first = JSON.parse(readFileSync(path, "utf8").split("\n")[0]!);
  assert.deepEqual(Object.keys(first), ["user", "split", "history", "candidates", "target", "rank_pre", "scores"]);
  assert.equal(first.target, "sku-12");
});

test("malformed lines are rejected with file:line and what is wrong", () => {
  const dir = tempDir();
  const good = (o: Partial<Record<string, unknown>> = {}) =>
    JSON.stringify({ user: "u1", split: "test", history: ["sku-1"], candidates: ["sku-2", "sku-3", "sku-4"], target: "sku-3", rank_pre: 2, scores: [3, 2, 1], ...o });
  const cases: [string, string, RegExp][] = [
    ["{not json", "", /not valid JSON/],
    [good({ target: "sku-9" }), "", /"target" "sku-9" is not among "candidates"/],
    [good({ rank_pre: 1 }), "", /"rank_pre" is 1 but the target is candidate 2/],
    [good({ candidates: ["sku-2", "sku-3", "nope"] }), "", /names item "nope", which is not in the catalogue/],
    [good({ candidates: ["sku-2", "sku-3", "sku-3"] }), "", /names an item twice/],
    [good({ scores: [1, 2, 3] }), "", /must not increase/],
    [good({ split: "training" }), "", /"split" must be "train", "valid", "test", got "training"/],
    [good({ history: "sku-1" }), "", /"history" must be an array/],
    [good({ user: "" }), "", /"user" must be an id/],
    [good(), good({ candidates: ["sku-2", "sku-3"], scores: null, rank_pre: 2 }), /"candidates" has 2 items; earlier lines have 3/],
    [good(), good(), /second "test" list/],
  ];
  cases.forEach(([first, second, expected], i) => {
    const path = join(dir, `bad-${i}.jsonl`);
    writeFileSync(path, second ? `${first}\n\n${second}\n` : `${first}\n`);
    assertDataError(() => readCandidateLists(path, itemIds), `bad-${i}.jsonl`, second ? 3 : 1, expected);
  });
  // Lists without scores (a user's own upstream) are fine; integer ids are read as strings.
  const path = join(dir, "own.jsonl");
  writeFileSync(path, `${good({ scores: undefined })}\n`);
  const [list] = readCandidateLists(path, itemIds) as [CandidateList];
  assert.equal(list.scores, null);
  assert.equal(list.rankPre, 2);
  assertDataError(() => readCandidateLists(path, itemIds, { size: 10 }), "own.jsonl", 1, /expected 10/);
});

test("later items (a test window): more lists under hits, graded positives, the first retrieved item as target", () => {
  const examples = [
    { user: 0, history: [0, 2], target: 20 }, // target missed; a later item (5) is in the top 10: a list with 5 as target
    { user: 1, history: [1], target: 3 }, // target in the top 10 and one later item (7) too
    { user: 2, history: [], target: 15 }, // target and later items all missed: no list
  ];
  const later = [[25, 5, 8], [7, 28], [16, 17]];
  const { lists, fullRanks } = buildCandidateLists(ranker, examples, "test", userIds, { later });
  assert.deepEqual(lists.map((l) => l.user), ["alice", "bob"]);
  assert.deepEqual(Array.from(fullRanks), [19, 3, 16]); // still the example's own target
  const [a, b] = lists as [CandidateList, CandidateList];
  assert.deepEqual(a.candidates, [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(a.target, 5);
  assert.equal(a.rankPre, 4);
  assert.deepEqual(a.grades, [0, 0, 0, 2, 0, 0, 1, 0, 0, 0]); // 8 is a later positive too; 20 and 25 are not in the list
  assert.equal(b.target, 3);
  assert.deepEqual(b.grades, [0, 0, 2, 0, 0, 0, 1, 0, 0, 0]);
  // Without later items nothing changes: no grades, the same lists as plain hits.
  const plain = buildCandidateLists(ranker, examples, "test", userIds).lists;
  assert.deepEqual(plain.map((l) => l.user), ["bob"]);
  assert.equal(plain[0]!.grades, undefined);
});

test("grades travel through the JSONL file and are checked line by line", () => {
  const dir = tempDir();
  const path = join(dir, "graded.jsonl");
  const list: CandidateList = { user: "alice", split: "test", history: [0], candidates: [1, 2, 3], target: 2, rankPre: 2, scores: null, grades: [1, 2, 0] };
  writeCandidateLists(path, [list], itemIds);
  assert.deepEqual(readCandidateLists(path, itemIds), [list]);
  const line = (grades: unknown) => JSON.stringify({ user: "bob", split: "test", history: ["sku-0"], candidates: ["sku-1", "sku-2", "sku-3"], target: "sku-2", rank_pre: 2, grades });
  writeFileSync(path, `${line([0, 1, 0])}\n${line([0, 1])}\n`);
  assertDataError(() => readCandidateLists(path, itemIds), path, 2, /"grades" must be 3 numbers ≥ 0/);
  writeFileSync(path, `${line([0, 1, 0])}\n${line([2, 1, 0])}\n`);
  assertDataError(() => readCandidateLists(path, itemIds), path, 2, /the target \(candidate 2\) must have the highest grade/);
  writeFileSync(path, `${line([0, 1, 0])}\n`);
  assert.deepEqual(readCandidateLists(path, itemIds)[0]!.grades, [0, 1, 0]);
});

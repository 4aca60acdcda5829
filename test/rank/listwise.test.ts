import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluateRerankers } from "../../src/eval/evaluate.js";
import { loadListwise, saveListwise, trainListwise, holdOutUsers } from "../../src/rank/baselines/listwise-train.js";
import { IncomingOrder, PopularityResort, RandomOrder } from "../../src/rank/baselines/simple.js";
import { standardisedScores } from "../../src/rank/baselines/listwise.js";
import { itemCounts } from "../../src/rank/popularity.js";
import { itemTextFeatures } from "../../src/rank/text-features.js";
import { shuffledLists, syntheticSplit, tempDir } from "./helpers.js";

test("the listwise re-ranker beats an uninformative incoming order (R@1 and NDCG@5, intervals above zero)", () => {
  const { dataset, split, numItems } = syntheticSplit(700, 120, 5);
  // Incoming order = a random shuffle of target + 9 random items: only content can help.
  const valid = shuffledLists(split.valid, numItems, "valid", 1);
  const testLists = shuffledLists(split.test, numItems, "test", 2);
  const text = itemTextFeatures(dataset.catalogue.items, { dim: 16 });
  const trained = trainListwise(valid, numItems, text, { hidden: 32, layers: 1, heads: 2, ffn: 64, dropout: 0.1, usePosition: false }, { epochs: 12, batchSize: 64, lr: 3e-3, seed: 3, patience: 4 });
  assert.equal(trained.trainLists + trained.heldOutLists, valid.length);

  const ev = evaluateRerankers(testLists, [new IncomingOrder(), new RandomOrder(1), new PopularityResort(itemCounts(split.train, numItems)), trained.reranker], { samples: 300, seed: 1 });
  const listwise = ev.methods.find((m) => m.name === "listwise")!;
  const incoming = ev.methods.find((m) => m.name === "incoming")!;
  assert.ok(listwise.metrics["recall@1"].mean > incoming.metrics["recall@1"].mean + 0.1, `R@1 ${listwise.metrics["recall@1"].mean} vs ${incoming.metrics["recall@1"].mean}`);
  assert.ok(listwise.vsIncoming["recall@1"].lo > 0, `R@1 difference interval ${JSON.stringify(listwise.vsIncoming["recall@1"])}`);
  assert.ok(listwise.vsIncoming["ndcg@5"].lo > 0, `NDCG@5 difference interval ${JSON.stringify(listwise.vsIncoming["ndcg@5"])}`);
  assert.equal(incoming.vsIncoming["ndcg@5"].mean, 0);
  assert.equal(listwise.positions.reduce((a, b) => a + b, 0), testLists.length);

  // Checkpoint round trip: same scores after save + load.
  const dir = tempDir();
  saveListwise(dir, trained);
  const back = loadListwise(dir);
  const some = testLists.slice(0, 5);
  const a = trained.reranker.scoreLists(some).map((r) => Array.from(r));
  const b = back.scoreLists(some).map((r) => Array.from(r));
  a.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - b[i]![j]!) < 1e-5)));
  back.model.dispose();
  trained.reranker.model.dispose();
});

test("held-out users are a seeded share of users, disjoint from the training lists", () => {
  const lists = Array.from({ length: 100 }, (_, u) => ({ user: `u${u}`, split: "valid" as const, history: [], candidates: [0, 1], target: 0, rankPre: 1, scores: null }));
  const a = holdOutUsers(lists, 0.1, 4);
  const b = holdOutUsers(lists, 0.1, 4);
  assert.equal(a.heldOut.length, 10);
  assert.deepEqual(a, b);
  const held = new Set(a.heldOut.map((l) => l.user));
  assert.ok(a.train.every((l) => !held.has(l.user)));
});

test("upstream scores reach the model as z-scores within each list (zeros when absent)", () => {
  const list = (scores: number[] | null) => ({ user: "u", split: "test" as const, history: [], candidates: [0, 1, 2], target: 0, rankPre: 1, scores });
  const z = standardisedScores([list([3, 2, 1]), list(null), list([5, 5, 5])], 3, "cpu").toArray();
  const s = Math.sqrt(1.5);
  [s, 0, -s, 0, 0, 0, 0, 0, 0].forEach((x, i) => assert.ok(Math.abs(z[i]! - x) < 1e-6, `${z}`));
});

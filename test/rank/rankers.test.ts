import assert from "node:assert/strict";
import { test } from "node:test";
import { fullRankingMetrics } from "../../src/rank/metrics.js";
import { loadRanker, saveRanker } from "../../src/rank/checkpoint.js";
import { ItemKnnRanker } from "../../src/rank/item-knn.js";
import { itemCounts, PopularityRanker } from "../../src/rank/popularity.js";
import { SasrecRanker } from "../../src/rank/sasrec.js";
import { trainingSequences, trainSasrec } from "../../src/rank/sasrec-train.js";
import { liveTensors } from "../../src/torch/index.js";
import { syntheticSplit, tempDir } from "./helpers.js";

const meta = { trainedOn: { dataset: "synthetic", split: "train" as const, users: 0, items: 0 } };

test("training data comes from the train prefixes only: inputs s[0..n-2] → targets s[1..n-1]", () => {
  const seqs = trainingSequences([[1, 2, 3, 4], [5], [6, 7]], 2);
  assert.deepEqual(seqs, [
    { inputs: [2, 3], targets: [3, 4] }, // the last maxLen + 1 items
    { inputs: [6], targets: [7] },
  ]);
  assert.deepEqual(Array.from(itemCounts([[0, 1], [1]], 3)), [1, 2, 0]);
  assert.throws(() => itemCounts([[5]], 3), /outside the catalogue/);
});

test("SASRec learns the planted sequential structure: it beats popularity and item-KNN on a synthetic catalogue", () => {
  const { split, numItems } = syntheticSplit(800, 150, 3);
  const before = liveTensors();
  const result = trainSasrec(split, numItems, { hidden: 32, layers: 1, heads: 1, ffn: 64, dropout: 0.2, maxLen: 20 }, { epochs: 8, batchSize: 64, lr: 3e-3, evalEvery: 4, seed: 1 });
  const sasrec = new SasrecRanker(result.model);
  const ours = fullRankingMetrics(sasrec, split.test);
  const popularity = fullRankingMetrics(PopularityRanker.fit(split.train, numItems), split.test);
  assert.ok(ours["ndcg@10"] > popularity["ndcg@10"] + 0.03, `sasrec ndcg@10 ${ours["ndcg@10"]} vs popularity ${popularity["ndcg@10"]}`);
  assert.ok(ours["recall@10"] > popularity["recall@10"], `sasrec recall@10 ${ours["recall@10"]} vs popularity ${popularity["recall@10"]}`);
  assert.ok(result.log.length >= 1 && result.bestValid !== null);

  // Checkpoint round trip: the same scores after save + load.
  const dir = tempDir();
  saveRanker(dir, sasrec, meta);
  const { ranker: loaded, manifest } = loadRanker(dir);
  assert.equal(manifest.kind, "sasrec");
  const h = [split.test[0]!.history, split.test[1]!.history];
  assert.deepEqual(loaded.scores(h).map((r) => Array.from(r)), sasrec.scores(h).map((r) => Array.from(r)));
  (loaded as SasrecRanker).model.dispose();
  result.model.dispose();
  assert.equal(liveTensors(), before, "training and scoring leave no tensors behind");
});

test("the paper's loss (BCE with one sampled negative) trains too", () => {
  const { split, numItems } = syntheticSplit(300, 80, 4);
  const r = trainSasrec(split, numItems, { hidden: 16, layers: 1, heads: 1, ffn: 16, dropout: 0.2, maxLen: 10 }, { epochs: 4, batchSize: 64, lr: 5e-3, evalEvery: 4, loss: "bce", seed: 2 });
  const losses = r.log.map((e) => e.loss);
  assert.ok(losses.every(Number.isFinite));
  assert.ok(losses[losses.length - 1]! < losses[0]!, `loss should fall: ${losses}`);
  assert.ok(losses[0]! < 1.5, "BCE starts near 2·ln 2 ≈ 1.39, not at the softmax's ln(items)");
  r.model.dispose();
});

test("item-KNN recommends co-bought items and survives a checkpoint round trip", () => {
  // Items 0 and 1 always go together; 2 and 3 together; 4 is popular noise.
  const train = [[0, 1, 4], [0, 1], [2, 3, 4], [2, 3], [1, 0, 4]];
  const knn = ItemKnnRanker.fit(train, 5);
  const [row] = knn.scores([[0]]) as [Float32Array];
  assert.ok(row[1]! > row[4]! && row[4]! > row[2]!, `scores ${Array.from(row)}`);
  const pop = PopularityRanker.fit(train, 5);
  for (const ranker of [knn, pop]) {
    const dir = tempDir();
    saveRanker(dir, ranker, meta);
    const { ranker: back } = loadRanker(dir);
    assert.equal(back.name, ranker.name);
    assert.deepEqual(Array.from(back.scores([[2, 0]])[0]!), Array.from(ranker.scores([[2, 0]])[0]!));
  }
  assert.throws(() => loadRanker(tempDir()), /ranker\.json: not found/);
});

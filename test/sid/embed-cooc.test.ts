import { test } from "node:test";
import assert from "node:assert/strict";
import { cooccurrenceCounts, ppmi, coocEmbeddings } from "../../src/sid/embed-cooc.js";
import { csrToDense } from "../../src/sid/matrix.js";
import { Rng } from "../../src/sid/rng.js";
import { cosine } from "./helpers.js";

test("co-occurrence counts are symmetric, windowed and 1/distance weighted; repeats are ignored", () => {
  const c = csrToDense(cooccurrenceCounts([[0, 1, 2, 0], [3, 3]], 5, 2));
  const at = (i: number, j: number) => c.data[i * 5 + j]!;
  assert.equal(at(0, 1), 1 + 0.5); // adjacent in "0 1", and 1 ← 0 two apart at the end ("1 2 0")
  assert.equal(at(1, 0), at(0, 1));
  assert.equal(at(0, 2), 0.5 + 1); // "0 _ 2" and "2 0"
  assert.equal(at(3, 3), 0);
  assert.equal(at(4, 0), 0);
  assert.throws(() => cooccurrenceCounts([[7]], 5), /item index 7 out of range/);
});

test("ppmi keeps only positive associations", () => {
  const m = csrToDense(ppmi(cooccurrenceCounts([[0, 1], [0, 1], [2, 3], [0, 2]], 4, 1), 1));
  assert.ok(m.data[0 * 4 + 1]! > 0);
  assert.ok(m.data.every((v) => v >= 0));
});

test("co-occurrence embeddings recover planted item clusters; unseen items get zero rows", () => {
  // 5 clusters × 12 items; users browse within one cluster, with 10% noise; item 60 never appears.
  const rng = new Rng(4), clusters = 5, per = 12, nItems = clusters * per + 1;
  const sequences: number[][] = [];
  for (let u = 0; u < 600; u++) {
    const c = rng.int(clusters);
    sequences.push(Array.from({ length: 8 }, () => (rng.next() < 0.1 ? rng.int(clusters * per) : c * per + rng.int(per))));
  }
  const r = coocEmbeddings(sequences, nItems, { dim: 8, window: 3, seed: 2 });
  assert.equal(r.embeddings.rows, nItems);
  assert.equal(r.coveredItems, nItems - 1);
  assert.ok(r.embeddings.data.subarray(60 * r.embeddings.cols).every((v) => v === 0));
  let correct = 0;
  for (let i = 0; i < clusters * per; i++) {
    let best = -1, bestC = -Infinity;
    for (let j = 0; j < clusters * per; j++) {
      if (j === i) continue;
      const c = cosine(r.embeddings, i, j);
      if (c > bestC) (bestC = c), (best = j);
    }
    if (Math.floor(best / per) === Math.floor(i / per)) correct++;
  }
  assert.ok(correct / (clusters * per) >= 0.95, `nearest neighbour in the same cluster for ${correct}/${clusters * per}`);
});

test("no interactions at all gives zero columns rather than an error", () => {
  const r = coocEmbeddings([[1], []], 3);
  assert.equal(r.embeddings.cols, 0);
  assert.equal(r.coveredItems, 0);
});

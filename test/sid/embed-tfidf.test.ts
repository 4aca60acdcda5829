import { test } from "node:test";
import assert from "node:assert/strict";
import { tokenize, terms, tfidfMatrix, tfidfEmbeddings } from "../../src/sid/embed-tfidf.js";
import { cosine } from "./helpers.js";

test("tokenize lowercases and keeps runs of ≥ 2 letters or digits", () => {
  assert.deepEqual(tokenize("L'Oréal Paris: Eau-de-Parfum 1.7 Oz, 100ml!"), ["oréal", "paris", "eau", "de", "parfum", "oz", "100ml"]);
  assert.deepEqual(terms("Hair Spray Strong", true), ["hair", "spray", "strong", "hair spray", "spray strong"]);
});

test("tfidfMatrix applies min df, sublinear tf and unit rows", () => {
  const { matrix, vocabulary } = tfidfMatrix(["red red lipstick", "red shampoo", "lipstick gloss"], { bigrams: false, minDf: 2 });
  assert.deepEqual(vocabulary, ["lipstick", "red"]);
  // Row 0: tf(red) = 2 → 1 + ln 2, both idf equal (df = 2) → weights ∝ [1, 1 + ln 2].
  const [a, b] = [matrix.values[0]!, matrix.values[1]!];
  assert.ok(Math.abs(b / a - (1 + Math.log(2))) < 1e-5);
  assert.ok(Math.abs(a * a + b * b - 1) < 1e-5);
  assert.equal(matrix.indptr[3]! - matrix.indptr[2]!, 1); // "gloss" dropped by min df
});

test("TF-IDF embeddings put items with similar text closer than unrelated ones", () => {
  const texts: string[] = [];
  const groups = [
    ["shampoo", "hair", "wash", "scalp"],
    ["lipstick", "lips", "matte", "red"],
    ["perfume", "eau", "parfum", "floral"],
    ["nail", "polish", "lacquer", "gloss"],
  ];
  const brands = ["acme", "zenith", "nova", "orbit", "lumen", "vera"];
  groups.forEach((words) => {
    for (let v = 0; v < 10; v++) {
      texts.push(`${brands[v % brands.length]} ${words[v % 4]} ${words[(v + 1) % 4]} ${words[(v + 2) % 4]} size ${v}`);
    }
  });
  const { embeddings, vocabularySize, emptyItems } = tfidfEmbeddings(texts, { dim: 8, seed: 1 });
  assert.equal(embeddings.rows, 40);
  assert.equal(embeddings.cols, 8);
  assert.ok(vocabularySize > 10);
  assert.equal(emptyItems, 0);
  let within = 0, across = 0, nw = 0, na = 0;
  for (let i = 0; i < 40; i++)
    for (let j = i + 1; j < 40; j++) {
      const c = cosine(embeddings, i, j);
      if (Math.floor(i / 10) === Math.floor(j / 10)) (within += c), nw++;
      else (across += c), na++;
    }
  assert.ok(within / nw > across / na + 0.4, `mean cosine within ${within / nw}, across ${across / na}`);
  // Every item's nearest neighbour shares its group.
  for (let i = 0; i < 40; i++) {
    let best = -1, bestC = -Infinity;
    for (let j = 0; j < 40; j++) if (j !== i && cosine(embeddings, i, j) > bestC) (bestC = cosine(embeddings, i, j)), (best = j);
    assert.equal(Math.floor(best / 10), Math.floor(i / 10), `item ${i} (${texts[i]}) nearest ${best} (${texts[best]})`);
  }
});

test("items without any kept term get zero rows; a corpus without vocabulary gives zero columns", () => {
  const r = tfidfEmbeddings(["hair spray", "hair gel", "!!"], { dim: 4, minDf: 1 });
  assert.equal(r.emptyItems, 1);
  assert.ok(r.embeddings.data.subarray(2 * r.embeddings.cols).every((v) => v === 0));
  assert.equal(tfidfEmbeddings(["a", "b"], { minDf: 1 }).embeddings.cols, 0);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { type Matrix, zeros, rowSlice } from "../../src/sid/matrix.js";
import { Rng } from "../../src/sid/rng.js";
import { RqKMeans, RqKMeansModel } from "../../src/sid/rqkmeans.js";
import { uniqueness } from "../../src/sid/collisions.js";
import { reconstructionError } from "../../src/sid/report.js";
import { encodeSafetensors, parseSafetensors } from "../../src/sid/safetensors.js";

/**
 * Residual structure RQ should find: x = top_a + sub_b + noise with 16 large "top" vectors and
 * 16 small "sub" vectors shared by all tops (RQ shares one codebook per level across
 * prefixes), `per` points per (a, b).
 */
function hierarchical(per: number, noise: number, seed = 3): Matrix {
  const rng = new Rng(seed), dim = 8;
  const vectors = (scale: number) => Array.from({ length: 16 }, () => Array.from({ length: dim }, () => scale * rng.normal()));
  const tops = vectors(10), subs = vectors(1);
  const x = zeros(16 * 16 * per, dim);
  let i = 0;
  for (let a = 0; a < 16; a++) {
    for (let b = 0; b < 16; b++) {
      for (let p = 0; p < per; p++, i++) for (let j = 0; j < dim; j++) x.data[i * dim + j] = tops[a]![j]! + subs[b]![j]! + noise * rng.normal();
    }
  }
  return x;
}

test("RQ-KMeans on clustered data reaches high uniqueness and low reconstruction error", () => {
  const x = hierarchical(1, 0.01);
  const fit = new RqKMeans({ levels: 2, codebookSize: 16, randomLastLevels: 0, seed: 1 }).fit(x);
  const u = uniqueness(fit.codes);
  const rec = reconstructionError(x, fit.model.decode(fit.codes));
  assert.ok(u >= 0.95, `uniqueness ${u}`);
  assert.ok(rec.relative < 0.05, `relative reconstruction error ${rec.relative}`);
  assert.equal(fit.residualMse.length, 2);
  assert.ok(fit.residualMse[1]! < fit.residualMse[0]!, "each level reduces the residual");
});

test("the random last level raises natural uniqueness on near-duplicates", () => {
  // 100 products × 5 near-identical variants: distance-based codes cannot tell variants apart.
  const rng = new Rng(8), dim = 6;
  const x = zeros(500, dim);
  for (let p = 0; p < 100; p++) {
    const c = Array.from({ length: dim }, () => rng.normal());
    for (let v = 0; v < 5; v++) for (let j = 0; j < dim; j++) x.data[(p * 5 + v) * dim + j] = c[j]! + 1e-4 * rng.normal();
  }
  const base = { levels: 2, codebookSize: 64, seed: 2, balanced: false };
  const plain = uniqueness(new RqKMeans({ ...base, randomLastLevels: 0 }).fit(x).codes);
  const random = uniqueness(new RqKMeans({ ...base, randomLastLevels: 1 }).fit(x).codes);
  assert.ok(random >= 0.8, `with random last level: ${random}`);
  assert.ok(random > plain + 0.3, `random ${random} vs distance-based ${plain}`);
});

test("encoding reproduces the fitted codes and does not depend on chunking or call boundaries", () => {
  const x = hierarchical(2, 0.3);
  const fit = new RqKMeans({ levels: 3, codebookSize: 16, randomLastLevels: 1, balanced: false, seed: 4 }).fit(x);
  const model = fit.model as RqKMeansModel;
  assert.deepEqual(Array.from(model.encode(x).codes), Array.from(fit.codes.codes));
  const small = new RqKMeansModel(model.centroids, model.randomLastLevels, model.seed, 7);
  assert.deepEqual(Array.from(small.encode(x).codes), Array.from(fit.codes.codes));
  const half = Math.floor(x.rows / 2) + 1;
  const first = model.encode(rowSlice(x, 0, half)).codes;
  const second = model.encode(rowSlice(x, half, x.rows), { rowOffset: half }).codes;
  assert.deepEqual([...first, ...second], Array.from(fit.codes.codes));
});

test("balanced assignment caps every code at ⌈N/K⌉·(1 + slack) even on skewed data", () => {
  const rng = new Rng(5), n = 400, K = 8;
  const x = zeros(n, 2);
  // 90% of the points in one tight blob.
  for (let i = 0; i < n; i++) {
    const far = i % 10 === 0;
    x.data[2 * i] = (far ? 20 * rng.normal() : 0) + 0.1 * rng.normal();
    x.data[2 * i + 1] = (far ? 20 * rng.normal() : 0) + 0.1 * rng.normal();
  }
  const fit = new RqKMeans({ levels: 1, codebookSize: K, balanced: true, balanceSlack: 0.25, seed: 1 }).fit(x);
  const counts = new Array(K).fill(0);
  for (let i = 0; i < n; i++) counts[fit.codes.codes[i]!]++;
  assert.ok(Math.max(...counts) <= Math.ceil((n / K) * 1.25), `code loads ${counts}`);
  const unbalanced = new RqKMeans({ levels: 1, codebookSize: K, balanced: false, seed: 1 }).fit(x);
  const counts2 = new Array(K).fill(0);
  for (let i = 0; i < n; i++) counts2[unbalanced.codes.codes[i]!]++;
  assert.ok(Math.max(...counts2) > Math.ceil((n / K) * 1.25), "the data really is skewed");
});

test("codebooks survive a safetensors round trip", () => {
  const x = hierarchical(1, 0.1);
  const { model } = new RqKMeans({ levels: 2, codebookSize: 16, seed: 3 }).fit(x);
  const { tensors, metadata } = model.tensors();
  const file = parseSafetensors(encodeSafetensors(tensors, metadata), "codebooks.safetensors");
  const read = Object.fromEntries([...file.infos.keys()].map((k) => [k, file.read(k)]));
  const back = RqKMeansModel.fromTensors(read, file.metadata);
  assert.deepEqual(Array.from(back.encode(x).codes), Array.from(model.encode(x).codes));
});

test("training on a sample still encodes every row; fewer rows than codes works", () => {
  const x = hierarchical(1, 0.1);
  const fit = new RqKMeans({ levels: 2, codebookSize: 16, trainSample: 100, seed: 1 }).fit(x);
  assert.equal(fit.codes.n, x.rows);
  const tiny = new RqKMeans({ levels: 2, codebookSize: 16, seed: 1 }).fit(rowSlice(x, 0, 5));
  assert.equal(tiny.codes.n, 5);
  assert.ok(tiny.codes.codes.every((c) => c >= 0 && c < 16));
});

test("invalid options and inputs are rejected with clear messages", () => {
  assert.throws(() => new RqKMeans({ levels: 0 }), /levels must be an integer ≥ 1/);
  assert.throws(() => new RqKMeans({ levels: 2, randomLastLevels: 3 }), /randomLastLevels 3 > levels 2/);
  assert.throws(() => new RqKMeans().fit(zeros(0, 3)), /no rows/);
  const { model } = new RqKMeans({ levels: 1, codebookSize: 2 }).fit(hierarchical(1, 0.1));
  assert.throws(() => model.encode(zeros(1, 3)), /3 columns, codebooks have 8/);
});

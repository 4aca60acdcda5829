import { test } from "node:test";
import assert from "node:assert/strict";
import { combineEmbeddings } from "../../src/sid/embed.js";
import { fromRows } from "../../src/sid/matrix.js";

test("combineEmbeddings normalises each source per row, applies weights and concatenates", () => {
  const a = fromRows([[3, 4], [0, 0]]);
  const b = fromRows([[10], [-2]]);
  const { matrix, parts } = combineEmbeddings([{ name: "a", matrix: a }, { name: "b", matrix: b, weight: 0.5 }]);
  assert.equal(matrix.cols, 3);
  assert.deepEqual(Array.from(matrix.data), Array.from(Float32Array.of(0.6, 0.8, 0.5, 0, 0, -0.5)));
  assert.deepEqual(parts.map((p) => [p.name, p.dim, p.offset, p.zeroRows]), [["a", 2, 0, 1], ["b", 1, 2, 0]]);
  assert.deepEqual(Array.from(a.data), [3, 4, 0, 0], "inputs are not modified");
});

test("combineEmbeddings rejects mismatched row counts, bad weights and no sources", () => {
  assert.throws(() => combineEmbeddings([{ name: "a", matrix: fromRows([[1]]) }, { name: "b", matrix: fromRows([[1], [2]]) }]), /"b" has 2 rows, "a" has 1/);
  assert.throws(() => combineEmbeddings([{ name: "a", matrix: fromRows([[1]]), weight: -1 }]), /invalid weight -1/);
  assert.throws(() => combineEmbeddings([]), /no embedding sources/);
});

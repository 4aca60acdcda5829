import { test } from "node:test";
import assert from "node:assert/strict";
import { buildReport, levelStats, purityAndNmi, reconstructionError, categoryAlignment } from "../../src/sid/report.js";
import { codeTable } from "../../src/sid/quantiser.js";
import { fromRows } from "../../src/sid/matrix.js";

const near = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

test("perplexity is K for uniform code use and 1 for a collapsed level; utilisation counts used codes", () => {
  const t = codeTable(8, 2, 4);
  for (let i = 0; i < 8; i++) t.codes.set([i % 4, 0], i * 2);
  const uniform = levelStats(t, 0), collapsed = levelStats(t, 1);
  near(uniform.perplexity, 4);
  assert.equal(uniform.utilisation, 1);
  near(collapsed.perplexity, 1);
  assert.equal(collapsed.used_codes, 1);
  assert.equal(collapsed.utilisation, 0.25);
});

test("purity and NMI: 1 for aligned labels, ~0 for independent ones", () => {
  const aligned = purityAndNmi([["a", "x"], ["a", "x"], ["b", "y"], ["b", "y"]]);
  near(aligned.purity, 1);
  near(aligned.nmi, 1);
  const independent = purityAndNmi([["a", "x"], ["a", "y"], ["b", "x"], ["b", "y"]]);
  near(independent.purity, 0.5);
  near(independent.nmi, 0);
});

test("reconstruction error is 0 for exact reconstruction and 1 for the mean vector", () => {
  const x = fromRows([[1, 2], [3, 6], [5, 1]]);
  near(reconstructionError(x, x).relative, 0);
  const mean = fromRows([[3, 3], [3, 3], [3, 3]]);
  near(reconstructionError(x, mean).relative, 1, 1e-6);
});

test("category alignment skips a shared root category and leaves out items without that depth", () => {
  const t = codeTable(4, 2, 4);
  t.codes.set([0, 0, 0, 1, 1, 0, 1, 1]);
  const a = categoryAlignment(t, [["Beauty", "Hair"], ["Beauty", "Hair"], ["Beauty", "Nails"], ["Beauty"]]);
  assert.deepEqual(a.map((s) => [s.code_prefix, s.category_depth, s.items]), [[1, 1, 3], [2, 1, 3]]);
  near(a[0]!.purity, 1);
});

test("buildReport: uniqueness before and after, moved items, collision groups", () => {
  const natural = codeTable(3, 2, 4);
  natural.codes.set([1, 1, 1, 1, 2, 2]);
  const final = codeTable(3, 2, 4);
  final.codes.set([1, 1, 1, 2, 2, 2]);
  const r = buildReport({ natural, final });
  near(r.natural_uniqueness, 2 / 3);
  assert.equal(r.final_uniqueness, 1);
  assert.equal(r.moved_items, 1);
  assert.deepEqual(r.largest_collision_groups, [{ size: 2, codes: [1, 1], items: [0, 1] }]);
  assert.equal(r.reconstruction, undefined);
});

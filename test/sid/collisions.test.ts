import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveCollisions, uniqueness, collisionGroups } from "../../src/sid/collisions.js";
import { type CodeTable, codeTable, codesOf } from "../../src/sid/quantiser.js";
import { Rng } from "../../src/sid/rng.js";

function table(levels: number, K: number, tuples: number[][]): CodeTable {
  const t = codeTable(tuples.length, levels, K);
  tuples.forEach((c, i) => t.codes.set(c, i * levels));
  return t;
}

const tuple = (t: CodeTable, i: number) => Array.from(codesOf(t, i));

test("property: resolution always yields a bijection and never touches non-colliding items", () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 300; trial++) {
    const levels = 1 + rng.int(3), K = 2 + rng.int(3);
    const capacity = K ** levels;
    const n = 1 + rng.int(capacity);
    // Skewed codes (squares of uniforms) make collisions and full prefixes common.
    const t = table(levels, K, Array.from({ length: n }, () => Array.from({ length: levels }, () => Math.floor(rng.next() ** 2 * K))));
    // Half the trials with a quantiser-style ranking that is partial and arbitrary (it may even
    // name out-of-range codes): resolution must still find every free tuple.
    const rankCodes = trial % 2 === 0 ? undefined : () => Array.from({ length: rng.int(K + 2) }, () => rng.int(K + 1));
    const r = resolveCollisions(t, { rankCodes });
    assert.equal(r.finalUniqueness, 1, `trial ${trial}`);
    assert.equal(uniqueness(r.codes), 1);
    const firstOf = new Map<string, number>();
    for (let i = 0; i < n; i++) if (!firstOf.has(tuple(t, i).join())) firstOf.set(tuple(t, i).join(), i);
    for (let i = 0; i < n; i++) {
      const keeps = firstOf.get(tuple(t, i).join()) === i;
      assert.equal(r.moved.includes(i), !keeps, `trial ${trial} item ${i}`);
      if (keeps) assert.deepEqual(tuple(r.codes, i), tuple(t, i), "first holder keeps its tuple");
      assert.ok(tuple(r.codes, i).every((c) => c >= 0 && c < K));
    }
    assert.equal(r.naturalUniqueness, firstOf.size / n);
  }
});

test("a duplicate moves to the nearest free last-level code under the same prefix", () => {
  const r = resolveCollisions(table(2, 8, [[1, 4], [1, 4], [1, 5], [1, 4]]));
  assert.deepEqual([0, 1, 2, 3].map((i) => tuple(r.codes, i)), [[1, 4], [1, 3], [1, 5], [1, 6]]);
  assert.deepEqual(r.moved, [1, 3]);
  assert.equal(r.naturalUniqueness, 0.5);
});

test("when the prefix is full, the move goes up a level to the nearest prefix with room", () => {
  const r = resolveCollisions(table(2, 2, [[0, 0], [0, 1], [0, 0]]));
  assert.deepEqual(tuple(r.codes, 2), [1, 0]);
  // Three levels: prefix (0,0,·) and (0,1,·) full, so the duplicate lands under a = 1.
  const r3 = resolveCollisions(table(3, 2, [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 0, 0]]));
  assert.deepEqual(tuple(r3.codes, 4), [1, 0, 0]);
});

test("a code ranking from the quantiser decides where duplicates go", () => {
  const t = table(2, 8, [[2, 2], [2, 2]]);
  const r = resolveCollisions(t, { rankCodes: (_item, _prefix, level) => (level === 1 ? [2, 7, 6] : null) });
  assert.deepEqual(tuple(r.codes, 1), [2, 7]);
});

test("more items than tuples is an error; empty tables are fine", () => {
  assert.throws(() => resolveCollisions(table(1, 2, [[0], [1], [0]])), /cannot give 3 items distinct SIDs: 1 levels × 2 codes allow only 2 tuples/);
  const r = resolveCollisions(codeTable(0, 2, 4));
  assert.equal(r.finalUniqueness, 1);
});

test("collisionGroups lists shared tuples, largest first", () => {
  const g = collisionGroups(table(2, 4, [[0, 0], [1, 1], [0, 0], [1, 1], [1, 1], [2, 2]]));
  assert.deepEqual(g, [{ size: 3, codes: [1, 1], items: [1, 3, 4] }, { size: 2, codes: [0, 0], items: [0, 2] }]);
});

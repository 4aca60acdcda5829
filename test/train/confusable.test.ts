import { test } from "node:test";
import assert from "node:assert/strict";
import { drawConfusableList, RANKER_LIKE, SidNeighbours } from "../../src/train/tasks/confusable.js";
import { Rng } from "../../src/util/rng.js";

// Token layout of a SID: [begin, code₁, code₂, code₃, code₄, end]; codes offset per level as a tokenizer's would be.
const BEGIN = 1;
const END = 2;
const sidOf = (codes: readonly number[]) => [BEGIN, ...codes.map((c, level) => 100 * (level + 1) + c), END];

/** 512 items: every combination of 8 × 4 × 4 × 4 codes, so every depth has neighbours. */
const SIDS = Array.from({ length: 512 }, (_, i) => sidOf([i >> 6, (i >> 4) & 3, (i >> 2) & 3, i & 3]));
const sharedCodes = (a: number, b: number) => {
  let p = 0;
  while (p < 4 && SIDS[a]![p + 1] === SIDS[b]![p + 1]) p++;
  return p;
};
/** Mean number of candidate pairs per list sharing at least 1 and 2 leading codes. */
function prefixPairs(lists: readonly number[][]): [number, number] {
  let one = 0;
  let two = 0;
  for (const l of lists) {
    for (let i = 0; i < l.length; i++) {
      for (let j = i + 1; j < l.length; j++) {
        const p = sharedCodes(l[i]!, l[j]!);
        if (p >= 1) one++;
        if (p >= 2) two++;
      }
    }
  }
  return [one / lists.length, two / lists.length];
}

test("SidNeighbours groups items by shared SID prefix, deeper groups inside shallower ones", () => {
  const nb = new SidNeighbours(SIDS);
  const anchor = 77; // codes 1.0.3.1
  assert.equal(nb.near(anchor, 1).length, 64);
  assert.equal(nb.near(anchor, 2).length, 16);
  assert.equal(nb.near(anchor, 3).length, 4);
  for (const d of [1, 2, 3]) for (const i of nb.near(anchor, d)) assert.ok(sharedCodes(anchor, i) >= d, `item ${i} shares ${d} codes with ${anchor}`);
  assert.deepEqual(nb.near(anchor, 4), [], "the last code is never shared: that would be the same SID");
  const odd = new SidNeighbours(SIDS, (i) => i % 2 === 1);
  assert.ok(odd.near(anchor, 1).every((i) => i % 2 === 1), "only eligible items are neighbours");
});

test("SidNeighbours.draw honours the taken set and the depth weights", () => {
  const nb = new SidNeighbours(SIDS);
  const rng = new Rng(1);
  const anchor = 77;
  const taken = new Set(nb.near(anchor, 3));
  for (let n = 0; n < 200; n++) {
    const i = nb.draw(anchor, taken, [0, 0, 1], rng);
    assert.equal(i, undefined, "every depth-3 neighbour is taken and depth 3 is the only one allowed");
  }
  for (let n = 0; n < 200; n++) {
    const i = nb.draw(anchor, taken, [0, 1, 0], rng)!;
    assert.ok(sharedCodes(anchor, i) >= 2 && !taken.has(i));
  }
});

test("drawConfusableList: k distinct items with the target, far more prefix-sharing pairs than a uniform draw", () => {
  const nb = new SidNeighbours(SIDS);
  const rng = new Rng(5);
  const uniform = () => rng.int(SIDS.length);
  const clustered: number[][] = [];
  const plain: number[][] = [];
  for (let n = 0; n < 300; n++) {
    const target = rng.int(SIDS.length);
    const history = [rng.int(SIDS.length), rng.int(SIDS.length)];
    const list = drawConfusableList(target, history, 10, nb, RANKER_LIKE, uniform, rng);
    assert.equal(list.length, 10);
    assert.equal(new Set(list).size, 10, "distinct");
    assert.ok(list.includes(target));
    clustered.push(list);
    plain.push(drawConfusableList(target, history, 10, nb, { neighbourShare: 0, depthWeights: [1] }, uniform, rng));
  }
  const [c1, c2] = prefixPairs(clustered);
  const [p1, p2] = prefixPairs(plain);
  // 45 pairs over 8 first codes: a uniform draw shares ~45/8 ≈ 5.6 by chance.
  assert.ok(p1 > 4 && p1 < 7.5, `uniform lists: ${p1} pairs share a first code`);
  assert.ok(c1 > 1.8 * p1, `clustered lists: ${c1} pairs share a first code, against ${p1}`);
  assert.ok(c2 > 2 * p2, `clustered lists: ${c2} pairs share two codes, against ${p2}`);
  // Same seed, same lists.
  const again = new Rng(9);
  const a = drawConfusableList(3, [4], 10, nb, RANKER_LIKE, () => again.int(SIDS.length), again);
  const again2 = new Rng(9);
  assert.deepEqual(drawConfusableList(3, [4], 10, nb, RANKER_LIKE, () => again2.int(SIDS.length), again2), a);
});

test("drawConfusableList fills a list even when neighbours and the other draw run dry", () => {
  const sids = SIDS.slice(0, 12);
  const nb = new SidNeighbours(sids);
  const list = drawConfusableList(0, [], 12, nb, RANKER_LIKE, () => 0, new Rng(2));
  assert.deepEqual([...list].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i));
});

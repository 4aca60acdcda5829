import assert from "node:assert/strict";
import { test } from "node:test";
import { countTransitions, mineComplements, transitionLift } from "../../src/prompt/complements.js";
import { makeWorld } from "./helpers.js";

test("complements mined from the train split recover the synthetic catalogue's planted pairs", () => {
  const { dataset, split } = makeWorld(400, 300, 5);
  const table = mineComplements(split.train, dataset.catalogue.items, { perCategory: 1 });
  const planted = dataset.planted!.complements;
  const found = Object.entries(planted).filter(([from, to]) => table.from(from)[0]?.to === to);
  assert.ok(found.length >= 0.8 * Object.keys(planted).length, `${found.length}/${Object.keys(planted).length} planted complements are the strongest hint`);
  for (const h of table.hints) {
    assert.notEqual(h.from, h.to);
    assert.ok(h.count >= 3 && h.lift >= 1.5);
  }
});

test("counts and lift are those of consecutive train transitions", () => {
  const items = ["A", "B", "A", "C"].map((c, index) => ({ index, id: `i${index}`, title: c, categories: [c] }));
  // Items 0:A 1:B 2:A 3:C; transitions A→B, A→B, A→C, B→A.
  const train = [[0, 1], [2, 1], [0, 3], [1, 0]];
  const c = countTransitions(train, items);
  assert.equal(c.total, 4);
  assert.equal(c.pairs.get("A\u0000B"), 2);
  // P(B | A) = 2/3, P(B) = 2/4 → lift 4/3.
  assert.ok(Math.abs(transitionLift(c, "A", "B") - 4 / 3) < 1e-12);
  const t = mineComplements(train, items, { minCount: 1, minLift: 1 });
  assert.equal(t.get("A", "B")?.count, 2);
  assert.equal(t.get("A", "B")?.lift, 1.33);
  assert.equal(t.get("B", "B"), undefined);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { Rng } from "../../src/util/rng.js";

test("the PRNG is deterministic per seed and roughly uniform", () => {
  const draw = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 5 }, () => rng.next());
  };
  assert.deepEqual(draw(1), draw(1));
  assert.notDeepEqual(draw(1), draw(2));
  const rng = new Rng(7);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[rng.int(4)]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket count ${c}`);
});

test("same options give identical output; another seed gives another catalogue", () => {
  const a = generateSynthetic({ users: 50, items: 80, seed: 3 });
  assert.deepEqual(generateSynthetic({ users: 50, items: 80, seed: 3 }), a);
  assert.notDeepEqual(generateSynthetic({ users: 50, items: 80, seed: 4 }).interactions, a.interactions);
});

test("respects users, items, minLen and maxLen; no user repeats an item; every item is valid", () => {
  const ds = generateSynthetic({ users: 120, items: 60, seed: 1, minLen: 4, maxLen: 9 });
  assert.equal(ds.interactions.sequences.length, 120);
  assert.equal(ds.catalogue.items.length, 60);
  for (const s of ds.interactions.sequences) {
    assert.ok(s.length >= 4 && s.length <= 9, `length ${s.length}`);
    assert.equal(new Set(s).size, s.length);
    for (const i of s) assert.ok(Number.isInteger(i) && i >= 0 && i < 60);
  }
  assert.deepEqual(ds.catalogue.items.map((it) => it.index), [...Array(60).keys()]);
});

test("items carry a 2–3 level category path, a brand, a price and a title '<Brand> <adjective> <noun> <size>'", () => {
  const ds = generateSynthetic({ users: 10, items: 100, seed: 5 });
  for (const item of ds.catalogue.items) {
    assert.ok(item.categories.length >= 2 && item.categories.length <= 3);
    assert.equal(ds.planted!.itemCategory[item.index], item.categories.join(" > "));
    assert.ok(item.brand && item.title.startsWith(`${item.brand} `));
    assert.ok(item.title.includes(` ${item.categories.at(-1)} `), item.title);
    assert.ok(item.price !== undefined && item.price > 0);
  }
  assert.equal(ds.planted!.complements["Hair Care > Shampoo"], "Hair Care > Conditioner");
  assert.equal(ds.planted!.complements["Skin Care > Face > Cleanser"], "Skin Care > Face > Toner");
});

test("planted structure is recoverable: complement transitions, preferences and popularity", () => {
  const ds = generateSynthetic({ users: 600, items: 400, seed: 11 });
  const { itemCategory, complements, userPreferences } = ds.planted!;
  const leafShare = new Map<string, number>();
  for (const c of itemCategory) leafShare.set(c, (leafShare.get(c) ?? 0) + 1 / itemCategory.length);

  let pairs = 0;
  let complementSteps = 0;
  let chance = 0; // expected complement steps if the next item were a random catalogue item
  let inPreferred = 0;
  let withPreferredBrand = 0;
  let total = 0;
  ds.interactions.sequences.forEach((s, u) => {
    const prefs = userPreferences[u]!;
    s.forEach((item, k) => {
      total++;
      if (prefs.categories.includes(itemCategory[item]!)) inPreferred++;
      if (prefs.brands.includes(ds.catalogue.items[item]!.brand!)) withPreferredBrand++;
      if (k === 0) return;
      const want = complements[itemCategory[s[k - 1]!]!];
      pairs++;
      if (want !== undefined) chance += leafShare.get(want) ?? 0;
      if (want !== undefined && itemCategory[item] === want) complementSteps++;
    });
  });
  assert.ok(complementSteps > 5 * chance, `complement steps ${complementSteps} vs chance ${chance.toFixed(1)}`);
  assert.ok(complementSteps / pairs > 0.2, `complement rate ${(complementSteps / pairs).toFixed(3)}`);
  assert.ok(inPreferred / total > 0.3, `share in preferred leaves ${(inPreferred / total).toFixed(3)}`);
  assert.ok(withPreferredBrand / total > 0.2, `share of preferred brands ${(withPreferredBrand / total).toFixed(3)}`);

  const counts = new Array<number>(400).fill(0);
  for (const s of ds.interactions.sequences) for (const i of s) counts[i]!++;
  const sorted = counts.sort((a, b) => b - a);
  const topShare = sorted.slice(0, 40).reduce((a, b) => a + b, 0) / total;
  assert.ok(topShare > 0.2, `top 10% of items get ${(topShare * 100).toFixed(1)}% of interactions`);
});

test("bad options are rejected with the option's name", () => {
  assert.throws(() => generateSynthetic({ users: 0 }), /users must be a positive integer/);
  assert.throws(() => generateSynthetic({ minLen: 8, maxLen: 5 }), /minLen 8 is above maxLen 5/);
  assert.throws(() => generateSynthetic({ items: 3, minLen: 5 }), /above the number of items/);
});

test("descriptionWords gives every item a long description and leaves the catalogue and sequences as they were", () => {
  const plain = generateSynthetic({ users: 60, items: 120, seed: 5 });
  const long = generateSynthetic({ users: 60, items: 120, seed: 5, descriptionWords: 500 });
  assert.deepEqual(long.interactions, plain.interactions);
  long.catalogue.items.forEach((it, i) => {
    const { description, ...rest } = it;
    assert.deepEqual(rest, plain.catalogue.items[i]);
    assert.equal(description!.split(" ").length, 500);
  });
  assert.ok(long.catalogue.items.some((it) => /&amp;|™|🌿/.test(it.description!)), "odd characters, as scraped text has");
  assert.throws(() => generateSynthetic({ descriptionWords: -1 }), /descriptionWords must be an integer ≥ 0/);
});

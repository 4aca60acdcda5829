/**
 * A tiny catalogue for the mid-training tests: synthetic items, a BPE trained on their text with
 * the SID tokens added, and a hand-made SID map (item i's codes are i's digits in base
 * `codebook`, so every item has a distinct SID). Named *.test.ts only because test/train/ may
 * hold nothing else of ours; the one test below checks the fixture itself, and runs only when
 * this file is the one being run (not in every file that imports the fixture).
 */
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import assert from "node:assert/strict";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { itemText } from "../../src/data/text.js";
import type { Dataset } from "../../src/data/types.js";
import { TextTokenizer } from "../../src/lm/tokenizer.js";
import { codeTable } from "../../src/sid/quantiser.js";
import { SidMap } from "../../src/sid/sidmap.js";

export interface Fixture {
  ds: Dataset;
  tokenizer: TextTokenizer;
  sidMap: SidMap;
}

export const LEVELS = 3;
export const CODEBOOK = 8;

export function sidMapFor(ds: Dataset, levels = LEVELS, codebook = CODEBOOK): SidMap {
  const items = ds.catalogue.items;
  const table = codeTable(items.length, levels, codebook);
  items.forEach((_, i) => {
    for (let l = 0, x = i; l < levels; l++, x = Math.floor(x / codebook)) table.codes[i * levels + l] = x % codebook;
  });
  return new SidMap(items.map((it) => it.id), table, "digits");
}

/** `users` users over `items` items; the tokenizer has the SID tokens unless `withSids` is false. */
export function fixture({ users = 40, items = 60, seed = 7, withSids = true } = {}): Fixture {
  const ds = generateSynthetic({ users, items, seed, minLen: 5, maxLen: 12 });
  const tokenizer = TextTokenizer.train(ds.catalogue.items.map(itemText), { vocabSize: 400 });
  if (withSids) tokenizer.addSidTokens({ levels: LEVELS, codebookSize: CODEBOOK });
  return { ds, tokenizer, sidMap: sidMapFor(ds) };
}

/**
 * The same catalogue, with interactions rebuilt so that every user's valid and test items come
 * from a reserved block of items that appears in no train prefix: any appearance of those items
 * in a history-based training example is a leak.
 */
export function heldOutFixture(): Fixture & { heldOut: Set<number> } {
  const f = fixture();
  const n = f.ds.catalogue.items.length;
  const reserved = 10;
  const heldOut = new Set(Array.from({ length: reserved }, (_, i) => n - reserved + i));
  const sequences = f.ds.interactions.sequences.map((_, u) => {
    const len = 3 + (u % 6);
    const prefix = Array.from({ length: len }, (_, k) => (u * 7 + k * 13) % (n - reserved));
    return [...prefix, n - reserved + (u % 5), n - reserved + 5 + (u % 5)];
  });
  return { ...f, ds: { ...f.ds, interactions: { ...f.ds.interactions, sequences } }, heldOut };
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

test("fixture: every item has a distinct SID made of the tokenizer's SID tokens", { skip: !runDirectly && "runs in its own file" }, () => {
  const { ds, tokenizer, sidMap } = fixture();
  assert.equal(sidMap.ids.length, ds.catalogue.items.length);
  assert.equal(tokenizer.sid?.levels, LEVELS);
  const sids = new Set(ds.catalogue.items.map((_, i) => sidMap.sidOf(i)));
  assert.equal(sids.size, ds.catalogue.items.length);
});

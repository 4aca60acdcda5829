/** Shared by the prompt and teacher tests: a small synthetic world with SIDs, a tokenizer and lists. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { leaveOneOut } from "../../src/data/split.js";
import { Rng } from "../../src/data/rng.js";
import { itemText } from "../../src/data/text.js";
import type { Dataset, Example, Split } from "../../src/data/types.js";
import { TextTokenizer } from "../../src/lm/tokenizer.js";
import { mineComplements, type ComplementTable } from "../../src/prompt/complements.js";
import type { PromptContext } from "../../src/prompt/rerank-prompt.js";
import type { CandidateList, ListSplit } from "../../src/rank/candidates.js";
import { codeTable } from "../../src/sid/quantiser.js";
import { SidMap } from "../../src/sid/sidmap.js";
import { shuffledLists } from "../rank/helpers.js";

export const LEVELS = 3;
export const CODEBOOK = 8;

export function tempDir(prefix = "gr2-prompt-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * SIDs with meaning: level a from the item's category (so items of one category share a
 * prefix, as real RQ codes of similar items do), levels b and c random but unique.
 */
export function makeSidMap(ds: Dataset, seed = 3): SidMap {
  const rng = new Rng(seed);
  const items = ds.catalogue.items;
  const cats = [...new Set(items.map((it) => it.categories.join(" > ")))];
  const table = codeTable(items.length, LEVELS, CODEBOOK);
  const taken = new Set<string>();
  items.forEach((it, i) => {
    const a = cats.indexOf(it.categories.join(" > ")) % CODEBOOK;
    let b: number, c: number;
    let tries = 0;
    do {
      b = rng.int(CODEBOOK);
      c = rng.int(CODEBOOK);
      if (++tries > 1000) throw new Error("makeSidMap: no free code");
    } while (taken.has(`${a},${b},${c}`));
    taken.add(`${a},${b},${c}`);
    table.codes.set([a, b, c], i * LEVELS);
  });
  return new SidMap(items.map((it) => it.id), table, "test");
}

export interface World {
  dataset: Dataset;
  split: Split;
  sids: SidMap;
  complements: ComplementTable;
  context: PromptContext;
}

export function makeWorld(users = 120, items = 150, seed = 7): World {
  const dataset = generateSynthetic({ users, items, seed });
  const split = leaveOneOut(dataset.interactions);
  const sids = makeSidMap(dataset);
  const complements = mineComplements(split.train, dataset.catalogue.items);
  return { dataset, split, sids, complements, context: { items: dataset.catalogue.items, sidOf: (i) => sids.sidOf(i), complements, domain: "beauty" } };
}

let cachedTokenizer: TextTokenizer | undefined;
/** A byte-level BPE trained on the catalogue text, with SID tokens (3 levels × 8 codes). */
export function tokenizer(): TextTokenizer {
  if (!cachedTokenizer) {
    const corpus = generateSynthetic({ users: 10, items: 300, seed: 7 }).catalogue.items.map(itemText);
    cachedTokenizer = TextTokenizer.train(corpus, { vocabSize: 600 });
    cachedTokenizer.addSidTokens({ levels: LEVELS, codebookSize: CODEBOOK });
  }
  return cachedTokenizer;
}

/** Target + K−1 random negatives outside the history, in a seeded random order (`shuffledLists`), users named by `userIds`. */
export function makeLists(examples: readonly Example[], numItems: number, userIds: readonly string[], split: ListSplit, seed = 11, K = 10): CandidateList[] {
  return shuffledLists(examples, numItems, split, seed, K).map((l, i) => ({ ...l, user: userIds[examples[i]!.user]! }));
}

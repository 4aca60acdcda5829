/**
 * The catalogue, tokenised once for the mid-training tasks: every item's SID tokens, its text,
 * a short title, its category path and brand, and the fixed prompt fragments. Tasks then build
 * examples by concatenating these id lists, synchronously (the training loop's `batch(step)`
 * hook is synchronous, HF's encoder is not).
 *
 * Fragments are encoded on their own and concatenated, as the chat template does: added tokens
 * (the SID tokens) always split the text anyway, and the same composition is used at inference
 * (src/eval/generative.ts builds its prompts with `sequentialPrompt`).
 */
import type { Dataset } from "../../data/types.js";
import { itemText } from "../../data/text.js";
import type { SidMap } from "../../sid/sidmap.js";
import { codesOf } from "../../sid/quantiser.js";
import type { TextTokenizer } from "../../lm/tokenizer.js";

/** The text pieces prompts are made of. */
export const FRAGMENTS = {
  history: "User history:",
  next: " Next item:",
  item: "Item ",
  is: " is: ",
  sidOf: "The SID of ",
  sidOfEnd: " is:",
  likes: "User likes: ",
  comma: ", ",
  likesEnd: ". History:",
  space: " ",
  semicolon: ";",
  candidates: " Candidates:",
  ranking: " Ranking:",
} as const;

export type Fragments = Record<keyof typeof FRAGMENTS, number[]>;

export async function encodeFragments(tokenizer: TextTokenizer): Promise<Fragments> {
  const names = Object.keys(FRAGMENTS) as (keyof typeof FRAGMENTS)[];
  const ids = await tokenizer.encodeBatch(names.map((n) => FRAGMENTS[n]));
  return Object.fromEntries(names.map((n, i) => [n, ids[i]!])) as Fragments;
}

/**
 * Each catalogue item's SID token ids (begin, codes, end), looked up by item id so that a map
 * built in another item order still fits. Every item must have a SID.
 */
export function itemSidTokens(ds: Dataset, sidMap: SidMap, tokenizer: TextTokenizer): number[][] {
  const sidIndex = new Map(sidMap.ids.map((id, i) => [id, i]));
  return ds.catalogue.items.map((item) => {
    const i = sidIndex.get(item.id);
    if (i === undefined) throw new Error(`SID map has no SID for item "${item.id}" (index ${item.index}) of ${ds.catalogue.name}: was it built for another dataset?`);
    return tokenizer.sidTokenIds(Array.from(codesOf(sidMap.codes, i)));
  });
}

/** A user's history followed by the question: what every next-SID prompt looks like. */
export function sequentialPrompt(fragments: Fragments, sids: readonly (readonly number[])[], history: readonly number[]): number[] {
  const out = [...fragments.history];
  for (const item of history) out.push(...sids[item]!);
  out.push(...fragments.next);
  return out;
}

/** A history and K candidate SIDs, then the question: what every candidate-ranking prompt looks like. */
export function candidatesPrompt(fragments: Fragments, sids: readonly (readonly number[])[], history: readonly number[], shown: readonly number[]): number[] {
  const out = [...fragments.history];
  for (const item of history) out.push(...sids[item]!);
  out.push(...fragments.candidates);
  for (const item of shown) out.push(...sids[item]!);
  out.push(...fragments.ranking);
  return out;
}

export interface TaskContextOptions {
  /** Titles in the persona task are cut to this many tokens (default 16). */
  maxTitleTokens?: number;
  /**
   * Item texts (captions) are cut to this many tokens (default 64): a catalogue's longest
   * texts would otherwise set the cost of every caption example. `itemText` already bounds
   * descriptions; this bounds pathological titles and category paths too.
   */
  maxTextTokens?: number;
}

export class TaskContext {
  private constructor(
    /** Per item, its SID token ids. */
    readonly sids: readonly number[][],
    /** Per item, `itemText` tokens (title | brand | category | price | description opening), at most `maxTextTokens`. */
    readonly texts: readonly number[][],
    /** Per item, its title's first tokens. */
    readonly titles: readonly number[][],
    /** Per item, the index of its category path in `labels` (-1: none). */
    readonly categoryOf: Int32Array,
    /** Per item, the index of its brand in `labels` (-1: none). */
    readonly brandOf: Int32Array,
    /** Encoded category paths ("Hair Care > Shampoo") and brand names. */
    readonly labels: readonly number[][],
    readonly fragments: Fragments,
    readonly eos: number,
  ) {}

  static async create(ds: Dataset, sidMap: SidMap, tokenizer: TextTokenizer, o: TaskContextOptions = {}): Promise<TaskContext> {
    const items = ds.catalogue.items;
    const sids = itemSidTokens(ds, sidMap, tokenizer);
    const texts = (await tokenizer.encodeBatch(items.map(itemText))).map((t) => t.slice(0, o.maxTextTokens ?? 64));
    const maxTitle = o.maxTitleTokens ?? 16;
    const titles = (await tokenizer.encodeBatch(items.map((it) => it.title || `item ${it.id}`))).map((t) => t.slice(0, maxTitle));
    const labelIndex = new Map<string, number>();
    const indexOf = (label: string | undefined) => {
      if (!label) return -1;
      if (!labelIndex.has(label)) labelIndex.set(label, labelIndex.size);
      return labelIndex.get(label)!;
    };
    const categoryOf = Int32Array.from(items, (it) => indexOf(it.categories.join(" > ")));
    const brandOf = Int32Array.from(items, (it) => indexOf(it.brand));
    const labels = await tokenizer.encodeBatch([...labelIndex.keys()]);
    const eosName = tokenizer.special.eos ?? "<|endoftext|>";
    return new TaskContext(sids, texts, titles, categoryOf, brandOf, labels, await encodeFragments(tokenizer), tokenizer.requireId(eosName));
  }

  /** The SID an answer consists of, followed by end-of-text (the model learns to stop). */
  answer(item: number): number[] {
    return [...this.sids[item]!, this.eos];
  }
}

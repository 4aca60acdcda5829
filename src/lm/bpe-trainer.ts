/**
 * A byte-level BPE trainer (GPT-2 / Qwen style), written in TypeScript because the HF
 * `tokenizers` Node binding can train but takes no trainer options (no vocabulary size, no
 * minimum frequency). Its output (vocabulary + merges) is what a `tokenizer.json` BPE model
 * holds; src/lm/tokenizer.ts wraps it in one and lets HF `tokenizers` do all encoding.
 *
 * The pipeline:
 *  1. pre-tokenise every text into words (the regex below: contractions, letter runs with one
 *     leading non-letter, single digits, punctuation runs, whitespace), map each word's UTF-8
 *     bytes to GPT-2's printable byte alphabet, and count identical words once;
 *  2. start from the 256 byte symbols and repeatedly merge the most frequent adjacent pair
 *     (ties → the pair whose ids are smallest, so training is deterministic), updating pair
 *     counts incrementally in only the words that contain the merged pair, until the target
 *     vocabulary size is reached or no pair is seen `minFrequency` times.
 *
 * Speed comes from (1) training on unique words with counts rather than on the text, and (2)
 * a lazy max-heap over pair counts plus a pair → words index, so each merge touches only the
 * words it changes.
 */

/**
 * Pre-tokenisation pattern, Qwen2's with its `(?i:…)` group spelt out as character classes,
 * so that the same string is valid both in JavaScript (`u` flag; Node 20 has no inline
 * modifiers) and in HF tokenizers' Oniguruma (written into tokenizer.json as a Split).
 * Digits are split one by one, which keeps sizes such as "250ml" from eating the vocabulary.
 */
export const PRETOKENIZE_PATTERN =
  "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])" +
  "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+" +
  "|\\p{N}" +
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" +
  "|\\s*[\\r\\n]+" +
  "|\\s+(?!\\S)" +
  "|\\s+";

/**
 * GPT-2's byte → printable character table: bytes that are printable stay themselves, the
 * others (controls, space, 0x7F–0xA0, 0xAD) are shifted to U+0100 and up, so every byte is a
 * visible, non-whitespace character (space becomes "Ġ", newline "Ċ").
 * The returned order is GPT-2's (printable bytes first), which is the order of the first 256
 * vocabulary ids in GPT-2 and Qwen vocabularies, and ours.
 */
export function byteAlphabet(): { byteOfSymbol: number[]; charOfByte: string[] } {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const byteOfSymbol: number[] = [];
  const charOfByte: string[] = new Array<string>(256);
  for (let b = 0; b < 256; b++) {
    if (printable(b)) {
      byteOfSymbol.push(b);
      charOfByte[b] = String.fromCharCode(b);
    }
  }
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable(b)) {
      byteOfSymbol.push(b);
      charOfByte[b] = String.fromCharCode(256 + shifted++);
    }
  }
  return { byteOfSymbol, charOfByte };
}

const ALPHABET = byteAlphabet();
const UTF8 = new TextEncoder();

/** A string's UTF-8 bytes written in the byte alphabet ("é" → "Ã©", " a" → "Ġa"). */
export function toByteLevel(text: string): string {
  let out = "";
  for (const b of UTF8.encode(text)) out += ALPHABET.charOfByte[b];
  return out;
}

/**
 * Splits text at every match of `pattern`, keeping both the matches and any text between them
 * (HF's "Isolated" split behaviour), so no character is ever dropped.
 */
function splitIsolated(text: string, pattern: RegExp): string[] {
  const pieces: string[] = [];
  let last = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    if (m[0].length === 0) {
      pattern.lastIndex++; // cannot happen with PRETOKENIZE_PATTERN, but never loop forever
      continue;
    }
    if (m.index > last) pieces.push(text.slice(last, m.index));
    pieces.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

const PRETOKENIZE_REGEX = new RegExp(PRETOKENIZE_PATTERN, "gu");

/**
 * The pure-JS pre-tokeniser: pattern split, then byte-level mapping. src/lm/tokenizer.ts
 * trains with HF's own pre-tokeniser instead (so training and encoding cannot disagree on an
 * exotic whitespace character); the tests check both agree on ordinary text.
 */
export function preTokenize(text: string): string[] {
  return splitIsolated(text, PRETOKENIZE_REGEX).map(toByteLevel);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Counts the byte-level words of a corpus. Identical texts are pre-tokenised once (catalogue
 * text repeats a lot: category paths, brands). Occurrences of `specialTokens` are cut out
 * first, as HF does when encoding, so they never feed merges.
 */
export function countWords(
  texts: Iterable<string>,
  options: { preTokenize?: (text: string) => string[]; specialTokens?: readonly string[] } = {},
): Map<string, number> {
  const split = options.preTokenize ?? preTokenize;
  const specials = (options.specialTokens ?? []).filter((s) => s.length > 0);
  const specialRegex = specials.length > 0 ? new RegExp(specials.map(escapeRegex).join("|"), "g") : undefined;

  const textCounts = new Map<string, number>();
  for (const text of texts) {
    const parts = specialRegex ? text.split(specialRegex) : [text];
    for (const part of parts) if (part.length > 0) textCounts.set(part, (textCounts.get(part) ?? 0) + 1);
  }
  const words = new Map<string, number>();
  for (const [text, n] of textCounts) {
    for (const w of split(text)) words.set(w, (words.get(w) ?? 0) + n);
  }
  return words;
}

export interface BpeTrainOptions {
  /** Size of the BPE vocabulary: the 256 byte symbols plus the learnt merges (no special tokens). */
  vocabSize: number;
  /** A pair is merged only if it occurs at least this often (default 2). */
  minFrequency?: number;
}

export interface BpeModel {
  /** Token string (byte alphabet) of each id; ids 0–255 are the single bytes in GPT-2 order. */
  vocab: string[];
  /** Merges in rank order, as the two token strings joined (what `model.merges` holds). */
  merges: [string, string][];
}

/** Pairs of symbol ids packed into one number: a · 2^21 + b (vocabularies below 2M tokens). */
const PAIR_SHIFT = 2 ** 21;
const pairKey = (a: number, b: number) => a * PAIR_SHIFT + b;

/**
 * A binary max-heap of (pair, count) ordered by count, then by smaller pair key (the
 * deterministic tie-break: lower ids first, i.e. pairs of older tokens). Entries can go stale
 * when counts drop; the trainer re-checks each popped entry against the live count.
 */
class PairHeap {
  private keys: number[] = [];
  private counts: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
    const c = this.counts[i]!;
    this.counts[i] = this.counts[j]!;
    this.counts[j] = c;
  }

  push(key: number, count: number): void {
    this.keys.push(key);
    this.counts.push(count);
    for (let i = this.keys.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { key: number; count: number } | undefined {
    const n = this.keys.length;
    if (n === 0) return undefined;
    const top = { key: this.keys[0]!, count: this.counts[0]! };
    this.swap(0, n - 1);
    this.keys.pop();
    this.counts.pop();
    const m = n - 1;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < m && this.above(l, best)) best = l;
      if (r < m && this.above(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }
}

/** Trains on raw texts with the pure-JS pre-tokeniser. */
export function trainBpe(texts: Iterable<string>, options: BpeTrainOptions & { specialTokens?: readonly string[] }): BpeModel {
  return trainBpeFromWords(countWords(texts, { specialTokens: options.specialTokens }), options);
}

/**
 * Trains on counted byte-level words (see `countWords`). Every character of a word must be in
 * the byte alphabet, i.e. the words come from a byte-level pre-tokeniser.
 */
export function trainBpeFromWords(wordCounts: ReadonlyMap<string, number>, options: BpeTrainOptions): BpeModel {
  const { vocabSize } = options;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < 256) {
    throw new Error(`BPE trainer: vocabSize must be an integer ≥ 256 (the byte alphabet), got ${vocabSize}`);
  }
  if (vocabSize >= PAIR_SHIFT) throw new Error(`BPE trainer: vocabSize ${vocabSize} is too large (max ${PAIR_SHIFT - 1})`);
  if (!(minFrequency >= 1)) throw new Error(`BPE trainer: minFrequency must be ≥ 1, got ${minFrequency}`);

  const vocab = ALPHABET.byteOfSymbol.map((b) => ALPHABET.charOfByte[b]!);
  const idOf = new Map<string, number>(vocab.map((t, i) => [t, i]));

  // Words as arrays of symbol ids, with their corpus counts.
  const words: Int32Array[] = [];
  const counts: number[] = [];
  for (const [word, n] of wordCounts) {
    const symbols = new Int32Array(word.length);
    for (let i = 0; i < word.length; i++) {
      const id = idOf.get(word[i]!);
      if (id === undefined) throw new Error(`BPE trainer: word ${JSON.stringify(word)} has a character outside the byte alphabet`);
      symbols[i] = id;
    }
    words.push(symbols);
    counts.push(n);
  }

  // Pair counts over the corpus, and for each pair the words it (may) occur in. The word sets
  // are only ever added to: a word that lost a pair is skipped when the pair is merged.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPair = (key: number, n: number) => {
    const c = (pairCount.get(key) ?? 0) + n;
    if (c === 0) pairCount.delete(key);
    else pairCount.set(key, c);
  };
  const indexPair = (key: number, w: number) => {
    let set = pairWords.get(key);
    if (!set) pairWords.set(key, (set = new Set()));
    set.add(w);
  };
  for (let w = 0; w < words.length; w++) {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = pairKey(s[i]!, s[i + 1]!);
      addPair(key, counts[w]!);
      indexPair(key, w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(key, c);

  const merges: [string, string][] = [];
  while (vocab.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const live = pairCount.get(top.key) ?? 0;
    if (live !== top.count) {
      // Stale entry: the count dropped since it was pushed; put it back at its true place.
      if (live > 0) heap.push(top.key, live);
      continue;
    }
    if (live < minFrequency) break;

    const a = Math.floor(top.key / PAIR_SHIFT);
    const b = top.key % PAIR_SHIFT;
    const merged = vocab[a]! + vocab[b]!;
    // Two different merges can spell the same token (a+bc, ab+c); like HF, reuse its id.
    let id = idOf.get(merged);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(merged);
      idOf.set(merged, id);
    }
    merges.push([vocab[a]!, vocab[b]!]);

    // Pairs that contain the new id are the only ones whose counts can grow.
    const grown = new Set<number>();
    for (const w of pairWords.get(top.key) ?? []) {
      const old = words[w]!;
      const next = mergeWord(old, a, b, id);
      if (next === old) continue;
      const n = counts[w]!;
      for (let i = 0; i + 1 < old.length; i++) addPair(pairKey(old[i]!, old[i + 1]!), -n);
      for (let i = 0; i + 1 < next.length; i++) {
        const x = next[i]!;
        const y = next[i + 1]!;
        const key = pairKey(x, y);
        addPair(key, n);
        if (x === id || y === id) {
          indexPair(key, w);
          grown.add(key);
        }
      }
      words[w] = next;
    }
    pairCount.delete(top.key);
    pairWords.delete(top.key);
    for (const key of grown) {
      const c = pairCount.get(key);
      if (c !== undefined) heap.push(key, c);
    }
  }
  return { vocab, merges };
}

/**
 * Replaces each non-overlapping occurrence of (a, b), left to right, by `id`. Returns the same
 * array when the word has no occurrence (its index entry was stale).
 */
function mergeWord(s: Int32Array, a: number, b: number, id: number): Int32Array {
  let first = -1;
  for (let i = 0; i + 1 < s.length; i++) {
    if (s[i] === a && s[i + 1] === b) {
      first = i;
      break;
    }
  }
  if (first < 0) return s;
  const out = new Int32Array(s.length - 1);
  out.set(s.subarray(0, first));
  let j = first;
  for (let i = first; i < s.length; ) {
    if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
      out[j++] = id;
      i += 2;
    } else {
      out[j++] = s[i++]!;
    }
  }
  return out.subarray(0, j);
}

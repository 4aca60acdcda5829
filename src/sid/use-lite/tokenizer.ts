/**
 * The SentencePiece unigram tokenizer of Universal Sentence Encoder Lite, exactly as the
 * reference implementation tokenizes (`@tensorflow-models/universal-sentence-encoder`,
 * dist/tokenizer): the model was trained on its ids, and a parity test compares ours with it
 * text by text.
 *
 * The reference is not textbook SentencePiece, and its quirks are kept on purpose, because the
 * encoder's outputs depend on them:
 * - input: NFKC, then "▁" before the text and in place of every plain space (U+0020 only;
 *   tabs and newlines stay characters of their own);
 * - text and pieces are sequences of UTF-16 code units, not code points (its `stringToChars`,
 *   compiled to ES5, indexes the string), so an emoji is two symbols;
 * - a position where no piece starts becomes one unknown (id 0) unit with score 0 — higher
 *   than any real piece's log-probability, so an unknown character is cheap rather than dear;
 * - Viterbi keeps the later candidate on ties (`>=`) and treats a best score of exactly 0 as
 *   "none yet" (so a path of unknowns scoring 0 is always replaced);
 * - the backward pass steps back by the length of the piece's *string* (`vocabulary[id][0]`),
 *   which for an unknown is the length of entry 0's text, whatever the unknown unit was;
 * - runs of unknowns collapse to one id 0.
 * The first `reserved` vocabulary entries (unk, <s>, </s>, extra ids) are never matched.
 */

const SEPARATOR = "\u2581"; // ▁, SentencePiece's word-boundary mark

/** The vocabulary file's layout: `[[piece, score], …]`, index = token id. */
export type UseVocabulary = readonly (readonly [string, number])[];

interface TrieNode {
  children: Map<number, TrieNode>;
  /** The vocabulary id ending here, -1 when no piece ends at this node. */
  id: number;
  score: number;
  /** UTF-16 units from the root: the piece's length in the lattice. */
  depth: number;
}

const newNode = (depth: number): TrieNode => ({ children: new Map(), id: -1, score: 0, depth });

/**
 * A vocabulary read from the package's vocab.json, checked entry by entry. Seven pieces with
 * a colon (":", "://", "▁:)", …) have the score `null` in the shipped file; the reference adds
 * it to a number, where null counts as 0, so they are read as 0 here.
 */
export function parseVocabulary(json: unknown, file: string): UseVocabulary {
  if (!Array.isArray(json) || json.length === 0) throw new Error(`${file}: expected a non-empty JSON array of [piece, score] pairs`);
  return json.map((e, i): readonly [string, number] => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || !(e[1] === null || (typeof e[1] === "number" && Number.isFinite(e[1])))) {
      throw new Error(`${file}: entry ${i} is not a [piece, score] pair of a string and a finite number (or null): ${JSON.stringify(e)}`);
    }
    return [e[0], e[1] ?? 0];
  });
}

export class UseTokenizer {
  private readonly root = newNode(0);
  /** Each piece's string length (the backward pass's step; see the header). */
  private readonly pieceLength: Int32Array;

  constructor(readonly vocabulary: UseVocabulary, readonly reserved = 6) {
    this.pieceLength = Int32Array.from(vocabulary, ([piece]) => piece.length);
    for (let id = reserved; id < vocabulary.length; id++) {
      const [piece, score] = vocabulary[id]!;
      let node = this.root;
      for (let i = 0; i < piece.length; i++) {
        const unit = piece.charCodeAt(i);
        let next = node.children.get(unit);
        if (!next) node.children.set(unit, (next = newNode(node.depth + 1)));
        node = next;
      }
      // An empty piece marks nothing (the reference's loop never reaches its last symbol);
      // a repeated piece takes the later id and score, as the reference's trie does.
      if (node !== this.root) {
        node.id = id;
        node.score = score;
      }
    }
  }

  get vocabularySize(): number {
    return this.vocabulary.length;
  }

  /** Token ids for one text ([] for the empty string). */
  encode(text: string): number[] {
    const normalized = text.normalize("NFKC");
    if (normalized.length === 0) return [];
    const input = SEPARATOR + normalized.replaceAll(" ", SEPARATOR);
    const n = input.length;
    // best[e]: the best path score covering symbols [0, e); word[e]: the id of that path's last piece.
    // Scores are doubles, as in the reference (the vocabulary's scores are JSON numbers).
    const best = new Float64Array(n + 1);
    const word = new Int32Array(n + 1);
    // Forward relaxation in increasing start order applies, for every end position, the same
    // candidates in the same order as the reference's end-major loop: best[start] is final
    // before any piece starting there is relaxed.
    for (let start = 0; start < n; start++) {
      const from = best[start]!;
      let node = this.root.children.get(input.charCodeAt(start));
      let matched = false;
      for (let i = start; node; ) {
        if (node.id >= 0) {
          matched = true;
          relax(best, word, start + node.depth, node.score + from, node.id);
        }
        i++;
        node = i < n ? node.children.get(input.charCodeAt(i)) : undefined;
      }
      if (!matched) relax(best, word, start + 1, from, 0); // one unknown unit, score 0
    }
    const reversed: number[] = [];
    for (let at = n; at > 0; at -= this.pieceLength[word[at]!]!) reversed.push(word[at]!);
    const ids: number[] = [];
    for (let i = reversed.length - 1; i >= 0; i--) {
      // Collapse runs of unknowns (the reference merges while walking from the end; same result).
      if (reversed[i] === 0 && i + 1 < reversed.length && reversed[i + 1] === 0) continue;
      ids.push(reversed[i]!);
    }
    return ids;
  }
}

/** The reference's update rule, quirks included (header). */
function relax(best: Float64Array, word: Int32Array, end: number, score: number, id: number): void {
  if (best[end] === 0 || score >= best[end]!) {
    best[end] = score;
    word[end] = id;
  }
}

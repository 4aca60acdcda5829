/**
 * A prefix tree over token-id sequences, for constrained decoding: built from every valid
 * item's SID tokens (`<|sid_begin|>`, one code per level, `<|sid_end|>`), it tells a decoder
 * which tokens may come next after any prefix, so the model can only emit existing items.
 *
 * Each complete sequence carries a value (the item index) at its leaf. Sequences must not be
 * prefixes of one another (a leaf has no children), which SIDs guarantee: they all have the same
 * length and end with the same end token.
 */
import { tensor } from "../torch/index.js";
import type { LogitConstraint } from "./generate.js";

export class TrieNode {
  readonly children = new Map<number, TrieNode>();
  /** The value of the sequence ending here (leaves only). */
  value: number | undefined = undefined;
  /** Number of sequences below (or at) this node. */
  count = 0;

  get isLeaf(): boolean {
    return this.children.size === 0;
  }
}

export class TokenTrie {
  readonly root = new TrieNode();
  #size = 0;
  /** Length of every sequence, or -1 once lengths differ (0 while empty). */
  #depth = 0;

  /** A trie of `sequences`, sequence i carrying value i (its item index). */
  static fromSequences(sequences: readonly (readonly number[])[]): TokenTrie {
    const trie = new TokenTrie();
    sequences.forEach((s, i) => trie.insert(s, i));
    return trie;
  }

  get size(): number {
    return this.#size;
  }

  /** The common length of all sequences, or undefined when they differ. */
  get depth(): number | undefined {
    return this.#depth < 0 ? undefined : this.#depth;
  }

  insert(tokens: readonly number[], value: number): void {
    if (tokens.length === 0) throw new Error("TokenTrie: cannot insert an empty sequence");
    let node = this.root;
    for (const t of tokens) {
      if (node.value !== undefined) throw new Error(`TokenTrie: a sequence is a prefix of [${tokens.join(", ")}]`);
      let next = node.children.get(t);
      if (!next) node.children.set(t, (next = new TrieNode()));
      node.count++;
      node = next;
    }
    if (node.value !== undefined) throw new Error(`TokenTrie: [${tokens.join(", ")}] inserted twice (values ${node.value} and ${value})`);
    if (!node.isLeaf) throw new Error(`TokenTrie: [${tokens.join(", ")}] is a prefix of another sequence`);
    node.value = value;
    node.count++;
    this.#size++;
    this.#depth = this.#size === 1 ? tokens.length : this.#depth === tokens.length ? this.#depth : -1;
  }

  /** The node reached by `prefix`, or undefined if no sequence starts with it. */
  find(prefix: readonly number[], from: TrieNode = this.root): TrieNode | undefined {
    let node: TrieNode | undefined = from;
    for (const t of prefix) {
      node = node.children.get(t);
      if (!node) return undefined;
    }
    return node;
  }

  /** The tokens allowed after `prefix` (empty when the prefix is complete or invalid). */
  allowed(prefix: readonly number[]): number[] {
    return [...(this.find(prefix)?.children.keys() ?? [])];
  }

  /** The value of a complete sequence, or undefined. */
  valueOf(tokens: readonly number[]): number | undefined {
    return this.find(tokens)?.value;
  }

  /**
   * The tokens every sequence starts with (e.g. `<|sid_begin|>`): a decoder can append them to
   * the prompt instead of spending a step on a choice that is not one.
   */
  forcedPrefix(): number[] {
    const out: number[] = [];
    let node = this.root;
    while (node.children.size === 1 && node.value === undefined) {
      const [[t, next]] = node.children;
      out.push(t);
      node = next;
    }
    return node.isLeaf ? out.slice(0, -1) : out;
  }

  /**
   * A `generate()` constraint: row b's tokens generated so far (after `prefixes[b]`, the part
   * of the sequence already in its prompt) must stay inside the trie. Rows that complete a
   * sequence (or left it) are allowed only `stopToken` if given, else everything.
   */
  constraint(vocabSize: number, { prefixes, stopToken }: { prefixes?: readonly (readonly number[])[]; stopToken?: number } = {}): LogitConstraint {
    return (_step, generated, logits) => {
      const B = generated.length;
      const V = logits.size(-1);
      if (V < vocabSize) throw new Error(`TokenTrie.constraint: logits have ${V} columns, fewer than the vocabulary (${vocabSize})`);
      const mask = new Uint8Array(B * V);
      for (let b = 0; b < B; b++) {
        const node = this.find([...(prefixes?.[b] ?? []), ...generated[b]!]);
        if (node && !node.isLeaf) for (const t of node.children.keys()) mask[b * V + t] = 1;
        else if (stopToken !== undefined) mask[b * V + stopToken] = 1;
        else mask.fill(1, b * V, (b + 1) * V);
      }
      return tensor(mask, [B, V], { dtype: "bool", device: logits.device });
    };
  }
}

/**
 * Constrained beam search over a token trie: for each prompt, the `beams` best complete
 * sequences of the trie (e.g. the item SIDs a generative recommender may emit), best first.
 * Batched over prompts with one KV cache:
 *
 *   prefill   all prompts (left-padded, padding masked), one cache row per prompt
 *   each step every live beam's allowed next tokens (its trie node's children) are scored by
 *             the log-probabilities the last forward gave; per prompt the `beams` best
 *             (parent, token) pairs survive; the cache rows are re-ordered by parent with
 *             indexSelect (the first step fans one row per prompt out to `beams` rows), and the
 *             chosen tokens go through the model to give the next step's log-probabilities.
 *
 * Scores are sums of the model's log p(token) (unrenormalised, as in HF's constrained beam
 * search) over the steps that are a choice. A token that is the only continuation allowed is
 * forced: it adds 0 (its probability under the constraint is 1) and needs no forward pass of its
 * own when nothing follows it. The prefix every sequence shares (`<|sid_begin|>`) is appended
 * to the prompts and the tail that is forced for every beam (`<|sid_end|>`) is appended
 * without running the model, so a 4-level SID costs one prefill and three decoding steps.
 *
 * Every sequence of the trie must have the same length (true for SIDs), so all beams finish
 * together. Prompts are processed in batches of similar length (less padding); results come
 * back in the caller's order.
 */
import { int64, mixedPrecision, linear, noGrad, tensor, tidy, type Tensor } from "../torch/index.js";
import { KVCache } from "./kv-cache.js";
import type { DecoderLM } from "./model.js";
import type { TokenTrie, TrieNode } from "./trie.js";

export interface BeamSearchOptions {
  /** Sequences kept per prompt (≥ the largest k a metric needs). */
  beams: number;
  trie: TokenTrie;
  /** Prompts per batch; decoding runs batch × beams cache rows. Default 16. */
  batchSize?: number;
  /** Token used to left-pad shorter prompts (never attended to). Default 0. */
  padToken?: number;
  /** "bf16" runs the transformer under autocast (several times faster on CPUs with AMX); the output projection and scores stay fp32. */
  precision?: "fp32" | "bf16";
}

export interface Hypothesis {
  /** The whole trie sequence (shared prefix included). */
  tokens: number[];
  /** The trie value at its leaf (the item index). */
  value: number;
  /** Sum of log p over the chosen (not forced) tokens. */
  score: number;
}

interface Beam {
  node: TrieNode;
  tokens: number[];
  score: number;
}

export function constrainedBeamSearch(model: DecoderLM, prompts: readonly (readonly number[])[], o: BeamSearchOptions): Hypothesis[][] {
  if (!(Number.isInteger(o.beams) && o.beams >= 1)) throw new Error(`beam search: beams must be a positive integer, got ${o.beams}`);
  if (o.trie.size === 0) throw new Error("beam search: the trie is empty");
  if (o.trie.depth === undefined) throw new Error("beam search: every trie sequence must have the same length");
  if (prompts.some((p) => p.length === 0)) throw new Error("beam search: every prompt needs at least one token");
  const batchSize = o.batchSize ?? 16;
  // Similar lengths together: less padding in the prefill.
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a]!.length - prompts[b]!.length || a - b);
  const out: Hypothesis[][] = new Array(prompts.length);
  const ownFusion = !model.inferencePrepared;
  if (ownFusion) model.prepareInference();
  try {
    for (let start = 0; start < order.length; start += batchSize) {
      const chunk = order.slice(start, start + batchSize);
      const results = searchBatch(model, chunk.map((i) => prompts[i]!), o);
      chunk.forEach((i, j) => (out[i] = results[j]!));
    }
  } finally {
    if (ownFusion) model.releaseInference();
  }
  return out;
}

/** One batch of prompts: prefill, then step until every beam reaches a leaf. */
function searchBatch(model: DecoderLM, rawPrompts: readonly (readonly number[])[], o: BeamSearchOptions): Hypothesis[][] {
  const shared = o.trie.forcedPrefix();
  const start = o.trie.find(shared)!;
  const prompts = rawPrompts.map((p) => [...p, ...shared]);
  const B = prompts.length;
  const P = Math.max(...prompts.map((p) => p.length));
  const capacity = P + o.trie.depth! - shared.length;
  if (capacity > model.config.maxPositions) throw new Error(`beam search: prompt (${P}) + sequence (${o.trie.depth! - shared.length}) exceed maxPositions (${model.config.maxPositions})`);
  const pad = o.padToken ?? 0;
  const padLen = prompts.map((p) => P - p.length);
  const run = <R>(fn: () => R): R => (o.precision === "bf16" ? mixedPrecision(fn, { device: model.device }) : fn());

  const cache = new KVCache(model.config, B, capacity, { device: model.device });
  const keyValidBase = tensor(Uint8Array.from({ length: B * capacity }, (_, i) => (i % capacity >= padLen[Math.floor(i / capacity)]! ? 1 : 0)), [B, capacity], { dtype: "bool", device: model.device }).keep();
  let keyValid = keyValidBase;
  // beams[b]: prompt b's live beams; rows[b][j]: the cache row holding beam j's state.
  let beams: Expanded[][] = prompts.map(() => [{ node: start, tokens: [...shared], score: 0, parentSlot: 0 }]);
  let rows: number[][] = prompts.map((_, b) => [b]);
  let logprobs: Tensor | null = null;
  try {
    return noGrad(() => {
      logprobs = tidy(() => {
        const ids = int64(prompts.flatMap((p, b) => [...new Array<number>(padLen[b]!).fill(pad), ...p]), [B, P], model.device);
        const pos = int64(prompts.flatMap((_, b) => Array.from({ length: P }, (_, t) => Math.max(0, t - padLen[b]!))), [B, P], model.device);
        const hidden = run(() => model.lastHidden(ids, { positions: pos, cache, keyMask: keyValidBase.narrow(1, 0, P) }));
        return nextTokenLogprobs(model, hidden).keep();
      });
      for (let step = 0; ; step++) {
        beams = expand(beams, rows, logprobs!, o.beams);
        logprobs!.dispose();
        logprobs = null;
        if (beams.every((bs) => bs.every((beam) => isForcedToLeaf(beam.node)))) break;
        // Re-order the cache rows by parent and feed the chosen tokens.
        const parents = beams.flatMap((bs, b) => bs.map((beam) => rows[b]![beam.parentSlot]!));
        const promptOf = beams.flatMap((bs, b) => bs.map(() => b));
        let r = 0;
        rows = beams.map((bs) => bs.map(() => r++));
        tidy(() => {
          const index = int64(parents, [parents.length], model.device);
          reorderCache(cache, index);
          if (keyValid !== keyValidBase) keyValid.dispose();
          keyValid = keyValidBase.indexSelect(0, int64(promptOf, [promptOf.length], model.device)).keep();
        });
        logprobs = tidy(() => {
          const ids = int64(beams.flatMap((bs) => bs.map((beam) => beam.tokens.at(-1)!)), [parents.length, 1], model.device);
          const pos = int64(promptOf.map((b) => prompts[b]!.length + step), [parents.length, 1], model.device);
          const hidden = run(() => model.hidden(ids, { positions: pos, cache, keyMask: keyValid.narrow(1, 0, cache.length + 1) }));
          return nextTokenLogprobs(model, hidden.select(1, 0)).keep();
        });
      }
      return beams.map((bs) =>
        bs.map((beam) => {
          const leaf = followForced(beam.node, beam.tokens);
          return { tokens: beam.tokens, value: leaf.value!, score: beam.score };
        }),
      );
    });
  } finally {
    (logprobs as Tensor | null)?.dispose();
    if (keyValid !== keyValidBase) keyValid.dispose();
    keyValidBase.dispose();
    cache.dispose();
  }
}

/**
 * log p(next token) [rows, V] from the last hidden states [rows, d]: only the positions that
 * are decoded go through the output projection (a prefill would otherwise project every prompt
 * position), and it runs in fp32 even under bf16 autocast, so that close scores are not
 * rounded into ties.
 */
function nextTokenLogprobs(model: DecoderLM, hidden: Tensor): Tensor {
  return linear(hidden.to("float32"), model.outputWeight).logSoftmax(-1);
}

type Expanded = Beam & { parentSlot: number };

/**
 * Every beam's allowed continuations, scored with the log-probabilities of its cache row; per
 * prompt the `width` best survive (ties broken by token id, so the result is deterministic).
 */
function expand(beams: Beam[][], rows: number[][], logprobs: Tensor, width: number): Expanded[][] {
  // Gather only the allowed tokens' log-probabilities: [rows, widest fan-out] instead of [rows, V].
  const live = beams.flatMap((bs, b) => bs.map((beam, j) => ({ beam, row: rows[b]![j]! })));
  const fanOut = Math.max(...live.map(({ beam }) => beam.node.children.size));
  const tokenLists = live.map(({ beam }) => [...beam.node.children.keys()]);
  const gathered = tidy(() => {
    const index = int64(tokenLists.flatMap((ts) => Array.from({ length: fanOut }, (_, i) => ts[i] ?? ts[0]!)), [live.length, fanOut], logprobs.device);
    const rowIndex = int64(live.map((l) => l.row), [live.length], logprobs.device);
    return logprobs.indexSelect(0, rowIndex).gather(1, index).toFloat32Array();
  });
  const out: Expanded[][] = [];
  let k = 0;
  for (const bs of beams) {
    const candidates: Expanded[] = [];
    bs.forEach((beam, slot) => {
      const tokens = tokenLists[k]!;
      const forced = tokens.length === 1;
      tokens.forEach((t, i) => {
        const lp = forced ? 0 : gathered[k * fanOut + i]!;
        candidates.push({ node: beam.node.children.get(t)!, tokens: [...beam.tokens, t], score: beam.score + lp, parentSlot: slot });
      });
      k++;
    });
    candidates.sort((a, b) => b.score - a.score || compareTokens(a.tokens, b.tokens));
    out.push(candidates.slice(0, width));
  }
  return out;
}

function compareTokens(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** True when the rest of the path from `node` is a single chain (nothing left to choose). */
function isForcedToLeaf(node: TrieNode): boolean {
  let n = node;
  while (!n.isLeaf) {
    if (n.children.size !== 1) return false;
    n = n.children.values().next().value!;
  }
  return true;
}

/** Walks a forced chain to its leaf, appending its tokens to `tokens`. */
function followForced(node: TrieNode, tokens: number[]): TrieNode {
  let n = node;
  while (!n.isLeaf) {
    const [[t, next]] = n.children;
    tokens.push(t);
    n = next;
  }
  return n;
}

/** Replaces each layer's key/value buffer by its rows `index` (a beam inherits its parent's past). */
function reorderCache(cache: KVCache, index: Tensor): void {
  for (const buffers of [cache.keys, cache.values]) {
    buffers.forEach((old, layer) => {
      buffers[layer] = old.indexSelect(0, index).keep();
      old.dispose();
    });
  }
}

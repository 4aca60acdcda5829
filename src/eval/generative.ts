/**
 * Generative next-item evaluation (TIGER's protocol): for each user the mid-trained model is
 * shown the history as SIDs (the sequential task's prompt) and decodes the next item with
 * constrained beam search over the catalogue's SIDs (a trie of their token ids, so only existing
 * items can come out). The `beams` sequences, best first, are the ranked list; Recall@k and
 * NDCG@k are computed from the target's place in it (0 when it is not among them), with
 * `beams` ≥ the largest k.
 *
 * Split: leave-one-out (docs/architecture.md, Protocol). On "test" the history is everything
 * but the last item (the valid item included, as TIGER does); on "valid" it ends before the
 * valid item, which is what mid-training's periodic check uses so that the test split stays
 * unseen. Histories are truncated to their last `maxHistory` items, as in training.
 *
 * Every emitted sequence is checked: its tokens must parse as a SID (tokenizer.sidCodes) that
 * the SID map assigns to the very catalogue item the trie says; anything else throws.
 */
import { Rng } from "../util/rng.js";
import { leaveOneOut } from "../data/split.js";
import type { Dataset, Example } from "../data/types.js";
import { constrainedBeamSearch } from "../lm/beam.js";
import type { DecoderLM } from "../lm/model.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { TokenTrie } from "../lm/trie.js";
import type { SidMap } from "../sid/sidmap.js";
import { encodeFragments, itemSidTokens, sequentialPrompt } from "../train/tasks/context.js";
import { metricAtRank, type MetricName } from "../rank/metrics.js";

export const GENERATIVE_KS = [5, 10] as const;

export interface GenerativeEvalOptions {
  split?: "test" | "valid";
  /** Evaluate a seeded random sample of this many users (default: all). */
  users?: number;
  seed?: number;
  /** History items in the prompt (default 20, as in training). */
  maxHistory?: number;
}

/** Prompts, targets and the trie: everything but the model. */
export interface GenerativeEvalSet {
  split: "test" | "valid";
  examples: Example[];
  prompts: number[][];
  trie: TokenTrie;
  /** The catalogue item a SID's token ids name, via the tokenizer and the SID map (undefined: none). */
  itemOfTokens: (tokens: readonly number[]) => number | undefined;
}

export interface GenerativeRunOptions {
  /** Beam width (≥ the largest k; default 20). */
  beams?: number;
  /** Users per batch (decoding runs batch × beams rows). Default 16. */
  batchSize?: number;
  /** The transformer's precision (default bf16, as the embedded presets train; scores are fp32). */
  precision?: "fp32" | "bf16";
  padToken?: number;
}

export interface GenerativeMetrics {
  "recall@5": number;
  "ndcg@5": number;
  "recall@10": number;
  "ndcg@10": number;
  users: number;
  beams: number;
  split: "test" | "valid";
  /** Per user, the target's 1-based rank among the beams (0: not found). */
  ranks: number[];
  seconds: number;
}

/**
 * Mid-training's periodic check (`MidtrainOptions.check`): next-item retrieval on `users`
 * valid-split users with a constrained beam, R@5/NDCG@5/R@10/NDCG@10. Null when users is 0.
 */
export function generativeCheck(ds: Dataset, sidMap: SidMap, o: { users: number; beams: number; seed: number; maxHistory: number }) {
  return async (tokenizer: TextTokenizer, precision: "fp32" | "bf16") => {
    if (o.users <= 0) return null;
    const set = await prepareGenerativeEval(ds, sidMap, tokenizer, { split: "valid", users: o.users, seed: o.seed, maxHistory: o.maxHistory });
    return (model: DecoderLM): Record<string, number> => {
      const m = runGenerativeEval(model, set, { beams: o.beams, precision });
      return { "recall@5": m["recall@5"], "ndcg@5": m["ndcg@5"], "recall@10": m["recall@10"], "ndcg@10": m["ndcg@10"] };
    };
  };
}

export async function prepareGenerativeEval(ds: Dataset, sidMap: SidMap, tokenizer: TextTokenizer, o: GenerativeEvalOptions = {}): Promise<GenerativeEvalSet> {
  const split = o.split ?? "test";
  const maxHistory = o.maxHistory ?? 20;
  const all = leaveOneOut(ds.interactions, { skipShortUsers: true, maxHistory })[split];
  const examples = o.users !== undefined && o.users < all.length ? new Rng(o.seed ?? 0).sample(all, o.users).sort((a, b) => a.user - b.user) : all;
  const sids = itemSidTokens(ds, sidMap, tokenizer);
  const fragments = await encodeFragments(tokenizer);
  const catalogueIndex = new Map(ds.catalogue.items.map((it) => [it.id, it.index]));
  const itemOfTokens = (tokens: readonly number[]) => {
    const i = sidMap.itemOfCodes(tokenizer.sidCodes(tokens));
    return i === undefined ? undefined : catalogueIndex.get(sidMap.ids[i]!);
  };
  return {
    split,
    examples,
    prompts: examples.map((e) => sequentialPrompt(fragments, sids, e.history)),
    trie: TokenTrie.fromSequences(sids),
    itemOfTokens,
  };
}

export function runGenerativeEval(model: DecoderLM, set: GenerativeEvalSet, o: GenerativeRunOptions = {}): GenerativeMetrics {
  const beams = o.beams ?? 20;
  const kMax = Math.max(...GENERATIVE_KS);
  if (beams < kMax) throw new Error(`generative eval: beam width ${beams} is below the largest k (${kMax})`);
  const t0 = performance.now();
  const results = constrainedBeamSearch(model, set.prompts, { beams, trie: set.trie, batchSize: o.batchSize, precision: o.precision ?? "bf16", padToken: o.padToken });
  const ranks = results.map((hyps, u) => {
    for (const h of hyps) {
      const item = set.itemOfTokens(h.tokens);
      if (item === undefined || item !== h.value) {
        throw new Error(`generative eval: user ${set.examples[u]!.user} got a sequence that is not a valid item's SID: [${h.tokens.join(", ")}]`);
      }
    }
    const at = hyps.findIndex((h) => h.value === set.examples[u]!.target);
    return at + 1;
  });
  const mean = (m: MetricName) => (ranks.length === 0 ? NaN : ranks.reduce((a, r) => a + (r > 0 ? metricAtRank(m, r) : 0), 0) / ranks.length);
  return {
    "recall@5": mean("recall@5"),
    "ndcg@5": mean("ndcg@5"),
    "recall@10": mean("recall@10"),
    "ndcg@10": mean("ndcg@10"),
    users: ranks.length,
    beams,
    split: set.split,
    ranks,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Prepare and run in one call. */
export async function evaluateGenerative(
  model: DecoderLM,
  tokenizer: TextTokenizer,
  ds: Dataset,
  sidMap: SidMap,
  o: GenerativeEvalOptions & GenerativeRunOptions = {},
): Promise<GenerativeMetrics> {
  return runGenerativeEval(model, await prepareGenerativeEval(ds, sidMap, tokenizer, o), o);
}

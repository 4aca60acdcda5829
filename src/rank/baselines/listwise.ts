/**
 * The non-LLM listwise re-ranker: the model a practitioner would deploy instead of GR2, in the
 * spirit of PRM (Pei et al. 2019, "Personalized Re-ranking for Recommendation") and SetRank
 * (Pang et al. 2020). A small bidirectional transformer reads the user's recent history and the
 * K candidates as one sequence, so each candidate is scored in the context of the others and
 * of the history, and a softmax over the K candidate scores is trained against the target
 * (the listwise cross-entropy of ListNet/ListMLE's top-1 form).
 *
 * Each token is the sum of
 *   - an item-id embedding (learned),
 *   - a projection of the item's text features (fixed TF-IDF/SVD vectors, see text-features.ts),
 *   - a position embedding: for history items the distance from the most recent one, for
 *     candidates the incoming (upstream) position — the re-ranker knows what the upstream
 *     ranker thought. `usePosition: false` replaces it by one shared "candidate" embedding
 *     (an ablation: what content alone achieves);
 *   - for candidates, when `useScores` is on, a projection of the upstream score standardised
 *     within the list (how far apart the ranker placed them, not just in which order; zero
 *     for lists without scores). Off in the no-position ablation, since scores imply the order.
 */
import { cat, embedding, mixedPrecision, noGrad, tensor, tidy, zeros, type Tensor } from "../../torch/index.js";
import { Embedding, Linear, RMSNorm } from "../../nn/layers.js";
import { Module } from "../../nn/module.js";
import { dropout } from "../../torch/index.js";
import type { CandidateList } from "../candidates.js";
import { padLeft } from "../sequences.js";
import { NORM_EPS, TransformerBlock } from "../transformer.js";
import type { TextFeatures } from "../text-features.js";
import type { ListReranker } from "./reranker.js";

export interface ListwiseConfig {
  numItems: number;
  /** Width of the text features (0 = none). */
  textDim: number;
  hidden: number;
  layers: number;
  heads: number;
  ffn: number;
  dropout: number;
  /** Most recent history items read. */
  maxHistory: number;
  /** K, the list size. */
  listSize: number;
  /** Read item-id embeddings. */
  useIds: boolean;
  /** Read the incoming positions. */
  usePosition: boolean;
  /** Read the upstream scores (standardised per list). */
  useScores: boolean;
}

export const LISTWISE_DEFAULTS: Omit<ListwiseConfig, "numItems" | "textDim"> = {
  hidden: 64,
  layers: 2,
  heads: 2,
  ffn: 128,
  dropout: 0.2,
  maxHistory: 20,
  listSize: 10,
  useIds: true,
  usePosition: true,
  useScores: true,
};

export class ListwiseModel extends Module {
  readonly items: Embedding;
  /** [numItems + 1, textDim] fixed text features (row 0 = padding); saved with the model. */
  readonly text: Tensor | null;
  readonly textProj: Linear | null;
  readonly historyPos: Embedding;
  readonly candidatePos: Embedding;
  readonly scoreProj: Linear | null;
  readonly blocks: TransformerBlock[];
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: ListwiseConfig, textFeatures: TextFeatures | null, readonly device = "cpu") {
    super();
    const c = config;
    this.items = this.child("item_emb", new Embedding(c.numItems + 1, c.hidden, { device }));
    if (c.textDim > 0) {
      if (!textFeatures || textFeatures.dim !== c.textDim || textFeatures.data.length !== c.numItems * c.textDim) {
        throw new RangeError(`listwise: text features must be ${c.numItems} × ${c.textDim}`);
      }
      const table = new Float32Array((c.numItems + 1) * c.textDim);
      table.set(textFeatures.data, c.textDim);
      this.text = this.param("text_features", tensor(table, [c.numItems + 1, c.textDim], { device }), false);
      this.textProj = this.child("text_proj", new Linear(c.textDim, c.hidden, { device }));
    } else {
      this.text = null;
      this.textProj = null;
    }
    this.historyPos = this.child("history_pos", new Embedding(c.maxHistory, c.hidden, { device }));
    this.candidatePos = this.child("candidate_pos", new Embedding(c.listSize, c.hidden, { device }));
    this.scoreProj = c.useScores ? this.child("score_proj", new Linear(1, c.hidden, { device })) : null;
    this.blocks = Array.from({ length: c.layers }, (_, i) => this.child(`blocks.${i}`, new TransformerBlock(c, false, device)));
    this.norm = this.child("norm", new RMSNorm(c.hidden, NORM_EPS, { device }));
    this.head = this.child("head", new Linear(c.hidden, 1, { bias: true, device }));
  }

  /**
   * Candidate logits [B, K] for history ids [B, H] (left-padded, 0 = pad), candidate ids [B, K]
   * and, when the model reads them, standardised upstream scores [B, K].
   */
  forward(history: Tensor, candidates: Tensor, scores?: Tensor): Tensor {
    const c = this.config;
    const [B, H] = history.shape as [number, number];
    const K = candidates.size(1);
    const tokens = cat([history, candidates], 1); // [B, H + K]
    let x = this.tokenFeatures(tokens);
    const histPos = embedding(this.historyPos.weight, arangeDesc(H, this.device)); // [H, d]
    const candIdx = c.usePosition ? ascending(K, this.device) : zerosIdx(K, this.device);
    const candPos = embedding(this.candidatePos.weight, candIdx); // [K, d]
    x = x.add(cat([histPos, candPos], 0));
    if (this.scoreProj && scores) {
      const s = this.scoreProj.forward(scores.unsqueeze(-1)); // [B, K, d]
      x = x.add(cat([zeros([B, H, c.hidden], { device: this.device }), s.to("float32")], 1));
    }
    x = dropout(x, c.dropout, this.training);
    const keyMask = tokens.ne(0).view(B, 1, 1, H + K);
    for (const block of this.blocks) x = block.forward(x, keyMask);
    const out = this.norm.forward(x.narrow(1, H, K));
    return this.head.forward(out).squeeze(-1);
  }

  private tokenFeatures(tokens: Tensor): Tensor {
    const parts: Tensor[] = [];
    if (this.config.useIds) parts.push(this.items.forward(tokens));
    if (this.text && this.textProj) parts.push(this.textProj.forward(embedding(this.text, tokens)));
    if (parts.length === 0) throw new Error("listwise: the model reads neither item ids nor text features");
    return parts.reduce((a, b) => a.add(b));
  }
}

const ascending = (n: number, device: string): Tensor => tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [n], { dtype: "int64", device });
const arangeDesc = (n: number, device: string): Tensor => tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(n - 1 - i)), [n], { dtype: "int64", device });
const zerosIdx = (n: number, device: string): Tensor => tensor(new BigInt64Array(n), [n], { dtype: "int64", device });

/** The model's input tensors for a batch of lists. */
export function listBatch(model: ListwiseModel, lists: readonly CandidateList[]): { history: Tensor; candidates: Tensor; scores?: Tensor } {
  const c = model.config;
  for (const l of lists) {
    if (l.candidates.length !== c.listSize) throw new RangeError(`listwise: user ${l.user}'s list has ${l.candidates.length} candidates; the model was built for ${c.listSize}`);
  }
  return {
    history: padLeft(lists.map((l) => l.history), c.maxHistory, model.device),
    candidates: padLeft(lists.map((l) => l.candidates), c.listSize, model.device),
    scores: c.useScores ? standardisedScores(lists, c.listSize, model.device) : undefined,
  };
}

/** Upstream scores as z-scores within each list, [B, K]; zeros where a list has no scores. */
export function standardisedScores(lists: readonly CandidateList[], K: number, device: string): Tensor {
  const out = new Float32Array(lists.length * K);
  lists.forEach((l, b) => {
    if (!l.scores) return;
    const m = l.scores.reduce((a, x) => a + x, 0) / K;
    const sd = Math.sqrt(l.scores.reduce((a, x) => a + (x - m) ** 2, 0) / K) || 1;
    l.scores.forEach((x, k) => (out[b * K + k] = (x - m) / sd));
  });
  return tensor(out, [lists.length, K], { device });
}

/** A trained listwise model as a `ListReranker`. */
export class ListwiseReranker implements ListReranker {
  constructor(
    readonly model: ListwiseModel,
    readonly name = "listwise",
    readonly useAutocast = true,
    readonly batchSize = 512,
  ) {}

  scoreLists(lists: readonly CandidateList[]): Float32Array[] {
    const m = this.model;
    const wasTraining = m.training;
    m.eval();
    const K = m.config.listSize;
    const out: Float32Array[] = [];
    try {
      for (let start = 0; start < lists.length; start += this.batchSize) {
        const batch = lists.slice(start, start + this.batchSize);
        const flat = noGrad(() =>
          tidy(() => {
            const { history, candidates, scores } = listBatch(m, batch);
            return mixedPrecision(() => m.forward(history, candidates, scores), { device: m.device, enabled: this.useAutocast }).to("float32").toFloat32Array();
          }),
        );
        for (let b = 0; b < batch.length; b++) out.push(flat.slice(b * K, (b + 1) * K));
      }
    } finally {
      m.train(wasTraining);
    }
    return out;
  }
}

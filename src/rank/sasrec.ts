/**
 * SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018) on the engine.
 *
 *   x_t = E[item_t]·√d + P[distance from the end]          (E is also the output layer)
 *   for each block:  x = x + drop(attn(norm(x)))   causal, padding keys masked
 *                    x = x + drop(W2·gelu(W1·norm(x)))
 *   h_t = norm(x_t);   score(j | s_≤t) = h_t · E[j]
 *
 * Differences from the paper, each for a reason:
 * - trained by default with the full-softmax cross-entropy over all items instead of binary
 *   cross-entropy with one sampled negative: markedly better on sparse data (Klenitskiy &
 *   Vasilev 2023, "Turning Dross Into Gold Loss: is BERT4Rec really better than SASRec?"); the
 *   paper's loss stays available (`loss: "bce"` in sasrec-train.ts) to compare with published
 *   figures;
 * - RMSNorm instead of LayerNorm and pre-norm blocks: the engine's norm, and the stable order;
 * - positions count back from the most recent item, so left padding never shifts them.
 */
import { arange, dropout, mixedPrecision, embedding, linear, noGrad, tidy, type Tensor } from "../torch/index.js";
import { Embedding, RMSNorm } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { PAD, padLeft, batchWidth } from "./sequences.js";
import type { Ranker } from "./ranker.js";
import { NORM_EPS, TransformerBlock } from "./transformer.js";

export interface SasrecConfig {
  numItems: number;
  /** Longest history the model reads (older items are dropped). Paper: 50 on Beauty. */
  maxLen: number;
  hidden: number;
  layers: number;
  heads: number;
  /** Width of the feed-forward layer. */
  ffn: number;
  /** Dropout on embeddings, attention output and feed-forward (paper: 0.5 on the sparse Amazon sets). */
  dropout: number;
}

export const SASREC_DEFAULTS: Omit<SasrecConfig, "numItems"> = { maxLen: 50, hidden: 64, layers: 2, heads: 2, ffn: 256, dropout: 0.5 };

export class Sasrec extends Module {
  /** [numItems + 1, d]: row 0 is padding, row i + 1 is item i. Also the output layer. */
  readonly items: Embedding;
  /** [maxLen, d]: row p is "p items before the most recent". */
  readonly positions: Embedding;
  readonly blocks: TransformerBlock[];
  readonly norm: RMSNorm;

  constructor(readonly config: SasrecConfig, readonly device = "cpu") {
    super();
    const c = config;
    this.items = this.child("item_emb", new Embedding(c.numItems + 1, c.hidden, { device }));
    this.positions = this.child("pos_emb", new Embedding(c.maxLen, c.hidden, { device }));
    this.blocks = Array.from({ length: c.layers }, (_, i) => this.child(`blocks.${i}`, new TransformerBlock(c, true, device)));
    this.norm = this.child("norm", new RMSNorm(c.hidden, NORM_EPS, { device }));
  }

  /** Final hidden states [B, T, d] for left-padded ids [B, T] (T ≤ maxLen). */
  hidden(ids: Tensor): Tensor {
    const [B, T] = ids.shape as [number, number];
    if (T > this.config.maxLen) throw new RangeError(`sasrec: sequence width ${T} exceeds maxLen ${this.config.maxLen}`);
    const real = ids.ne(PAD); // [B, T]
    const pos = arange(T - 1, -1, -1, { device: this.device }); // distance from the end: column T-1 is 0
    let x = this.items.forward(ids).mul(Math.sqrt(this.config.hidden)).add(embedding(this.positions.weight, pos));
    x = dropout(x, this.config.dropout, this.training).mul(real.unsqueeze(-1).to(x.dtype));
    const keyMask = real.view(B, 1, 1, T);
    for (const block of this.blocks) x = block.forward(x, keyMask);
    return this.norm.forward(x);
  }

  /** The item part of the embedding table, [numItems, d] (padding row dropped). */
  get itemWeights(): Tensor {
    return this.items.weight.narrow(0, 1, this.config.numItems);
  }

  /** Scores over all items [N, numItems] for hidden states [N, d]. */
  logits(h: Tensor): Tensor {
    return linear(h, this.itemWeights);
  }
}

/** A trained SASRec as a `Ranker`: the last position's hidden state scores every item. */
export class SasrecRanker implements Ranker {
  readonly name = "sasrec";
  readonly numItems: number;

  /** `useAutocast`: run the transformer in bf16 (the final item scores are always fp32). */
  constructor(readonly model: Sasrec, readonly useAutocast = true) {
    this.numItems = model.config.numItems;
  }

  scores(histories: readonly (readonly number[])[]): Float32Array[] {
    if (histories.length === 0) return [];
    const m = this.model;
    const wasTraining = m.training;
    m.eval();
    try {
      const flat = noGrad(() =>
        tidy(() => {
          const T = batchWidth(histories, m.config.maxLen);
          const last = mixedPrecision(() => m.hidden(padLeft(histories, T, m.device)).select(1, T - 1), {
            device: m.device,
            enabled: this.useAutocast,
          });
          // Scores in fp32: bf16 keeps 8 bits of mantissa, which would tie many of 12k items.
          return m.logits(last.to("float32")).toFloat32Array();
        }),
      );
      const N = this.numItems;
      return histories.map((_, b) => flat.subarray(b * N, (b + 1) * N));
    } finally {
      m.train(wasTraining);
    }
  }
}

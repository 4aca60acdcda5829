/**
 * The pre-norm transformer block both neural rankers use: SASRec (causal, over a history) and
 * the listwise re-ranker (bidirectional, over [history; candidates]).
 *
 *   x = x + drop(W_o · attention(norm(x)))
 *   x = x + drop(W_2 · gelu(W_1 · norm(x)))
 */
import { attention, dropout, type Tensor } from "../torch/index.js";
import { Linear, RMSNorm } from "../nn/layers.js";
import { Module } from "../nn/module.js";

export interface BlockConfig {
  hidden: number;
  heads: number;
  ffn: number;
  dropout: number;
}

export const NORM_EPS = 1e-6;

export class TransformerBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly qkv: Linear;
  readonly out: Linear;
  readonly ffnNorm: RMSNorm;
  readonly up: Linear;
  readonly down: Linear;

  constructor(readonly c: BlockConfig, readonly causal: boolean, device: string) {
    super();
    const d = c.hidden;
    if (d % c.heads !== 0) throw new RangeError(`transformer block: hidden ${d} is not divisible by heads ${c.heads}`);
    this.attnNorm = this.child("attn_norm", new RMSNorm(d, NORM_EPS, { device }));
    this.qkv = this.child("qkv", new Linear(d, 3 * d, { bias: true, device }));
    this.out = this.child("out", new Linear(d, d, { bias: true, device }));
    this.ffnNorm = this.child("ffn_norm", new RMSNorm(d, NORM_EPS, { device }));
    this.up = this.child("up", new Linear(d, c.ffn, { bias: true, device }));
    this.down = this.child("down", new Linear(c.ffn, d, { bias: true, device }));
  }

  /** x [B, T, d]; keyMask bool [B, 1, 1, T] (true = a real token, padding is never attended). */
  forward(x: Tensor, keyMask: Tensor): Tensor {
    const [B, T, d] = x.shape as [number, number, number];
    const H = this.c.heads;
    const [q, k, v] = this.qkv
      .forward(this.attnNorm.forward(x))
      .view(B, T, 3, H, d / H)
      .permute(2, 0, 3, 1, 4) // [3, B, H, T, D]
      .chunk(3, 0)
      .map((t) => t.squeeze(0));
    const y = attention(q!, k!, v!, { causal: this.causal, mask: keyMask }).transpose(1, 2).reshape(B, T, d);
    const h = x.add(dropout(this.out.forward(y), this.c.dropout, this.training));
    const f = this.down.forward(this.up.forward(this.ffnNorm.forward(h)).gelu());
    return h.add(dropout(f, this.c.dropout, this.training));
  }
}

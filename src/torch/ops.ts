/** Operations over several tensors, and the neural-network functions models are built from. */
import { native } from "./native.js";
import { fromHandle, type Tensor } from "./tensor.js";

const hs = (ts: readonly Tensor[]) => ts.map((t) => t.handle);

export const cat = (ts: readonly Tensor[], dim = 0): Tensor => fromHandle(native.cat(hs(ts), dim));
export const stack = (ts: readonly Tensor[], dim = 0): Tensor => fromHandle(native.stack(hs(ts), dim));
/** Elementwise `cond ? a : b`. */
export const where = (cond: Tensor, a: Tensor, b: Tensor): Tensor => fromHandle(native.where(cond.handle, a.handle, b.handle));
export const matmul = (a: Tensor, b: Tensor): Tensor => fromHandle(native.matmul(a.handle, b.handle));
export const bmm = (a: Tensor, b: Tensor): Tensor => fromHandle(native.bmm(a.handle, b.handle));

/** y = x Wᵀ + b, with W of shape [out, in] (PyTorch/HF layout). */
export const linear = (x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor =>
  fromHandle(native.linear(x.handle, weight.handle, bias ? bias.handle : -1));

/** Rows of `weight` picked by int64 `indices`. */
export const embedding = (weight: Tensor, indices: Tensor): Tensor => fromHandle(native.embedding(weight.handle, indices.handle));

/** RMSNorm (Zhang & Sennrich 2019) as in Llama: x / sqrt(mean(x²) + eps) · weight, normalised in fp32. */
export const rmsNorm = (x: Tensor, weight: Tensor, eps: number): Tensor => fromHandle(native.rmsNorm(x.handle, weight.handle, eps));

/** silu(gate) · up: the SwiGLU gate (Shazeer 2020). */
export const swiglu = (gate: Tensor, up: Tensor): Tensor => fromHandle(native.swiglu(gate.handle, up.handle));

/** Rotary position embedding, HF "rotate half" layout: x·cos + rotate_half(x)·sin. */
export const rope = (x: Tensor, cos: Tensor, sin: Tensor): Tensor => fromHandle(native.rope(x.handle, cos.handle, sin.handle));

export interface AttentionOptions {
  /** bool (true = may attend) or additive float, broadcastable to [B, 1 | Hq, T, S]. */
  mask?: Tensor | null;
  /** Query t may see keys up to its own position (queries are aligned to the last keys). */
  causal?: boolean;
  /** Defaults to 1/sqrt(head_dim). */
  scale?: number;
  /**
   * Force the plain composition, which holds the whole [T, S] score matrix (tests compare it
   * with the default: more than one query with no mask or a bool key-padding mask [B, 1, 1, S]
   * runs a query-blocked kernel that keeps only the output for backward and recomputes each
   * block's probabilities there, native/attention.cc).
   */
  plain?: boolean;
}

/**
 * softmax(q kᵀ · scale + mask) v with grouped-query heads: q [B, Hq, T, D], k/v [B, Hkv, S, D].
 * Fully masked rows give zeros, not NaN (padding in batched generation).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions = {}): Tensor {
  const scale = o.scale ?? 1 / Math.sqrt(q.size(-1));
  return fromHandle(native.attention(q.handle, k.handle, v.handle, o.mask ? o.mask.handle : -1, o.causal ?? false, scale, o.plain ?? false));
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (default -100, as in PyTorch/HF). */
  ignoreIndex?: number;
  /** Per-target weights [N] (e.g. λ_r for reasoning tokens, λ_o for ranking tokens). */
  weights?: Tensor | null;
  /** "mean" = Σ w·nll / Σ w over kept targets; "sum"; "none" = per target (0 where ignored). */
  reduction?: "mean" | "sum" | "none";
}

/** Cross-entropy of logits [N, V] against int64 targets [N], computed in fp32. */
export function crossEntropy(logits: Tensor, targets: Tensor, o: CrossEntropyOptions = {}): Tensor {
  const red = { none: 0, mean: 1, sum: 2 }[o.reduction ?? "mean"];
  return fromHandle(native.crossEntropy(logits.handle, targets.handle, o.weights ? o.weights.handle : -1, o.ignoreIndex ?? -100, red));
}

export const dropout = (x: Tensor, p: number, training: boolean): Tensor => fromHandle(native.dropout(x.handle, p, training));

/** Draws `n` indices per row from the (unnormalised, non-negative) probabilities. */
export const multinomial = (probs: Tensor, n: number, replacement = false): Tensor =>
  fromHandle(native.multinomial(probs.handle, n, replacement));

/**
 * One sample per row of non-negative weights [B, V] (need not sum to 1), int64 [B]. Exact
 * inverse-CDF sampling from the seeded generator; far cheaper than multinomial on CPU.
 */
export const sampleCategorical = (weights: Tensor): Tensor => fromHandle(native.sampleCategorical(weights.handle));

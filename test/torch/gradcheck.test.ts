/**
 * Autograd gradients of every op family against central finite differences, in float64.
 * Each case is one line: a name, the function of the differentiable inputs (index tensors,
 * masks and other constants are built inside it) and the inputs' factory.
 */
import { test } from "node:test";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";
import { bools, checkNoLeaks, gradcheck, positive64 as pos, randn64 as r, type GradcheckOptions } from "./helpers.js";

checkNoLeaks();

type Case = [name: string, fn: (...xs: Tensor[]) => Tensor, inputs: () => Tensor[], opts?: GradcheckOptions];

/** One test per case, with inputs drawn from a fixed seed. */
function cases(group: string, list: Case[]): void {
  for (const [name, fn, inputs, opts] of list) {
    test(`${group}: ${name}`, () =>
      torch.tidy(() => {
        torch.manualSeed(1234);
        gradcheck(fn, inputs(), opts);
      }),
    );
  }
}

// Ops that compute internally in float32 (rmsNorm normalises in fp32; attention's scores and
// crossEntropy's log-softmax are fp32 by design) can only be checked to float32 precision.
const FP32_INSIDE: GradcheckOptions = { eps: 1e-3, atol: 2e-3, rtol: 2e-3 };

const i64 = torch.int64;
/** Additive mask: 0 where allowed, -1e9 where not (a finite "minus infinity"). */
const additive = (bits: number[], shape: number[]) => torch.tidy(() => torch.where(bools(bits, shape), torch.zeros(shape, { dtype: "float64" }), torch.full(shape, -1e9, { dtype: "float64" })));

cases("elementwise binary", [
  ["add with broadcasting", (a, b) => a.add(b), () => [r(2, 3), r(3)]],
  ["sub with broadcasting", (a, b) => a.sub(b), () => [r(2, 1), r(1, 3)]],
  ["mul", (a, b) => a.mul(b), () => [r(2, 3), r(2, 3)]],
  ["div", (a, b) => a.div(b), () => [r(2, 3), pos(2, 3)]],
  ["pow (tensor exponent)", (a, b) => a.pow(b), () => [pos(2, 3), r(2, 3)]],
  ["maximum / minimum", (a, b) => a.maximum(b).add(a.minimum(b).mul(3)), () => [r(2, 3), r(2, 3)]],
  ["scalar add / sub / rsub / mul / div", (a) => a.add(2).sub(0.5).rsub(1).mul(3).div(4), () => [r(2, 3)]],
  ["pow (scalar exponent)", (a) => a.pow(3), () => [r(2, 3)]],
  ["where", (a, b) => torch.where(bools([1, 0, 1, 0, 0, 1], [2, 3]), a, b), () => [r(2, 3), r(2, 3)]],
  ["maskedFill", (a) => a.maskedFill(bools([1, 0, 0], [3]), 5), () => [r(2, 3)]],
]);

cases("elementwise unary", [
  ["exp", (a) => a.exp(), () => [r(2, 3)]],
  ["log", (a) => a.log(), () => [pos(2, 3)]],
  ["log1p", (a) => a.log1p(), () => [pos(2, 3)]],
  ["sqrt", (a) => a.sqrt(), () => [pos(2, 3)]],
  ["rsqrt", (a) => a.rsqrt(), () => [pos(2, 3)]],
  ["reciprocal", (a) => a.reciprocal(), () => [pos(2, 3)]],
  ["neg", (a) => a.neg(), () => [r(2, 3)]],
  ["abs", (a) => a.abs(), () => [r(2, 3)]],
  ["tanh", (a) => a.tanh(), () => [r(2, 3)]],
  ["sigmoid", (a) => a.sigmoid(), () => [r(2, 3)]],
  ["relu", (a) => a.relu(), () => [r(2, 3)]],
  ["silu", (a) => a.silu(), () => [r(2, 3)]],
  ["gelu (exact)", (a) => a.gelu(), () => [r(2, 3)]],
  ["gelu (tanh approximation)", (a) => a.gelu("tanh"), () => [r(2, 3)]],
  ["sin", (a) => a.sin(), () => [r(2, 3)]],
  ["cos", (a) => a.cos(), () => [r(2, 3)]],
  ["square", (a) => a.square(), () => [r(2, 3)]],
  ["clamp (both bounds)", (a) => a.clamp(-0.5, 0.5), () => [r(3, 4)]],
  ["clamp (min only)", (a) => a.clamp(0), () => [r(3, 4)]],
  ["clamp (max only)", (a) => a.clamp(null, 0.2), () => [r(3, 4)]],
]);

cases("reductions", [
  ["sum of everything", (a) => a.sum(), () => [r(2, 3, 4)]],
  ["sum over dims, keepdim", (a) => a.sum([0, 2], true), () => [r(2, 3, 4)]],
  ["mean of everything", (a) => a.mean(), () => [r(2, 3)]],
  ["mean over a dim", (a) => a.mean(-1), () => [r(2, 3, 4)]],
  ["amax", (a) => a.amax(1), () => [r(3, 4)]],
  ["amax of everything (empty dim list)", (a) => a.amax([]), () => [r(3, 4)]],
  ["amin, keepdim", (a) => a.amin(0, true), () => [r(3, 4)]],
  ["max(dim).values", (a) => a.max(1).values, () => [r(3, 4)]],
  ["logsumexp", (a) => a.logsumexp(-1), () => [r(3, 4)]],
  ["var (unbiased) over a dim", (a) => a.var(1), () => [r(3, 4)]],
  ["var (biased) over all dims listed", (a) => a.var([0, 1], { unbiased: false }), () => [r(3, 4)]],
  ["var (unbiased) of everything, dims omitted", (a) => a.var(), () => [r(3, 4)]],
  ["var (biased) of everything, dims omitted", (a) => a.var([], { unbiased: false }), () => [r(3, 4)]],
  ["norm (p = 2)", (a) => a.norm(), () => [r(3, 4)]],
  ["norm (p = 3)", (a) => a.norm(3), () => [r(3, 4)]],
  ["cumsum", (a) => a.cumsum(1), () => [r(3, 4)]],
  ["softmax", (a) => a.softmax(-1), () => [r(3, 4)]],
  ["logSoftmax over dim 0", (a) => a.logSoftmax(0), () => [r(3, 4)]],
]);

cases("matmul and linear", [
  ["matmul 2-d", (a, b) => a.matmul(b), () => [r(3, 4), r(4, 2)]],
  ["matmul batched", (a, b) => torch.matmul(a, b), () => [r(2, 3, 4), r(2, 4, 2)]],
  ["matmul broadcast [2,1,3,4] @ [3,4,2]", (a, b) => a.matmul(b), () => [r(2, 1, 3, 4), r(3, 4, 2)]],
  ["matmul batched @ 2-d", (a, b) => a.matmul(b), () => [r(2, 3, 4), r(4, 2)]],
  ["matmul vector @ matrix", (a, b) => a.matmul(b), () => [r(4), r(4, 3)]],
  ["bmm", (a, b) => torch.bmm(a, b), () => [r(2, 3, 4), r(2, 4, 2)]],
  ["linear with bias", (x, w, b) => torch.linear(x, w, b), () => [r(2, 3, 4), r(5, 4), r(5)]],
  ["linear without bias", (x, w) => torch.linear(x, w), () => [r(3, 4), r(5, 4)]],
]);

cases("indexing", [
  ["gather", (a) => a.gather(1, i64([0, 2, 2, 1, 3, 0], [3, 2])), () => [r(3, 4)]],
  ["indexSelect with repeated indices", (a) => a.indexSelect(0, i64([2, 0, 2])), () => [r(3, 4)]],
  ["scatterAdd (into self and from src)", (a, s) => a.scatterAdd(1, i64([0, 0, 3, 1, 1, 1], [2, 3]), s), () => [r(2, 4), r(2, 3)]],
  ["scatter (unique indices)", (a, s) => a.scatter(1, i64([2, 0, 3, 1], [2, 2]), s), () => [r(2, 4), r(2, 2)]],
  ["embedding with repeated ids", (w) => torch.embedding(w, i64([1, 3, 1, 0, 1, 2], [2, 3])), () => [r(4, 3)]],
]);

cases("shape and views", [
  ["cat", (a, b) => torch.cat([a, b], 1), () => [r(2, 3), r(2, 2)]],
  ["stack", (a, b) => torch.stack([a, b], 1), () => [r(2, 3), r(2, 3)]],
  ["narrow", (a) => a.narrow(1, 1, 2), () => [r(3, 4)]],
  ["select", (a) => a.select(0, 1), () => [r(3, 4)]],
  ["permute", (a) => a.permute(2, 0, 1), () => [r(2, 3, 4)]],
  ["transpose / T", (a) => a.transpose(0, 2).T, () => [r(2, 3, 4)]],
  ["reshape of a non-contiguous view", (a) => a.T.reshape(12), () => [r(3, 4)]],
  ["view", (a) => a.view(4, 3), () => [r(3, 4)]],
  ["expand", (a) => a.expand(2, 3, 4), () => [r(3, 1)]],
  ["squeeze / unsqueeze / flatten", (a) => a.unsqueeze(0).squeeze(1).flatten(), () => [r(3, 1, 4)]],
  ["contiguous of a transpose", (a) => a.T.contiguous(), () => [r(3, 4)]],
  ["tril / triu", (a) => a.tril(-1).add(a.triu(1).mul(2)), () => [r(4, 4)]],
  ["split and chunk", (a) => torch.cat([...a.split(3, 1).reverse(), ...a.chunk(2, 1)], 1), () => [r(3, 4)]],
]);

cases("neural-network functions", [
  ["rmsNorm", (x, w) => torch.rmsNorm(x, w, 1e-6), () => [r(2, 3, 4), r(4)], FP32_INSIDE],
  ["rope", (x, cos, sin) => torch.rope(x, cos, sin), () => [r(1, 2, 3, 4), r(1, 1, 3, 4), r(1, 1, 3, 4)]],
  ["swiglu", (g, u) => torch.swiglu(g, u), () => [r(2, 5), r(2, 5)]],
  ["dropout in eval mode is the identity", (x) => torch.dropout(x, 0.5, false), () => [r(2, 3)]],
]);

cases("attention", [
  ["plain", (q, k, v) => torch.attention(q, k, v), () => [r(1, 2, 3, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)], FP32_INSIDE],
  ["causal", (q, k, v) => torch.attention(q, k, v, { causal: true }), () => [r(2, 2, 3, 4), r(2, 2, 3, 4), r(2, 2, 3, 4)], FP32_INSIDE],
  ["bool mask [B,1,T,S]", (q, k, v) => torch.attention(q, k, v, { mask: bools([1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0], [2, 1, 2, 3]) }), () => [r(2, 2, 2, 4), r(2, 2, 3, 4), r(2, 2, 3, 4)], FP32_INSIDE],
  ["additive mask [T,S]", (q, k, v) => torch.attention(q, k, v, { mask: additive([1, 0, 1, 1, 1, 0], [2, 3]) }), () => [r(1, 2, 2, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)], FP32_INSIDE],
  ["GQA Hq=4, Hkv=2, causal", (q, k, v) => torch.attention(q, k, v, { causal: true }), () => [r(1, 4, 3, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)], FP32_INSIDE],
  ["GQA with a per-head bool mask [B,Hq,T,S]", (q, k, v) => torch.attention(q, k, v, { mask: bools([1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1], [1, 4, 2, 3]) }), () => [r(1, 4, 2, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)], FP32_INSIDE],
  ["decoding T=2 < S=5, causal, GQA", (q, k, v) => torch.attention(q, k, v, { causal: true }), () => [r(1, 4, 2, 4), r(1, 2, 5, 4), r(1, 2, 5, 4)], FP32_INSIDE],
  ["custom scale", (q, k, v) => torch.attention(q, k, v, { scale: 0.3 }), () => [r(1, 1, 2, 3), r(1, 1, 4, 3), r(1, 1, 4, 3)], FP32_INSIDE],
  // More than one query with no mask or a key-padding mask runs the query-blocked kernel
  // (native/attention.cc, its own backward); the cases above without a mask do too.
  ["key-padding mask [B,1,1,S], causal, GQA (blocked kernel)", (q, k, v) => torch.attention(q, k, v, { causal: true, mask: bools([0, 1, 1, 1, 1, 1, 1, 0], [2, 1, 1, 4]) }), () => [r(2, 4, 4, 4), r(2, 2, 4, 4), r(2, 2, 4, 4)], FP32_INSIDE],
  ["a query that may attend to nothing gives zeros (blocked kernel)", (q, k, v) => torch.attention(q, k, v, { causal: true, mask: bools([0, 1, 1], [1, 1, 1, 3]) }), () => [r(1, 2, 3, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)], FP32_INSIDE],
  ["the plain composition, forced", (q, k, v) => torch.attention(q, k, v, { causal: true, plain: true }), () => [r(1, 4, 3, 4), r(1, 2, 3, 4), r(1, 2, 3, 4)], FP32_INSIDE],
]);

const targets = () => i64([2, -100, 0, 4, 1]);
cases("crossEntropy", [
  ["mean", (l) => torch.crossEntropy(l, i64([2, 1, 0, 4, 1])), () => [r(5, 6)], FP32_INSIDE],
  ["mean with ignoreIndex -100", (l) => torch.crossEntropy(l, targets()), () => [r(5, 6)], FP32_INSIDE],
  ["custom ignoreIndex", (l) => torch.crossEntropy(l, i64([2, 3, 0, 3]), { ignoreIndex: 3 }), () => [r(4, 5)], FP32_INSIDE],
  ["sum", (l) => torch.crossEntropy(l, targets(), { reduction: "sum" }), () => [r(5, 6)], FP32_INSIDE],
  ["none", (l) => torch.crossEntropy(l, targets(), { reduction: "none" }), () => [r(5, 6)], FP32_INSIDE],
  ["per-token weights, mean (grads for logits and weights)", (l, w) => torch.crossEntropy(l, targets(), { weights: w }), () => [r(5, 6), pos(5)], FP32_INSIDE],
  ["per-token weights, sum", (l, w) => torch.crossEntropy(l, targets(), { weights: w, reduction: "sum" }), () => [r(5, 6), pos(5)], FP32_INSIDE],
]);

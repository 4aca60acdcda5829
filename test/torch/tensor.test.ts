/**
 * Tensor values and behaviour: creation for every dtype, metadata, conversion, views, op
 * values against hand-computed and naive-JS references, the optimiser and schedule, seeded
 * randomness, autocast and grad mode.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as torch from "../../src/torch/index.js";
import type { DType, Tensor } from "../../src/torch/index.js";
import { assertClose, assertTensor, bools, checkNoLeaks } from "./helpers.js";

checkNoLeaks();

/** Runs a test body inside tidy() so everything it creates is freed. */
const tidyTest = (name: string, fn: () => void, opts: { todo?: string } = {}) => test(name, opts, () => torch.tidy(fn));

// ---- creation, metadata and conversion ------------------------------------------------------

describe("creation", () => {
  const exact: [DType, () => Tensor, number[]][] = [
    ["float32", () => torch.tensor(new Float32Array([1.5, -2, 0.25])), [1.5, -2, 0.25]],
    ["float32", () => torch.tensor([1.5, -2, 0.25]), [1.5, -2, 0.25]],
    ["float64", () => torch.tensor(new Float64Array([0.1, -1e300, 1e-300])), [0.1, -1e300, 1e-300]],
    ["float64", () => torch.tensor([0.1, 2, 3], undefined, { dtype: "float64" }), [0.1, 2, 3]],
    ["int64", () => torch.tensor(new BigInt64Array([1n, -2n, 1n << 40n])), [1, -2, 2 ** 40]],
    ["int64", () => torch.tensor([1, -2, 2 ** 40], undefined, { dtype: "int64" }), [1, -2, 2 ** 40]],
    ["int64", () => torch.int64([3, 0, -7]), [3, 0, -7]],
    ["int32", () => torch.tensor(new Int32Array([1, -2, 2 ** 31 - 1])), [1, -2, 2 ** 31 - 1]],
    ["int32", () => torch.tensor([1, -2, 3], undefined, { dtype: "int32" }), [1, -2, 3]],
    ["bool", () => torch.tensor(new Uint8Array([1, 0, 1]), undefined, { dtype: "bool" }), [1, 0, 1]],
    ["bool", () => torch.tensor([1, 0, 0], undefined, { dtype: "bool" }), [1, 0, 0]],
    ["uint8", () => torch.tensor(new Uint8Array([0, 7, 255])), [0, 7, 255]],
    ["uint8", () => torch.tensor([0, 7, 255], undefined, { dtype: "uint8" }), [0, 7, 255]],
    ["bfloat16", () => torch.tensor(new Uint16Array([0x3f80, 0xc020, 0x0000]), undefined, { dtype: "bfloat16" }), [1, -2.5, 0]],
    ["float16", () => torch.tensor(new Uint16Array([0x3c00, 0xc100, 0x3800]), undefined, { dtype: "float16" }), [1, -2.5, 0.5]],
  ];
  for (const [i, [dtype, make, values]] of exact.entries()) {
    tidyTest(`${dtype} #${i}: dtype, shape and exact values`, () => {
      const t = make();
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [3]);
      assert.deepEqual(t.toArray(), values);
    });
  }

  const lowPrecision: [DType, number][] = [["bfloat16", 2 ** -8], ["float16", 2 ** -11]];
  for (const [dtype, unitRoundoff] of lowPrecision) {
    tidyTest(`${dtype} from numbers rounds to the nearest representable value and reads back as raw bits`, () => {
      const xs = [1.1, -2.5, 3.14159, 1000.7, 1e-2, -0.333];
      const t = torch.tensor(xs, [2, 3], { dtype });
      assert.equal(t.dtype, dtype);
      assert.ok(t.data() instanceof Uint16Array);
      const back = t.toArray();
      xs.forEach((x, i) => assert.ok(Math.abs(back[i]! - x) <= Math.abs(x) * unitRoundoff, `${x} read back as ${back[i]}`));
      // Through float32 and back again changes nothing.
      assert.deepEqual(t.to("float32").to(dtype).data<"bfloat16">(), t.data<"bfloat16">());
    });
  }

  tidyTest("a Uint16Array without a dtype is rejected as ambiguous", () => {
    assert.throws(() => torch.tensor(new Uint16Array([1])), /ambiguous/);
  });

  tidyTest("constants, ranges and *Like keep the requested dtype and shape", () => {
    assertTensor(torch.zeros([2, 2]), [2, 2], [0, 0, 0, 0]);
    assertTensor(torch.ones([3], { dtype: "int32" }), [3], [1, 1, 1]);
    assertTensor(torch.full([2], 2.5, { dtype: "float64" }), [2], [2.5, 2.5]);
    assert.equal(torch.empty([4, 0]).numel, 0);
    assert.equal(torch.arange(0, 4).dtype, "int64");
    assertTensor(torch.arange(0, 4), [4], [0, 1, 2, 3]);
    assertTensor(torch.arange(1, 2, 0.25, { dtype: "float32" }), [4], [1, 1.25, 1.5, 1.75]);
    const like = torch.zerosLike(torch.ones([2, 3], { dtype: "float64" }));
    assert.equal(like.dtype, "float64");
    assertTensor(like, [2, 3], [0, 0, 0, 0, 0, 0]);
    assertTensor(torch.onesLike(torch.zeros([2], { dtype: "bfloat16" })), [2], [1, 1]);
    const r = torch.randint(3, 5, [100]).toArray();
    assert.ok(r.every((x) => x === 3 || x === 4));
  });

  tidyTest("a 0-d tensor from one value, and empty tensors", () => {
    const s = torch.tensor([5], []);
    assert.deepEqual(s.shape, []);
    assert.equal(s.ndim, 0);
    assert.equal(s.item(), 5);
    const e = torch.tensor(new Float32Array(0), [0, 3]);
    assert.deepEqual(e.shape, [0, 3]);
    assert.deepEqual(e.toArray(), []);
  });
});

describe("metadata and reading values", () => {
  tidyTest("shape, ndim, numel, size(), device, strides and toString", () => {
    const t = torch.zeros([2, 3, 4]);
    assert.deepEqual(t.shape, [2, 3, 4]);
    assert.equal(t.ndim, 3);
    assert.equal(t.numel, 24);
    assert.equal(t.size(-1), 4);
    assert.equal(t.size(0), 2);
    assert.throws(() => t.size(3), RangeError);
    assert.equal(t.device, "cpu");
    assert.deepEqual(t.strides, [12, 4, 1]);
    assert.equal(t.isContiguous, true);
    assert.equal(String(t), "Tensor(shape=[2, 3, 4], dtype=float32, device=cpu)");
    const p = t.permute(2, 0, 1);
    assert.deepEqual(p.shape, [4, 2, 3]);
    assert.deepEqual(p.strides, [1, 12, 4]);
    assert.equal(p.isContiguous, false);
  });

  tidyTest("toArray reads non-contiguous tensors in row-major order of their shape", () => {
    const t = torch.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(t.T.toArray(), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(t.narrow(1, 1, 2).toArray(), [2, 3, 5, 6]);
    assert.deepEqual(Array.from(t.T.toFloat32Array()), [1, 4, 2, 5, 3, 6]);
  });

  tidyTest("item() of float, int64 and bool scalars", () => {
    assert.equal(torch.tensor([2.5], []).item(), 2.5);
    assert.equal(torch.int64([-9], []).item(), -9);
    assert.equal(bools([1], []).item(), 1);
    assert.equal(torch.tensor([1, 2, 3]).sum().item(), 6);
  });

  tidyTest("to(dtype) converts values: truncation to ints, non-zero to true, floats widen exactly", () => {
    const x = torch.tensor([1.7, -1.7, 0, 2.5]);
    assert.deepEqual(x.to("int32").toArray(), [1, -1, 0, 2]);
    assert.deepEqual(x.to("int64").toArray(), [1, -1, 0, 2]);
    assert.deepEqual(x.to("bool").toArray(), [1, 1, 0, 1]);
    assert.deepEqual(x.to("float64").toArray(), Array.from(new Float32Array([1.7, -1.7, 0, 2.5])));
    assert.deepEqual(torch.int64([3, -4]).to("float32").toArray(), [3, -4]);
    assert.deepEqual(x.to({ dtype: "float64", device: "cpu" }).dtype, "float64");
    assert.deepEqual(bools([1, 0], [2]).to("float32").toArray(), [1, 0]);
  });
});

describe("views share memory with their base", () => {
  const cases: [string, (base: Tensor) => void, number[]][] = [
    ["narrow + fill_", (b) => b.narrow(0, 1, 1).fill_(7), [0, 0, 0, 7, 7, 7]],
    ["select + add_", (b) => b.select(1, 2).add_(torch.ones([2]), 2), [0, 0, 2, 0, 0, 2]],
    ["transpose + copy_", (b) => b.T.copy_(torch.tensor([1, 2, 3, 4, 5, 6], [3, 2])), [1, 3, 5, 2, 4, 6]],
    ["view + fill_ then mul_", (b) => b.view(6).fill_(2).mul_(3), [6, 6, 6, 6, 6, 6]],
    ["reshape of a contiguous tensor + maskedFill_", (b) => b.reshape(3, 2).maskedFill_(bools([1, 0, 0, 0, 0, 1], [3, 2]), -1), [-1, 0, 0, 0, 0, -1]],
    ["split + fill_", (b) => b.split(1, 0)[1]!.fill_(4), [0, 0, 0, 4, 4, 4]],
    ["unsqueeze + indexCopy_", (b) => b.unsqueeze(0).indexCopy_(2, torch.int64([0]), torch.full([1, 2, 1], 5)), [5, 0, 0, 5, 0, 0]],
  ];
  for (const [name, mutate, expected] of cases) {
    tidyTest(name, () => {
      const base = torch.zeros([2, 3]);
      mutate(base);
      assert.deepEqual(base.toArray(), expected);
    });
  }

  tidyTest("contiguous() of a transpose and clone() are copies", () => {
    const base = torch.zeros([2, 3]);
    base.T.contiguous().fill_(1);
    base.clone().fill_(2);
    base.detach().add_(torch.ones([2, 3]));
    assert.deepEqual(base.toArray(), [1, 1, 1, 1, 1, 1], "only detach() aliases");
  });
});

// ---- op values --------------------------------------------------------------------------

describe("op values against hand-computed results", () => {
  const f = (xs: number[], shape: number[]) => torch.tensor(xs, shape);
  const cases: [string, () => Tensor, number[], number[]][] = [
    ["matmul 2x2", () => f([1, 2, 3, 4], [2, 2]).matmul(f([5, 6, 7, 8], [2, 2])), [2, 2], [19, 22, 43, 50]],
    ["linear with bias (x Wᵀ + b)", () => torch.linear(f([1, 2], [1, 2]), f([1, 0, 1, 1, 0, 2], [3, 2]), f([10, 20, 30], [3])), [1, 3], [11, 23, 34]],
    ["add broadcasts a row", () => f([1, 2, 3, 4], [2, 2]).add(f([10, 20], [2])), [2, 2], [11, 22, 13, 24]],
    ["div, pow and rsub", () => f([1, 2, 4], [3]).div(2).pow(2).rsub(1), [3], [0.75, 0, -3]],
    ["sum over a dim", () => f([1, 2, 3, 4, 5, 6], [2, 3]).sum(0), [3], [5, 7, 9]],
    ["mean over a dim, keepdim", () => f([1, 2, 3, 4, 5, 6], [2, 3]).mean(1, true), [2, 1], [2, 5]],
    ["var (unbiased and biased)", () => torch.cat([f([1, 2, 4, 7], [4]).var(0, {}).reshape(1), f([1, 2, 4, 7], [4]).var(0, { unbiased: false }).reshape(1)]), [2], [7, 5.25]],
    ["cumsum", () => f([1, 2, 3, 4], [2, 2]).cumsum(1), [2, 2], [1, 3, 3, 7]],
    ["amax / amin", () => torch.stack([f([1, 5, 3, 2], [2, 2]).amax(1), f([1, 5, 3, 2], [2, 2]).amin(0)]), [2, 2], [5, 3, 1, 2]],
    ["max(dim) values and indices", () => torch.stack([f([1, 5, 3, 2], [2, 2]).max(1).values, f([1, 5, 3, 2], [2, 2]).max(1).indices.to("float32")]), [2, 2], [5, 3, 1, 0]],
    ["argmax", () => f([1, 5, 3, 9, 2, 0], [2, 3]).argmax(1), [2], [1, 0]],
    ["softmax of [0, ln 2, ln 3]", () => f([0, Math.log(2), Math.log(3)], [3]).softmax(0), [3], [1 / 6, 2 / 6, 3 / 6]],
    ["logsumexp", () => f([0, Math.log(2), Math.log(3)], [1, 3]).logsumexp(1), [1], [Math.log(6)]],
    ["norm", () => f([3, 4], [2]).norm(), [], [5]],
    ["comparisons give bools", () => f([1, 2, 3], [3]).ge(2).logicalAnd(f([1, 2, 3], [3]).ne(3)), [3], [0, 1, 0]],
    ["clamp", () => f([-2, 0.5, 3], [3]).clamp(-1, 1), [3], [-1, 0.5, 1]],
    ["where", () => torch.where(bools([1, 0, 1], [3]), f([1, 2, 3], [3]), f([9, 8, 7], [3])), [3], [1, 8, 3]],
    ["maskedFill", () => f([1, 2, 3], [3]).maskedFill(bools([0, 1, 0], [3]), -5), [3], [1, -5, 3]],
    ["tril", () => torch.ones([3, 3]).tril(), [3, 3], [1, 0, 0, 1, 1, 0, 1, 1, 1]],
    ["cat and stack", () => torch.stack([torch.cat([f([1], [1]), f([2, 3], [2])]), f([4, 5, 6], [3])], 1), [3, 2], [1, 4, 2, 5, 3, 6]],
    ["gather", () => f([1, 2, 3, 4, 5, 6], [2, 3]).gather(1, torch.int64([2, 0, 1, 1], [2, 2])), [2, 2], [3, 1, 5, 5]],
    ["indexSelect", () => f([1, 2, 3, 4, 5, 6], [3, 2]).indexSelect(0, torch.int64([2, 0])), [2, 2], [5, 6, 1, 2]],
    ["scatterAdd accumulates repeated indices", () => torch.zeros([4]).scatterAdd(0, torch.int64([1, 1, 3]), f([1, 2, 3], [3])), [4], [0, 3, 0, 3]],
    ["topk values", () => f([3, 1, 4, 1, 5], [5]).topk(2).values, [2], [5, 4]],
    ["topk smallest, indices", () => f([3, 1, 4, 2, 5], [5]).topk(2, -1, false).indices, [2], [1, 3]],
    ["sort descending", () => f([3, 1, 4], [3]).sort(0, true).values, [3], [4, 3, 1]],
    ["embedding picks rows", () => torch.embedding(f([0, 1, 10, 11, 20, 21], [3, 2]), torch.int64([2, 0, 2], [3])), [3, 2], [20, 21, 0, 1, 20, 21]],
    ["swiglu = silu(gate) · up", () => torch.swiglu(f([0, 1], [2]), f([3, 2], [2])), [2], [0, 2 / (1 + Math.exp(-1))]],
    ["gelu (exact and tanh) at 0, 1 and 10", () => torch.stack([torch.tensor([0, 1, 10], [3], { dtype: "float64" }).gelu(), torch.tensor([0, 1, 10], [3], { dtype: "float64" }).gelu("tanh")]), [2, 3], [0, 0.8413447460685429, 10, 0, 0.8411919906082768, 10]],
    ["dropout with p = 0 in training keeps values", () => torch.dropout(f([1, 2], [2]), 0, true), [2], [1, 2]],
  ];
  for (const [name, make, shape, values] of cases) tidyTest(name, () => assertTensor(make(), shape, values, { atol: 1e-6, rtol: 1e-6 }));

  tidyTest("rmsNorm matches x / sqrt(mean(x²) + eps) · w", () => {
    const x = [1, 2, 3, 4, -1, 0.5, 2, -3];
    const w = [1, 0.5, 2, -1];
    const eps = 1e-5;
    const expected: number[] = [];
    for (let row = 0; row < 2; row++) {
      const xs = x.slice(row * 4, row * 4 + 4);
      const rms = Math.sqrt(xs.reduce((s, v) => s + v * v, 0) / 4 + eps);
      xs.forEach((v, i) => expected.push((v / rms) * w[i]!));
    }
    assertTensor(torch.rmsNorm(torch.tensor(x, [2, 4]), torch.tensor(w), eps), [2, 4], expected, { atol: 1e-6, rtol: 1e-5 });
  });

  tidyTest("rope rotates halves: x·cos + [-x2, x1]·sin", () => {
    const T = 3;
    const D = 4;
    torch.manualSeed(3);
    const x = torch.randn([1, 2, T, D]);
    const angles = Array.from({ length: T * D }, (_, i) => Math.floor(i / D) * 0.1 * (1 + (i % (D / 2))));
    const cos = torch.tensor(angles.map(Math.cos), [1, 1, T, D]);
    const sin = torch.tensor(angles.map(Math.sin), [1, 1, T, D]);
    const xs = x.toArray();
    const expected = xs.map((v, i) => {
      const d = i % D;
      const pos = Math.floor(i / D) % T;
      const rotated = d < D / 2 ? -xs[i + D / 2]! : xs[i - D / 2]!;
      const a = angles[pos * D + d]!;
      return v * Math.cos(a) + rotated * Math.sin(a);
    });
    assertTensor(torch.rope(x, cos, sin), [1, 2, T, D], expected, { atol: 1e-6, rtol: 1e-5 });
  });

  /** fn's result without autograd (fast inference kernels may run) and with it (differentiable path). */
  const bothPaths = (fn: (x: Tensor) => Tensor, x: Tensor): [number[], number[]] => [
    torch.noGrad(() => fn(x)).toArray(),
    fn(x.detach().requiresGrad_()).toArray(),
  ];
  const ropeTables = (B: number, T: number, D: number) => {
    const angles = Array.from({ length: B * T * D }, (_, i) => 0.3 * (i % 7) - 0.5);
    return [torch.tensor(angles.map(Math.cos), [B, 1, T, D]), torch.tensor(angles.map(Math.sin), [B, 1, T, D])] as const;
  };
  const inferenceVsTraining: [string, () => [number[], number[]]][] = [
    ["rmsNorm [2,3,8]", () => bothPaths((x) => torch.rmsNorm(x, torch.tensor([1, 2, 3, 4, 5, 6, 7, 8]).div(4), 1e-6), torch.randn([2, 3, 8]))],
    ["rmsNorm of a transposed input", () => bothPaths((x) => torch.rmsNorm(x, torch.ones([3]), 1e-5), torch.randn([3, 5]).T)],
    ["rope with cos/sin [1,1,T,D]", () => { const [c, s] = ropeTables(1, 3, 4); return bothPaths((x) => torch.rope(x, c, s), torch.randn([2, 2, 3, 4])); }],
    ["rope with per-batch positions [B,1,T,D]", () => { const [c, s] = ropeTables(2, 3, 6); return bothPaths((x) => torch.rope(x, c, s), torch.randn([2, 3, 3, 6])); }],
    ["rope of a non-contiguous x ([B,T,H,D] transposed)", () => { const [c, s] = ropeTables(1, 5, 4); return bothPaths((x) => torch.rope(x, c, s), torch.randn([2, 5, 3, 4]).transpose(1, 2)); }],
    ["rope with 2-d cos/sin [T,D]", () => { const [c, s] = ropeTables(1, 3, 4); return bothPaths((x) => torch.rope(x, c.reshape(3, 4), s.reshape(3, 4)), torch.randn([1, 2, 3, 4])); }],
  ];
  for (const [name, run] of inferenceVsTraining) {
    tidyTest(`inference and training paths agree: ${name}`, () => {
      torch.manualSeed(21);
      const [inference, training] = run();
      assertClose(inference, training, { atol: 1e-6, rtol: 1e-5 });
    });
  }

  tidyTest("multi-threaded kernels give the same results as single-threaded ones", () => {
    torch.manualSeed(22);
    const x = torch.randn([4, 8, 64, 32]);
    const w = torch.randn([32]);
    const [c, s] = ropeTables(4, 64, 32);
    const big = torch.randn([512, 300]);
    const run = () =>
      torch.noGrad(() => [
        torch.rmsNorm(x, w, 1e-6),
        torch.rope(x, c, s),
        torch.rope(x.transpose(1, 2).contiguous().transpose(1, 2), c, s),
        big.softmax(-1),
        big.sum(0),
        big.matmul(big.T),
        torch.attention(x, x, x, { causal: true }),
      ].map((t) => t.toArray()));
    const threads = torch.getNumThreads();
    const single = run();
    torch.setNumThreads(2);
    try {
      const multi = run();
      single.forEach((v, i) => assertClose(multi[i]!, v, { atol: 1e-4, rtol: 1e-4 }, `result ${i}`));
    } finally {
      torch.setNumThreads(threads);
    }
  });

  tidyTest("multinomial never draws zero-probability entries and draws distinct ones without replacement", () => {
    torch.manualSeed(5);
    const probs = torch.tensor([0, 3, 0, 1, 2, 0, 2, 0], [2, 4]);
    const drawn = torch.multinomial(probs, 2);
    assert.deepEqual(drawn.shape, [2, 2]);
    assert.equal(drawn.dtype, "int64");
    const d = drawn.toArray();
    assert.deepEqual([...d.slice(0, 2)].sort(), [1, 3]);
    assert.deepEqual([...d.slice(2, 4)].sort(), [0, 2]);
    const many = torch.multinomial(torch.tensor([0, 1, 0, 1]), 50, true).toArray();
    assert.ok(many.every((i) => i === 1 || i === 3));
  });
});

// ---- attention against a naive implementation ------------------------------------------------

interface AttentionCase {
  B: number;
  Hq: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  causal?: boolean;
  /** Builds the mask tensor and the same mask as an additive JS function (b, h, t, s) → 0 or -Infinity. */
  mask?: () => { tensor: Tensor; additive: (b: number, h: number, t: number, s: number) => number };
}

/** softmax(q kᵀ/√D + mask) v, query head h using KV head ⌊h / (Hq/Hkv)⌋; fully masked rows give zeros. */
function naiveAttention(q: number[], k: number[], v: number[], c: AttentionCase, additive?: (b: number, h: number, t: number, s: number) => number): number[] {
  const { B, Hq, Hkv, T, S, D } = c;
  const G = Hq / Hkv;
  const out = new Array<number>(B * Hq * T * D).fill(0);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const kv = Math.floor(h / G);
      for (let t = 0; t < T; t++) {
        const scores = Array.from({ length: S }, (_, s) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[((b * Hq + h) * T + t) * D + d]! * k[((b * Hkv + kv) * S + s) * D + d]!;
          let score = dot / Math.sqrt(D) + (additive ? additive(b, h, t, s) : 0);
          if (c.causal && s > S - T + t) score = -Infinity;
          return score;
        });
        const m = Math.max(...scores);
        if (m === -Infinity) continue;
        const e = scores.map((x) => Math.exp(x - m));
        const z = e.reduce((a, x) => a + x, 0);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let s = 0; s < S; s++) acc += (e[s]! / z) * v[((b * Hkv + kv) * S + s) * D + d]!;
          out[((b * Hq + h) * T + t) * D + d] = acc;
        }
      }
    }
  return out;
}

describe("attention against a naive JS implementation", () => {
  // Padding: batch 1's first key is masked for every query.
  const padding = () => ({
    tensor: bools([1, 1, 1, 1, 1, 0, 1, 1, 1, 1], [2, 1, 1, 5]),
    additive: (b: number, _h: number, _t: number, s: number) => (b === 1 && s === 0 ? -Infinity : 0),
  });
  // A different additive mask per query head (each row keeps two of its three keys).
  const perHead = () => {
    const fn = (_b: number, h: number, t: number, s: number) => ((h + t + s) % 3 === 0 ? -Infinity : 0);
    const values: number[] = [];
    for (let h = 0; h < 4; h++) for (let t = 0; t < 2; t++) for (let s = 0; s < 3; s++) values.push(fn(0, h, t, s));
    return { tensor: torch.tensor(values, [1, 4, 2, 3]), additive: fn };
  };
  const cases: [string, AttentionCase][] = [
    ["plain multi-head", { B: 2, Hq: 2, Hkv: 2, T: 3, S: 3, D: 4 }],
    ["causal, T = S", { B: 1, Hq: 2, Hkv: 2, T: 4, S: 4, D: 3, causal: true }],
    ["GQA Hq=4, Hkv=2, causal decoding T=2 < S=5", { B: 1, Hq: 4, Hkv: 2, T: 2, S: 5, D: 4, causal: true }],
    ["GQA single-step decoding T=1 sees every key", { B: 2, Hq: 4, Hkv: 1, T: 1, S: 5, D: 4, causal: true }],
    ["bool padding mask [B,1,1,S] with causal", { B: 2, Hq: 4, Hkv: 2, T: 2, S: 5, D: 4, causal: true, mask: padding }],
    ["additive per-head mask [1,Hq,T,S]", { B: 1, Hq: 4, Hkv: 2, T: 2, S: 3, D: 2, mask: perHead }],
  ];
  for (const [name, c] of cases) {
    tidyTest(name, () => {
      torch.manualSeed(11);
      const q = torch.randn([c.B, c.Hq, c.T, c.D]);
      const k = torch.randn([c.B, c.Hkv, c.S, c.D]);
      const v = torch.randn([c.B, c.Hkv, c.S, c.D]);
      const mask = c.mask?.();
      const out = torch.attention(q, k, v, { causal: c.causal ?? false, mask: mask?.tensor });
      assertTensor(out, [c.B, c.Hq, c.T, c.D], naiveAttention(q.toArray(), k.toArray(), v.toArray(), c, mask?.additive), { atol: 1e-5, rtol: 1e-4 });
    });
  }

  tidyTest("a row fully masked by a bool mask (padding) gives zeros and finite gradients", () => {
    torch.manualSeed(2);
    const [q, k, v] = [[1, 1, 2, 4], [1, 1, 3, 4], [1, 1, 3, 4]].map((s) => torch.randn(s).requiresGrad_()) as [Tensor, Tensor, Tensor];
    const out = torch.attention(q, k, v, { mask: bools([0, 0, 0, 1, 0, 1], [2, 3]) });
    assert.deepEqual(out.narrow(2, 0, 1).toArray(), [0, 0, 0, 0], "a fully masked query attends to nothing");
    out.sum().backward();
    for (const t of [q, k, v]) assert.ok(t.grad!.toArray().every(Number.isFinite), `gradient ${t.grad!.toArray()}`);
  });
  tidyTest(
    "causal attention with more queries than keys gives zeros (not NaN) for queries that see no key",
    () => {
      torch.manualSeed(4);
      const q = torch.randn([1, 1, 3, 2]);
      const kv = torch.randn([1, 1, 2, 2]);
      const out = torch.attention(q, kv, kv, { causal: true }).toArray();
      assert.ok(out.every(Number.isFinite), `output ${out}`);
      assertClose(out.slice(0, 2), [0, 0]);
    },
  );
});

// ---- cross-entropy against a JS computation ----------------------------------------------

/** Per-row -log softmax(logits)[target] · weight, 0 where target == ignoreIndex; and its reductions. */
function jsCrossEntropy(logits: number[], V: number, targets: number[], weights: number[] | undefined, ignoreIndex: number) {
  const per = targets.map((t, i) => {
    if (t === ignoreIndex) return 0;
    const row = logits.slice(i * V, i * V + V);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    return (lse - row[t]!) * (weights ? weights[i]! : 1);
  });
  const wsum = targets.reduce((s, t, i) => s + (t === ignoreIndex ? 0 : weights ? weights[i]! : 1), 0);
  const sum = per.reduce((a, b) => a + b, 0);
  return { none: per, sum, mean: sum / wsum };
}

describe("crossEntropy against a JS computation", () => {
  const V = 5;
  const targets = [2, -100, 0, 4, 1, 3];
  const weights = [1, 1, 0.5, 2, 0, 1.5];
  for (const reduction of ["mean", "sum", "none"] as const) {
    for (const weighted of [false, true]) {
      tidyTest(`${reduction}${weighted ? " with per-token weights" : ""}, ignoreIndex -100`, () => {
        torch.manualSeed(8);
        const logits = torch.randn([targets.length, V]).mul(3);
        const w = weighted ? torch.tensor(weights) : null;
        const loss = torch.crossEntropy(logits, torch.int64(targets), { reduction, weights: w });
        const expected = jsCrossEntropy(logits.toArray(), V, targets, weighted ? weights : undefined, -100)[reduction];
        assertTensor(loss, reduction === "none" ? [targets.length] : [], typeof expected === "number" ? [expected] : expected, { atol: 1e-5, rtol: 1e-5 });
      });
    }
  }

  tidyTest("a custom ignoreIndex, and bf16 logits computed in float32", () => {
    torch.manualSeed(9);
    const logits = torch.randn([4, V]);
    const t = [1, 4, 4, 0];
    assertTensor(torch.crossEntropy(logits, torch.int64(t), { ignoreIndex: 4 }), [], [jsCrossEntropy(logits.toArray(), V, t, undefined, 4).mean], { atol: 1e-5 });
    const half = logits.to("bfloat16");
    const loss = torch.crossEntropy(half, torch.int64(t), { ignoreIndex: 4 });
    assert.equal(loss.dtype, "float32");
    assertTensor(loss, [], [jsCrossEntropy(half.toArray(), V, t, undefined, 4).mean], { atol: 1e-5 });
  });

  tidyTest("every target ignored gives a mean of 0, not NaN", () => {
    assertTensor(torch.crossEntropy(torch.randn([2, 3]), torch.int64([-100, -100])), [], [0]);
  });
});

// ---- optimiser and schedule ---------------------------------------------------------------

/** torch.optim.AdamW's update for one parameter, on plain arrays (p, m, v are updated in place). */
function referenceAdamW(p: number[], g: number[], m: number[], v: number[], step: number, o: { lr: number; b1: number; b2: number; eps: number; wd: number }): void {
  const bc1 = 1 - o.b1 ** step;
  const bc2 = 1 - o.b2 ** step;
  for (let i = 0; i < p.length; i++) {
    p[i]! *= 1 - o.lr * o.wd;
    m[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
    v[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! * g[i]!;
    p[i]! -= (o.lr / bc1) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + o.eps));
  }
}

describe("AdamW, clipGradNorm and warmupCosineLr", () => {
  tidyTest("AdamW matches torch.optim.AdamW for 3 steps, with weight decay, groups, lrScale and a changing lr", () => {
    const b1 = 0.8;
    const b2 = 0.95;
    const eps = 1e-6;
    const start = { w: [0.5, -1, 2, 0.25], b: [0.1, -0.2], frozen: [3, 4] };
    const w = torch.tensor(start.w, [2, 2], { dtype: "float64" }).requiresGrad_();
    const b = torch.tensor(start.b, [2], { dtype: "float64" }).requiresGrad_();
    const frozen = torch.tensor(start.frozen, [2], { dtype: "float64" }).requiresGrad_();
    const opt = new torch.AdamW([{ params: [w, frozen] }, { params: [b], weightDecay: 0, lrScale: 0.5 }], { lr: 0.1, betas: [b1, b2], eps, weightDecay: 0.05 });
    try {
      const ref = { w: [...start.w], b: [...start.b], mw: [0, 0, 0, 0], vw: [0, 0, 0, 0], mb: [0, 0], vb: [0, 0] };
      const lrs = [0.1, 0.05, 0.02];
      const grads = [
        { w: [0.3, -0.1, 0.02, 1.5], b: [1, -1] },
        { w: [-0.2, 0.4, 0.0, -0.7], b: [0.5, 0.25] },
        { w: [0.1, 0.1, -3, 0.05], b: [-2, 0.01] },
      ];
      for (const [i, g] of grads.entries()) {
        opt.lr = lrs[i]!;
        w.grad = torch.tensor(g.w, [2, 2], { dtype: "float64" });
        b.grad = torch.tensor(g.b, [2], { dtype: "float64" });
        opt.step();
        referenceAdamW(ref.w, g.w, ref.mw, ref.vw, i + 1, { lr: lrs[i]!, b1, b2, eps, wd: 0.05 });
        referenceAdamW(ref.b, g.b, ref.mb, ref.vb, i + 1, { lr: lrs[i]! * 0.5, b1, b2, eps, wd: 0 });
        assertClose(w.toArray(), ref.w, { atol: 1e-12, rtol: 1e-12 }, `w after step ${i + 1}`);
        assertClose(b.toArray(), ref.b, { atol: 1e-12, rtol: 1e-12 }, `b after step ${i + 1}`);
      }
      assert.equal(opt.stepCount, 3);
      assert.deepEqual(frozen.toArray(), start.frozen, "a parameter without a grad is not updated (not even decayed)");
      assert.equal(opt.params.length, 3);
      const state = opt.stateTensors();
      assertClose(state["optim.0.0.exp_avg"]!.toArray(), ref.mw, { atol: 1e-12 });
      assertClose(state["optim.1.0.exp_avg_sq"]!.toArray(), ref.vb, { atol: 1e-12 });
      opt.zeroGrad();
      assert.equal(w.grad, null);
    } finally {
      opt.dispose();
    }
  });

  tidyTest("AdamW state restored with loadState continues exactly like the original", () => {
    const make = () => torch.tensor([1, -2, 3], [3], { dtype: "float64" }).requiresGrad_();
    const grad = (s: number) => torch.tensor([s, -s, 2 * s], [3], { dtype: "float64" });
    const [p1, p2] = [make(), make()];
    const o1 = new torch.AdamW([p1], { lr: 0.1 });
    const o2 = new torch.AdamW([p2], { lr: 0.1 });
    try {
      for (const s of [1, 2]) {
        p1.grad = grad(s);
        o1.step();
      }
      torch.noGrad(() => p2.copy_(p1));
      o2.loadState(o1.stateTensors(), o1.stepCount);
      for (const [p, o] of [[p1, o1], [p2, o2]] as const) {
        p.grad = grad(3);
        o.step();
      }
      assert.deepEqual(p2.toArray(), p1.toArray());
      assert.throws(() => o2.loadState({}, 1), /missing "optim.0.0.exp_avg"/);
    } finally {
      o1.dispose();
      o2.dispose();
    }
  });

  tidyTest("clipGradNorm returns the global norm and scales grads down only when above maxNorm", () => {
    const a = torch.zeros([2]).requiresGrad_();
    const b = torch.zeros([1]).requiresGrad_();
    const none = torch.zeros([1]).requiresGrad_();
    a.grad = torch.tensor([3, 4]);
    b.grad = torch.tensor([12]);
    assert.ok(Math.abs(torch.clipGradNorm([a, b, none], 100) - 13) < 1e-5);
    assertClose(a.grad!.toArray(), [3, 4]);
    assert.ok(Math.abs(torch.clipGradNorm([a, b, none], 6.5) - 13) < 1e-5);
    assertClose([...a.grad!.toArray(), ...b.grad!.toArray()], [1.5, 2, 6], { atol: 1e-5 });
    assert.equal(none.grad, null);
    assert.equal(torch.clipGradNorm([none], 1), 0);
  });

  test("warmupCosineLr: linear warm-up to maxLr, cosine down to minLr, then flat", () => {
    const s = { maxLr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 };
    const lr = (step: number) => torch.warmupCosineLr(step, s);
    assertClose([lr(0), lr(4), lr(9)], [1e-4, 5e-4, 1e-3], { atol: 1e-15 });
    assertClose([lr(10), lr(60), lr(110), lr(1000)], [1e-3, 5.5e-4, 1e-4, 1e-4], { atol: 1e-15 });
    for (let step = 1; step < 10; step++) assert.ok(lr(step) > lr(step - 1), `warm-up rises at ${step}`);
    for (let step = 11; step <= 110; step++) assert.ok(lr(step) < lr(step - 1), `cosine decays at ${step}`);
    assertClose([lr(35)], [1e-4 + 0.5 * 9e-4 * (1 + Math.cos(Math.PI / 4))], { atol: 1e-15 });
    assertClose([torch.warmupCosineLr(500, { maxLr: 2, warmupSteps: 0, totalSteps: 100 })], [0.2], { atol: 1e-15 }, "minLr defaults to maxLr / 10");
  });
});

// ---- randomness, autocast and grad mode ------------------------------------------------------

describe("runtime", () => {
  /** One draw from every random op. */
  const draws = () => [
    ...torch.randn([4]).toArray(),
    ...torch.rand([3], { dtype: "float64" }).toArray(),
    ...torch.randint(0, 1000, [3]).toArray(),
    ...torch.multinomial(torch.ones([10]), 3).toArray(),
    ...torch.dropout(torch.ones([8]), 0.5, true).toArray(),
  ];

  tidyTest("manualSeed makes draws reproducible, and other seeds differ", () => {
    torch.manualSeed(42);
    const first = draws();
    torch.manualSeed(42);
    assert.deepEqual(draws(), first);
    torch.manualSeed(43);
    assert.notDeepEqual(draws(), first);
  });

  tidyTest("getRngState/setRngState replay the same draws", () => {
    torch.manualSeed(7);
    draws();
    const state = torch.getRngState();
    assert.equal(state.dtype, "uint8");
    const first = draws();
    const second = draws();
    assert.notDeepEqual(second, first);
    torch.setRngState(state);
    assert.deepEqual(draws(), first);
    assert.deepEqual(draws(), second);
  });

  tidyTest("autocast runs linear and matmul in bfloat16; outside it they stay float32", () => {
    torch.manualSeed(1);
    const x = torch.randn([3, 8]);
    const w = torch.randn([4, 8]);
    const bias = torch.randn([4]);
    const inside = torch.autocast(() => ({ lin: torch.linear(x, w, bias), mm: x.matmul(w.T) }));
    assert.equal(inside.lin.dtype, "bfloat16");
    assert.equal(inside.mm.dtype, "bfloat16");
    assert.equal(w.dtype, "float32", "parameters stay float32");
    const outside = torch.linear(x, w, bias);
    assert.equal(outside.dtype, "float32");
    assertClose(inside.lin.toArray(), outside.toArray(), { atol: 0.05, rtol: 0.02 }, "bf16 result");
    assert.equal(torch.autocast(() => torch.linear(x, w), { enabled: false }).dtype, "float32");
    const nested = torch.autocast(() => [torch.autocast(() => torch.linear(x, w), { enabled: false }), torch.linear(x, w)]);
    assert.deepEqual(nested.map((t) => t.dtype), ["float32", "bfloat16"], "the outer autocast resumes after an inner disabled one");
    assert.throws(() => torch.autocast(() => { throw new Error("boom"); }), /boom/);
    assert.equal(torch.linear(x, w).dtype, "float32", "autocast is off again after a throw");
  });

  tidyTest("mixedPrecision autocasts to bf16 only where the device runs bf16 matmuls in hardware; GR2_BF16 overrides the check", () => {
    const x = torch.randn([3, 8]);
    const w = torch.randn([4, 8]);
    const saved = process.env.GR2_BF16;
    try {
      delete process.env.GR2_BF16;
      const cpu = torch.bf16Support("cpu");
      assert.ok(cpu.reason.length > 0);
      assert.equal(torch.mixedPrecision(() => torch.linear(x, w), { device: "cpu" }).dtype, cpu.hardware ? "bfloat16" : "float32", cpu.reason);
      process.env.GR2_BF16 = "off";
      assert.deepEqual(torch.bf16Support("cuda"), { hardware: false, reason: "GR2_BF16=off" });
      assert.equal(torch.mixedPrecision(() => torch.linear(x, w), { device: "cpu" }).dtype, "float32");
      process.env.GR2_BF16 = "on";
      assert.equal(torch.mixedPrecision(() => torch.linear(x, w), { device: "cpu" }).dtype, "bfloat16");
      assert.equal(torch.linear(x, w).dtype, "float32", "and off again afterwards");
      assert.equal(torch.mixedPrecision(() => torch.linear(x, w), { enabled: false }).dtype, "float32", "a caller's own switch still turns it off");
      process.env.GR2_BF16 = "yes";
      assert.throws(() => torch.mixedPrecision(() => torch.linear(x, w), { device: "cpu" }), /GR2_BF16 must be on, off or auto, got "yes"/);
    } finally {
      if (saved === undefined) delete process.env.GR2_BF16;
      else process.env.GR2_BF16 = saved;
    }
  });

  tidyTest("noGrad records no graph and restores grad mode, even after a throw", () => {
    const p = torch.randn([3]).requiresGrad_();
    assert.equal(torch.isGradEnabled(), true);
    const y = torch.noGrad(() => {
      assert.equal(torch.isGradEnabled(), false);
      return p.mul(2).sum();
    });
    assert.equal(y.requiresGrad, false);
    assert.throws(() => y.backward(), /does not require grad/);
    assert.equal(p.grad, null);
    assert.equal(torch.isGradEnabled(), true);
    assert.throws(() => torch.noGrad(() => { throw new Error("boom"); }), /boom/);
    assert.equal(torch.isGradEnabled(), true);
    assert.equal(p.mul(2).requiresGrad, true);
  });

  tidyTest("backward accumulates into .grad; leaves, detach and zeroGrad behave as in PyTorch", () => {
    const p = torch.tensor([1, 2, 3]).requiresGrad_();
    const y = p.square().sum();
    assert.equal(p.isLeaf, true);
    assert.equal(y.isLeaf, false);
    assert.equal(p.detach().requiresGrad, false);
    y.backward(undefined, { retainGraph: true });
    assert.deepEqual(p.grad!.toArray(), [2, 4, 6]);
    y.backward();
    assert.deepEqual(p.grad!.toArray(), [4, 8, 12]);
    const z = p.mul(torch.tensor([1, 10, 100]));
    const pz = torch.tensor([1, 1, 1]).requiresGrad_();
    pz.mul(3).backward(torch.tensor([1, 2, 3]));
    assert.deepEqual(pz.grad!.toArray(), [3, 6, 9], "backward with an explicit gradient");
    assert.equal(z.requiresGrad, true);
    const opt = new torch.AdamW([p], { lr: 0 });
    opt.zeroGrad();
    opt.dispose();
    assert.equal(p.grad, null);
  });

  test("threads and version are reported", () => {
    assert.ok(torch.getNumThreads() >= 1);
    assert.match(torch.libtorchVersion(), /^\d+\.\d+\.\d+$/);
    assert.equal(typeof torch.cudaAvailable(), "boolean");
  });

  test("withThreads runs with the given thread count and restores the previous one, also on throw; decodeThreads is half (≥ 1) or GR2_DECODE_THREADS", () => {
    const before = torch.getNumThreads();
    try {
      torch.setNumThreads(4);
      assert.equal(torch.withThreads(1, () => torch.getNumThreads()), 1);
      assert.equal(torch.getNumThreads(), 4);
      assert.throws(() => torch.withThreads(2, () => { throw new Error("boom"); }), /boom/);
      assert.equal(torch.getNumThreads(), 4);
      assert.equal(torch.decodeThreads(), 2);
      torch.setNumThreads(1);
      assert.equal(torch.decodeThreads(), 1);
      process.env.GR2_DECODE_THREADS = "3";
      assert.equal(torch.decodeThreads(), 3);
      process.env.GR2_DECODE_THREADS = "zero";
      assert.throws(() => torch.decodeThreads(), /GR2_DECODE_THREADS must be a positive integer, got "zero"/);
    } finally {
      delete process.env.GR2_DECODE_THREADS;
      torch.setNumThreads(before);
    }
  });
});

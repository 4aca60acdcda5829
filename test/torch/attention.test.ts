/**
 * The query-blocked attention kernel (native/attention.cc) and, in float on CPU, the tiled one
 * (native/flash_f32.cc) against the plain composition that holds the whole score matrix: same
 * outputs and gradients, across several blocks and tiles, with the causal mask, key padding,
 * grouped-query heads and bf16 inputs.
 */
import { test } from "node:test";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";
import { assertClose, bools, checkNoLeaks } from "./helpers.js";

checkNoLeaks();

/** Output and input gradients of attention under a fixed random cotangent. */
function run(q: Tensor, k: Tensor, v: Tensor, o: torch.AttentionOptions): { out: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  return torch.tidy(() => {
    const [qq, kk, vv] = [q, k, v].map((x) => x.detach().requiresGrad_());
    const out = torch.attention(qq!, kk!, vv!, o);
    torch.manualSeed(7);
    const cot = torch.randn(out.shape, { dtype: out.dtype });
    out.mul(cot).sum().backward();
    const f = (t: Tensor) => t.to("float32").toFloat32Array();
    return { out: f(out), dq: f(qq!.grad!), dk: f(kk!.grad!), dv: f(vv!.grad!) };
  });
}

function same(shape: { B: number; Hq: number; Hkv: number; T: number; S: number; D: number }, o: torch.AttentionOptions, tol = { atol: 2e-5, rtol: 1e-4 }, dtype: "float32" | "bfloat16" = "float32"): void {
  torch.tidy(() => {
    torch.manualSeed(11);
    const q = torch.randn([shape.B, shape.Hq, shape.T, shape.D]).to(dtype);
    const k = torch.randn([shape.B, shape.Hkv, shape.S, shape.D]).to(dtype);
    const v = torch.randn([shape.B, shape.Hkv, shape.S, shape.D]).to(dtype);
    const blocked = run(q, k, v, o);
    const plain = run(q, k, v, { ...o, plain: true });
    for (const key of ["out", "dq", "dk", "dv"] as const) assertClose(blocked[key], plain[key], tol, key);
  });
}

test("blocked attention equals the plain composition over several query blocks (causal, GQA)", () => {
  // 32M score elements a block: B·Hq·S = 2·2·4096 → 2,048 query rows a block, 2 blocks.
  same({ B: 2, Hq: 2, Hkv: 1, T: 4096, S: 4096, D: 8 }, { causal: true });
});

test("blocked attention equals the plain composition with key padding, no causal mask", () => {
  torch.tidy(() => {
    const S = 6;
    const mask = bools([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0], [2, 1, 1, S]);
    same({ B: 2, Hq: 4, Hkv: 2, T: S, S, D: 8 }, { mask });
    same({ B: 2, Hq: 4, Hkv: 2, T: S, S, D: 8 }, { mask, causal: true });
  });
});

test("blocked attention equals the plain composition for a chunk of queries after cached keys", () => {
  same({ B: 1, Hq: 4, Hkv: 2, T: 3, S: 7, D: 8 }, { causal: true });
});

test("blocked attention in bf16 equals the plain composition to bf16 rounding", () => {
  same({ B: 2, Hq: 4, Hkv: 2, T: 33, S: 33, D: 16 }, { causal: true }, { atol: 3e-2, rtol: 3e-2 }, "bfloat16");
});

test("the fused CPU row kernels equal the ATen composition they replace (float and bf16, padding, causal)", () => {
  // GR2_ATTN_COMPOSED=1 selects the composition (the path other devices take) for this comparison.
  torch.tidy(() => {
    const S = 9;
    const mask = bools([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [2, 1, 1, S]);
    for (const dtype of ["float32", "bfloat16"] as const) {
      torch.manualSeed(13);
      const q = torch.randn([2, 4, S, 16]).to(dtype);
      const k = torch.randn([2, 2, S, 16]).to(dtype);
      const v = torch.randn([2, 2, S, 16]).to(dtype);
      const fused = run(q, k, v, { mask, causal: true });
      process.env.GR2_ATTN_COMPOSED = "1";
      let composed;
      try {
        composed = run(q, k, v, { mask, causal: true });
      } finally {
        delete process.env.GR2_ATTN_COMPOSED;
      }
      const tol = dtype === "float32" ? { atol: 2e-5, rtol: 1e-4 } : { atol: 3e-2, rtol: 3e-2 };
      for (const key of ["out", "dq", "dk", "dv"] as const) assertClose(fused[key], composed[key], tol, `${dtype} ${key}`);
    }
  });
});

test("the tiled float kernel equals the plain composition across tile edges (64 × 64 tiles, 4 × 16 register blocks)", () => {
  torch.tidy(() => {
    // 150 queries: two full tiles and one of 22 rows (22 % 4 = 2 rows outside the register blocks).
    const pad = (B: number, S: number, lead: number[]) => bools(Array.from({ length: B * S }, (_, i) => (i % S < (lead[Math.floor(i / S)] ?? 0) ? 0 : 1)), [B, 1, 1, S]);
    same({ B: 2, Hq: 4, Hkv: 1, T: 150, S: 150, D: 32 }, { causal: true, mask: pad(2, 150, [0, 70]) });
    // Head size 24: a 16-wide block and 8 edge columns; queries after cached keys, several key tiles.
    same({ B: 1, Hq: 2, Hkv: 2, T: 70, S: 200, D: 24 }, { causal: true });
    // More queries than keys under the causal mask: the first 40 rows see nothing (zeros, no NaN).
    same({ B: 1, Hq: 2, Hkv: 1, T: 100, S: 60, D: 16 }, { causal: true });
    // No causal mask, padding that empties a whole key tile of one row.
    same({ B: 2, Hq: 2, Hkv: 1, T: 90, S: 130, D: 40 }, { mask: pad(2, 130, [70, 3]) });
  });
});

test("the tiled float kernel and the blocked one it replaces agree (GR2_ATTN_TILED=0 selects the blocks)", () => {
  torch.tidy(() => {
    torch.manualSeed(5);
    const q = torch.randn([2, 8, 130, 32]);
    const k = torch.randn([2, 2, 130, 32]);
    const v = torch.randn([2, 2, 130, 32]);
    const tiled = run(q, k, v, { causal: true });
    process.env.GR2_ATTN_TILED = "0";
    let blocks;
    try {
      blocks = run(q, k, v, { causal: true });
    } finally {
      delete process.env.GR2_ATTN_TILED;
    }
    for (const key of ["out", "dq", "dk", "dv"] as const) assertClose(tiled[key], blocks[key], { atol: 2e-5, rtol: 1e-4 }, key);
  });
});

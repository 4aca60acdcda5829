/**
 * The fused SwiGLU kernel (native/swiglu.cc) against ATen's composition silu(gate) · up: same
 * outputs and gradients in float32 and bf16, for column slices of one wider tensor (how the
 * fused gate/up projection hands them over) and for large gates of both signs.
 */
import { test } from "node:test";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";
import { assertClose, checkNoLeaks } from "./helpers.js";

checkNoLeaks();

function run(g: Tensor, u: Tensor, fn: (g: Tensor, u: Tensor) => Tensor): { y: Float32Array; dg: Float32Array; du: Float32Array } {
  return torch.tidy(() => {
    const [gg, uu] = [g, u].map((x) => x.detach().requiresGrad_());
    const y = fn(gg!, uu!);
    torch.manualSeed(5);
    const cot = torch.randn(y.shape).to(y.dtype);
    y.mul(cot).sum().backward();
    const f = (t: Tensor) => t.to("float32").toFloat32Array();
    return { y: f(y), dg: f(gg!.grad!), du: f(uu!.grad!) };
  });
}

function same(dtype: "float32" | "bfloat16", tol: { atol: number; rtol: number }): void {
  torch.tidy(() => {
    torch.manualSeed(3);
    // [2, 3, 2·I] split in its last dim, as the fused projection's output is; gates up to ±24.
    const I = 37;
    const gu = torch.randn([2, 3, 2 * I]).mul(8).to(dtype);
    const g = gu.narrow(-1, 0, I);
    const u = gu.narrow(-1, I, I);
    const fused = run(g, u, (a, b) => torch.swiglu(a, b));
    const composed = run(g.to("float32"), u.to("float32"), (a, b) => a.silu().mul(b));
    for (const key of ["y", "dg", "du"] as const) assertClose(fused[key], composed[key], tol, `${dtype} ${key}`);
  });
}

test("fused swiglu equals silu(gate) · up with its gradients in float32", () => same("float32", { atol: 1e-5, rtol: 1e-5 }));

test("fused swiglu in bf16 equals the float composition to bf16 rounding", () => same("bfloat16", { atol: 2e-2, rtol: 1e-2 }));

test("fused swiglu on a broadcast-free 1-d pair and an empty pair", () => {
  torch.tidy(() => {
    const g = torch.tensor(Float32Array.from([-100, -3, 0, 2, 90]), [5]);
    const u = torch.tensor(Float32Array.from([1, 2, 3, 4, 5]), [5]);
    const expected = [-100, -3, 0, 2, 90].map((x, i) => (x / (1 + Math.exp(-x))) * (i + 1));
    assertClose(torch.swiglu(g, u).toFloat32Array(), expected, { atol: 1e-5, rtol: 1e-6 });
    assertClose(torch.swiglu(torch.zeros([0, 4]), torch.zeros([0, 4])).toFloat32Array(), []);
  });
});

/** Shared by the engine tests: seeded inputs, numeric comparisons, gradcheck, leak checks, temp folders. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";

// The tests check values, not speed. On a machine whose cores are busy, every parallel region of
// libtorch's OpenMP pool can cost a scheduler quantum (the workers spin-wait), which made these
// files 20x slower; one intra-op thread avoids that. tensor.test.ts checks multi-threaded kernels
// against single-threaded ones explicitly.
torch.setNumThreads(1);

/** Standard-normal float64 draws (seed with torch.manualSeed first for reproducible inputs). */
export const randn64 = (...shape: number[]): Tensor => torch.randn(shape, { dtype: "float64" });
/** Uniform float64 draws in [0.5, 1.5): a safe domain for log, sqrt, reciprocal, pow. */
export const positive64 = (...shape: number[]): Tensor => torch.tidy(() => torch.rand(shape, { dtype: "float64" }).add(0.5));
/** A bool tensor from 0/1 values. */
export const bools = (bits: number[], shape: number[]): Tensor => torch.tensor(Uint8Array.from(bits), shape, { dtype: "bool" });

export interface Tolerance {
  atol?: number;
  rtol?: number;
}

/** Asserts |actual - expected| <= atol + rtol·|expected| elementwise, naming the first bad index. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, { atol = 1e-6, rtol = 1e-5 }: Tolerance = {}, what = "values"): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Object.is(a, e) || Math.abs(a - e) <= atol + rtol * Math.abs(e)) continue;
    const show = (xs: ArrayLike<number>) => `[${Array.from(xs).slice(0, 64).join(", ")}${xs.length > 64 ? ", ..." : ""}]`;
    assert.fail(`${what}[${i}] = ${a}, expected ${e} (atol ${atol}, rtol ${rtol})\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`);
  }
}

/** Asserts a tensor's shape and values. */
export function assertTensor(t: Tensor, shape: number[], values: ArrayLike<number>, tol?: Tolerance): void {
  assert.deepEqual(t.shape, shape, `shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`);
  assertClose(t.toArray(), values, tol);
}

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  atol?: number;
  rtol?: number;
}

/**
 * Checks the autograd gradients of `fn` against central finite differences: every element of
 * every (float64) input is perturbed by ±eps and the objective sum(fn(x) · W), W a fixed
 * random tensor, is re-evaluated under noGrad. Fails naming the input, element and both values.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], { eps = 1e-6, atol = 1e-6, rtol = 1e-5 }: GradcheckOptions = {}): void {
  torch.tidy(() => {
    for (const [i, x] of inputs.entries()) assert.equal(x.dtype, "float64", `gradcheck input ${i} must be float64, got ${x.dtype}`);
    const shapes = inputs.map((x) => x.shape);
    const values = inputs.map((x) => x.data<"float64">());
    const build = () => values.map((v, i) => torch.tensor(v, shapes[i]));

    const leaves = build().map((t) => t.requiresGrad_());
    const out = fn(...leaves);
    const weights = torch.randn(out.shape, { dtype: "float64" });
    const objective = (o: Tensor) => o.to("float64").mul(weights).sum();
    objective(out).backward();
    const analytic = leaves.map((l) => l.grad?.toArray() ?? new Array<number>(l.numel).fill(0));

    const evaluate = () => torch.noGrad(() => torch.tidy(() => objective(fn(...build())).item()));
    for (const [i, v] of values.entries()) {
      for (let j = 0; j < v.length; j++) {
        const saved = v[j]!;
        v[j] = saved + eps;
        const plus = evaluate();
        v[j] = saved - eps;
        const minus = evaluate();
        v[j] = saved;
        const numeric = (plus - minus) / (2 * eps);
        const a = analytic[i]![j]!;
        assert.ok(
          Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric),
          `d/d input ${i}[${j}] (shape [${shapes[i]}]): autograd ${a}, finite difference ${numeric} (diff ${Math.abs(a - numeric).toExponential(2)})`,
        );
      }
    }
  });
}

/** Asserts that fn throws an Error whose message matches every pattern, and returns it. */
export function assertThrowsMessage(fn: () => unknown, ...patterns: RegExp[]): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected an Error, got ${caught === undefined ? "no error" : String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

/** Registers hooks asserting that the test file ends with as many live tensors as it started with. */
export function checkNoLeaks(): void {
  let start = 0;
  before(() => {
    start = torch.liveTensors();
  });
  after(() => {
    assert.equal(torch.liveTensors(), start, "tensors leaked by this test file");
  });
}

/** A fresh temporary folder, removed when the test file ends. */
export function tempDir(prefix = "gr2-torch-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

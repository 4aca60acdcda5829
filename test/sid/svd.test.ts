import { test } from "node:test";
import assert from "node:assert/strict";
import { zeros, csrFromDense, matmulTransA } from "../../src/sid/matrix.js";
import { randomizedSvd, symmetricEigen } from "../../src/sid/svd.js";
import { Rng } from "../../src/sid/rng.js";

test("symmetricEigen reconstructs a random symmetric matrix with orthonormal eigenvectors, values descending", () => {
  const n = 24, rng = new Rng(5);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  const { values, vectors } = symmetricEigen(a, n);
  for (let c = 1; c < n; c++) assert.ok(values[c - 1]! >= values[c]!);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0, o = 0;
      for (let c = 0; c < n; c++) {
        s += vectors[i * n + c]! * values[c]! * vectors[j * n + c]!;
        o += vectors[c * n + i]! * vectors[c * n + j]!;
      }
      assert.ok(Math.abs(s - a[i * n + j]!) < 1e-10);
      assert.ok(Math.abs(o - (i === j ? 1 : 0)) < 1e-10);
    }
});

test("randomizedSvd recovers a planted rank-5 matrix: singular values, subspace and reconstruction", () => {
  const m = 300, n = 200, k = 5, rng = new Rng(7);
  // A = Σ_c σ_c u_c v_cᵀ with orthonormal u, v (built by Gram–Schmidt) and known σ.
  const sigma = [50, 30, 20, 10, 5];
  const orth = (len: number) => {
    const vs: Float64Array[] = [];
    for (let c = 0; c < k; c++) {
      const v = Float64Array.from({ length: len }, () => rng.normal());
      for (const w of vs) {
        let d = 0;
        for (let i = 0; i < len; i++) d += v[i]! * w[i]!;
        for (let i = 0; i < len; i++) v[i] -= d * w[i]!;
      }
      const norm = Math.hypot(...v);
      vs.push(v.map((x) => x / norm));
    }
    return vs;
  };
  const u = orth(m), v = orth(n);
  const a = zeros(m, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let c = 0; c < k; c++) a.data[i * n + j] += sigma[c]! * u[c]![i]! * v[c]![j]!;

  const r = randomizedSvd(csrFromDense(a), k, { seed: 3 });
  for (let c = 0; c < k; c++) assert.ok(Math.abs(r.S[c]! - sigma[c]!) < 1e-3 * sigma[c]!, `σ${c} = ${r.S[c]}`);
  // Each recovered left vector matches the planted one up to sign.
  for (let c = 0; c < k; c++) {
    let d = 0;
    for (let i = 0; i < m; i++) d += r.U.data[i * k + c]! * u[c]![i]!;
    assert.ok(Math.abs(Math.abs(d) - 1) < 1e-4, `|<u${c}, û${c}>| = ${Math.abs(d)}`);
  }
  let err = 0, tot = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += r.U.data[i * k + c]! * r.S[c]! * r.V.data[j * k + c]!;
      err += (s - a.data[i * n + j]!) ** 2;
      tot += a.data[i * n + j]! ** 2;
    }
  assert.ok(Math.sqrt(err / tot) < 1e-4, `relative error ${Math.sqrt(err / tot)}`);
  const g = matmulTransA(r.V, r.V);
  for (let i = 0; i < k; i++) assert.ok(Math.abs(g[i * k + i]! - 1) < 1e-4);
});

test("randomizedSvd is reproducible for a seed and clamps k to the matrix size", () => {
  const rng = new Rng(1);
  const a = zeros(6, 4);
  for (let i = 0; i < a.data.length; i++) a.data[i] = rng.normal();
  const s = csrFromDense(a);
  const r1 = randomizedSvd(s, 3, { seed: 9 }), r2 = randomizedSvd(s, 3, { seed: 9 });
  assert.deepEqual(Array.from(r1.U.data), Array.from(r2.U.data));
  const big = randomizedSvd(s, 10);
  assert.equal(big.S.length, 4);
  assert.equal(big.U.cols, 4);
});

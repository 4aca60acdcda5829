import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Matrix, zeros, fromRows, matmul, matmulTransB, matmulTransA, rowSqNorms, normaliseRows, orthonormaliseColumns,
  csrFromRowMaps, csrFromDense, csrMulDense, csrTransposeMulDense, csrToDense, csrNormaliseRows,
} from "../../src/sid/matrix.js";
import { Rng } from "../../src/sid/rng.js";

function random(rows: number, cols: number, seed: number, density = 1): Matrix {
  const rng = new Rng(seed);
  const m = zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng.next() < density ? rng.normal() : 0;
  return m;
}

function naive(a: Matrix, b: Matrix): Matrix {
  const out = zeros(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < b.cols; j++) {
      let s = 0;
      for (let p = 0; p < a.cols; p++) s += a.data[i * a.cols + p]! * b.data[p * b.cols + j]!;
      out.data[i * b.cols + j] = s;
    }
  return out;
}

function transpose(m: Matrix): Matrix {
  const t = zeros(m.cols, m.rows);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) t.data[j * m.rows + i] = m.data[i * m.cols + j]!;
  return t;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `index ${i}: ${a[i]} vs ${b[i]}`);
}

test("matmul, matmulTransB and matmulTransA agree with the naive product, including odd edge sizes", () => {
  for (const [m, k, n] of [[1, 1, 1], [7, 5, 3], [13, 9, 6], [16, 32, 8], [3, 0, 2]] as const) {
    const a = random(m, k, m * 100 + k), b = random(k, n, n * 7 + 1);
    const expected = naive(a, b);
    assertClose(matmul(a, b, zeros(m, n)).data, expected.data);
    assertClose(matmulTransB(a, transpose(b), zeros(m, n)).data, expected.data);
    assertClose(matmulTransA(transpose(a), b), expected.data);
  }
});

test("matmul rejects mismatched shapes and wrong output sizes", () => {
  assert.throws(() => matmul(zeros(2, 3), zeros(4, 2), zeros(2, 2)), /matmul: 2×3 · 4×2/);
  assert.throws(() => matmulTransB(zeros(2, 3), zeros(4, 3), zeros(2, 2)), /output is 2×2, expected 2×4/);
});

test("normaliseRows gives unit rows and leaves zero rows at zero", () => {
  const m = normaliseRows(fromRows([[3, 4], [0, 0], [-1, 1]]));
  assertClose(rowSqNorms(m), [1, 0, 1]);
  assertClose(m.data, [0.6, 0.8, 0, 0, -Math.SQRT1_2, Math.SQRT1_2]);
});

test("orthonormaliseColumns yields QᵀQ = I spanning the same space, and zeroes dependent columns", () => {
  const a = random(50, 6, 3);
  const q = orthonormaliseColumns({ ...a, data: Float32Array.from(a.data) });
  const g = matmulTransA(q, q);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) assert.ok(Math.abs(g[i * 6 + j]! - (i === j ? 1 : 0)) < 1e-5);
  // A = Q·(QᵀA): projecting onto Q loses nothing.
  const proj = matmul(q, { rows: 6, cols: 6, data: Float32Array.from(matmulTransA(q, a)) }, zeros(50, 6));
  assertClose(proj.data, a.data, 1e-4);

  const dep = fromRows([[1, 2, 1], [2, 4, 0], [3, 6, 1]]); // column 1 = 2 × column 0
  orthonormaliseColumns(dep);
  assertClose([dep.data[1]!, dep.data[4]!, dep.data[7]!], [0, 0, 0], 1e-6);
});

test("CSR products match dense ones", () => {
  const dense = random(20, 15, 9, 0.3);
  const s = csrFromDense(dense);
  assert.deepEqual(Array.from(csrToDense(s).data), Array.from(dense.data));
  const d = random(15, 4, 10), e = random(20, 4, 11);
  assertClose(csrMulDense(s, d, zeros(20, 4)).data, naive(dense, d).data);
  assertClose(csrTransposeMulDense(s, e, zeros(15, 4)).data, naive(transpose(dense), e).data);
});

test("csrFromRowMaps sorts columns, rejects out-of-range ones; csrNormaliseRows gives unit rows", () => {
  const s = csrFromRowMaps([new Map([[2, 4], [0, 3]]), new Map()], 3);
  assert.deepEqual(Array.from(s.indptr), [0, 2, 2]);
  assert.deepEqual(Array.from(s.indices), [0, 2]);
  csrNormaliseRows(s);
  assertClose(s.values, [0.6, 0.8]);
  assert.throws(() => csrFromRowMaps([new Map([[5, 1]])], 3), /column 5 out of range \[0, 3\) in row 0/);
});

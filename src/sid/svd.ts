/**
 * Randomized truncated SVD of a sparse matrix (Halko, Martinsson & Tropp 2011, Alg. 4.4 + 5.1).
 *
 * Why randomized: the TF-IDF and PPMI matrices are tens of thousands square and sparse, and we
 * want only their top 32–256 singular directions. Multiplying by a thin random matrix finds a
 * subspace that captures those directions with a few sparse products (linear in the nonzeros),
 * and everything afterwards is small and dense.
 *
 *   Y = A·Ω (Ω: n×l Gaussian, l = k + oversampling)  → orthonormalise → Q
 *   q times: Q ← orth(A·orth(Aᵀ·Q))                  (power iterations sharpen the spectrum, so a
 *                                                     slowly decaying tail, typical of text, does
 *                                                     not drown the top directions)
 *   Bᵀ = Aᵀ·Q (n×l), B·Bᵀ = W·Λ·Wᵀ (l×l, Jacobi)     (small symmetric eigenproblem)
 *   U = Q·W, Σ = √Λ, V = Bᵀ·W·Σ⁻¹
 *
 * Orthonormalising between every product is what keeps the power iterations stable in float32.
 */
import {
  type CsrMatrix, type Matrix, zeros, csrMulDense, csrTransposeMulDense, orthonormaliseColumns,
  matmulTransA,
} from "./matrix.js";
import { Rng } from "./rng.js";

export interface SvdOptions {
  /** Extra random directions beyond k (Halko et al. recommend 5–10). Default 10. */
  oversample?: number;
  /** Power iterations; 2–4 is plenty for TF-IDF-like spectra. Default 4. */
  powerIterations?: number;
  seed?: number;
}

export interface SvdResult {
  /** m×k left singular vectors (orthonormal columns). */
  U: Matrix;
  /** k singular values, descending. */
  S: Float64Array;
  /** n×k right singular vectors (orthonormal columns, zero where σ = 0). */
  V: Matrix;
}

/**
 * The top-k singular triplets of A. k is clamped to min(rows, cols); the result may therefore
 * have fewer than k columns for tiny inputs, which callers must accept.
 */
export function randomizedSvd(a: CsrMatrix, k: number, opts: SvdOptions = {}): SvdResult {
  const { oversample = 10, powerIterations = 4, seed = 0 } = opts;
  const kk = Math.min(k, a.rows, a.cols);
  if (kk <= 0) return { U: zeros(a.rows, 0), S: new Float64Array(0), V: zeros(a.cols, 0) };
  const l = Math.min(kk + oversample, a.rows, a.cols);
  const rng = new Rng(seed);

  const omega = zeros(a.cols, l);
  for (let i = 0; i < omega.data.length; i++) omega.data[i] = rng.normal();
  const q = zeros(a.rows, l);
  const z = zeros(a.cols, l);
  orthonormaliseColumns(csrMulDense(a, omega, q));
  for (let it = 0; it < powerIterations; it++) {
    orthonormaliseColumns(csrTransposeMulDense(a, q, z));
    orthonormaliseColumns(csrMulDense(a, z, q));
  }
  const bt = csrTransposeMulDense(a, q, z); // Bᵀ = Aᵀ·Q, n×l

  const { values, vectors } = symmetricEigen(matmulTransA(bt, bt), l);
  const S = new Float64Array(kk);
  const U = zeros(a.rows, kk);
  const V = zeros(a.cols, kk);
  for (let c = 0; c < kk; c++) {
    const sigma = Math.sqrt(Math.max(values[c]!, 0));
    S[c] = sigma;
    // U[:,c] = Q·w_c and V[:,c] = Bᵀ·w_c / σ, with w_c the c-th eigenvector (column c of W).
    projectColumn(q, vectors, l, c, U, 1);
    projectColumn(bt, vectors, l, c, V, sigma > 0 ? 1 / sigma : 0);
    fixSign(U, V, c);
  }
  return { U, S, V };
}

/**
 * U·Σ^p in place: p = 1 gives the classic LSA item coordinates (distances as in TF-IDF space),
 * p = 0.5 the symmetric weighting used for co-occurrence matrices.
 */
export function scaleColumns(u: Matrix, s: Float64Array, power: number): Matrix {
  const w = Array.from(s, (v) => Math.pow(v, power));
  for (let i = 0; i < u.rows; i++) for (let c = 0; c < u.cols; c++) u.data[i * u.cols + c] = u.data[i * u.cols + c]! * w[c]!;
  return u;
}

/** out[:, c] = scale · (M · W[:, c]), with W l×l row-major. */
function projectColumn(m: Matrix, w: Float64Array, l: number, c: number, out: Matrix, scale: number): void {
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    for (let p = 0; p < l; p++) s += m.data[i * l + p]! * w[p * l + c]!;
    out.data[i * out.cols + c] = s * scale;
  }
}

/**
 * Singular vectors are defined up to a joint sign flip; pick the sign that makes the
 * largest-magnitude entry of U[:, c] positive, so that results do not depend on round-off.
 */
function fixSign(U: Matrix, V: Matrix, c: number): void {
  let best = 0;
  for (let i = 0; i < U.rows; i++) {
    const v = U.data[i * U.cols + c]!;
    if (Math.abs(v) > Math.abs(best)) best = v;
  }
  if (best >= 0) return;
  for (let i = 0; i < U.rows; i++) U.data[i * U.cols + c] = -U.data[i * U.cols + c]!;
  for (let i = 0; i < V.rows; i++) V.data[i * V.cols + c] = -V.data[i * V.cols + c]!;
}

export interface EigenResult {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** n×n row-major; column c is the eigenvector of values[c]. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major) by cyclic Jacobi rotations.
 *
 * Jacobi is O(n³) per sweep and needs ~6–10 sweeps, which is nothing for n ≤ 256, and it is
 * simple, unconditionally stable and accurate for small eigenvalues — all we need for the
 * l×l Gram matrix of the randomized SVD. The input is not modified.
 */
export function symmetricEigen(input: Float64Array, n: number, maxSweeps = 60): EigenResult {
  if (input.length !== n * n) throw new Error(`symmetricEigen: expected ${n * n} values, got ${input.length}`);
  const a = Float64Array.from(input);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i]! * a[i]!;
  const tol = 1e-30 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! * a[p * n + q]!;
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        // Choose the rotation angle that zeroes a[p][q]; t = tan θ, the smaller root for stability.
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ·A·J: rotate columns p and q, then rows p and q.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // Sort descending, permuting eigenvector columns along.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y]! - a[x * n + x]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors };
}

/**
 * Minimal dense and sparse matrices on typed arrays: just what the SID builder needs.
 *
 * Why not the tensor engine? Semantic IDs are built once per catalogue, from small matrices
 * (tens of thousands of rows × tens to hundreds of columns), and must build in CI without the
 * native addon. Float32 storage halves memory and bandwidth against Float64; the few places
 * where round-off matters (Gram–Schmidt, Gram matrices, sums) accumulate in Float64.
 *
 * All dense matrices are row-major: element (i, j) is `data[i * cols + j]`, and a row is a
 * contiguous `subarray`, which is what every hot loop here walks.
 */

/** A dense row-major float32 matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/** A compressed-sparse-row matrix: row i's entries are `indices/values[indptr[i] .. indptr[i+1])`. */
export interface CsrMatrix {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

/** A zero matrix. */
export function zeros(rows: number, cols: number): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new Error(`invalid matrix shape ${rows}×${cols}`);
  }
  return { rows, cols, data: new Float32Array(rows * cols) };
}

/** A matrix from nested arrays (tests and small inputs); all rows must have the same length. */
export function fromRows(rows: ArrayLike<number>[]): Matrix {
  const cols = rows.length === 0 ? 0 : rows[0]!.length;
  const m = zeros(rows.length, cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`row ${i} has ${r.length} values, expected ${cols}`);
    m.data.set(r, i * cols);
  });
  return m;
}

/** Row i as a view (no copy). */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Rows [start, end) as a matrix view sharing storage (used to process large inputs in chunks). */
export function rowSlice(m: Matrix, start: number, end: number): Matrix {
  return { rows: end - start, cols: m.cols, data: m.data.subarray(start * m.cols, end * m.cols) };
}

function checkOut(out: Matrix, rows: number, cols: number, what: string): void {
  if (out.rows !== rows || out.cols !== cols) {
    throw new Error(`${what}: output is ${out.rows}×${out.cols}, expected ${rows}×${cols}`);
  }
}

/**
 * out = A · B, with A m×k and B k×n, into a preallocated output.
 *
 * Loop order i-p-j: for each row of A and each of its entries a = A[i,p], add a·B[p,:] to
 * out[i,:]. Both the B row and the out row are contiguous, so the inner loop streams memory;
 * the naive i-j-p order walks B down a column and misses the cache on every step.
 */
export function matmul(a: Matrix, b: Matrix, out: Matrix): Matrix {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} · ${b.rows}×${b.cols}`);
  checkOut(out, a.rows, b.cols, "matmul");
  const { rows: m, cols: k } = a;
  const n = b.cols;
  const A = a.data, B = b.data, C = out.data;
  C.fill(0);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const v = A[i * k + p]!;
      if (v === 0) continue; // cheap win for the many zeros in residuals and sparse-ish inputs
      const bp = p * n;
      for (let j = 0; j < n; j++) C[ci + j] += v * B[bp + j]!;
    }
  }
  return out;
}

/**
 * out = A · Bᵀ, with A m×k and B n×k: every entry is a dot product of two contiguous rows.
 *
 * This is the k-means distance kernel (rows of X against the rows of a codebook), so it is
 * register-blocked: each pass over p computes a 2×4 tile of the output, loading two A values
 * and four B values for eight multiply-adds, where a plain dot product loads two values per
 * multiply-add. Measured on the 2-core dev machine (V8 does not vectorise): ≈ 5 GFLOP/s for
 * 12k×96 · (256×96)ᵀ, against ≈ 2.6 for unrolled dot products and ≈ 1.5 for the i-p-j matmul.
 */
export function matmulTransB(a: Matrix, b: Matrix, out: Matrix): Matrix {
  if (a.cols !== b.cols) throw new Error(`matmulTransB: ${a.rows}×${a.cols} · (${b.rows}×${b.cols})ᵀ`);
  checkOut(out, a.rows, b.rows, "matmulTransB");
  const m = a.rows, n = b.rows, k = a.cols;
  const A = a.data, B = b.data, C = out.data;
  const m2 = m - (m % 2), n4 = n - (n % 4);
  for (let i = 0; i < m2; i += 2) {
    const a0 = i * k, a1 = a0 + k;
    const o0 = i * n, o1 = o0 + n;
    for (let j = 0; j < n4; j += 4) {
      const b0 = j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let p = 0; p < k; p++) {
        const x = A[a0 + p]!, y = A[a1 + p]!;
        const c0 = B[b0 + p]!, c1 = B[b1 + p]!, c2 = B[b2 + p]!, c3 = B[b3 + p]!;
        s00 += x * c0; s01 += x * c1; s02 += x * c2; s03 += x * c3;
        s10 += y * c0; s11 += y * c1; s12 += y * c2; s13 += y * c3;
      }
      C[o0 + j] = s00; C[o0 + j + 1] = s01; C[o0 + j + 2] = s02; C[o0 + j + 3] = s03;
      C[o1 + j] = s10; C[o1 + j + 1] = s11; C[o1 + j + 2] = s12; C[o1 + j + 3] = s13;
    }
    for (let j = n4; j < n; j++) {
      C[o0 + j] = dot(A, a0, B, j * k, k);
      C[o1 + j] = dot(A, a1, B, j * k, k);
    }
  }
  if (m2 < m) for (let j = 0; j < n; j++) C[m2 * n + j] = dot(A, m2 * k, B, j * k, k);
  return out;
}

/** Dot product of x[xo .. xo+k) and y[yo .. yo+k) (the edges of the blocked kernels). */
function dot(x: Float32Array, xo: number, y: Float32Array, yo: number, k: number): number {
  let s = 0;
  for (let p = 0; p < k; p++) s += x[xo + p]! * y[yo + p]!;
  return s;
}

/**
 * out = Aᵀ · B, with A m×k and B m×n (out k×n), accumulated in Float64 because it is used
 * for Gram matrices whose eigenvalues are squared singular values: float32 sums over tens of
 * thousands of rows would lose the small ones.
 */
export function matmulTransA(a: Matrix, b: Matrix): Float64Array {
  if (a.rows !== b.rows) throw new Error(`matmulTransA: (${a.rows}×${a.cols})ᵀ · ${b.rows}×${b.cols}`);
  const m = a.rows, k = a.cols, n = b.cols;
  const A = a.data, B = b.data;
  const C = new Float64Array(k * n);
  for (let i = 0; i < m; i++) {
    const ai = i * k, bi = i * n;
    for (let p = 0; p < k; p++) {
      const v = A[ai + p]!;
      if (v === 0) continue;
      const cp = p * n;
      for (let j = 0; j < n; j++) C[cp + j] += v * B[bi + j]!;
    }
  }
  return C;
}

/** Squared L2 norm of every row (Float64 accumulation). */
export function rowSqNorms(m: Matrix, out: Float64Array = new Float64Array(m.rows)): Float64Array {
  const { rows, cols, data } = m;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) {
      const v = data[o + j]!;
      s += v * v;
    }
    out[i] = s;
  }
  return out;
}

/** Scale every row to unit L2 norm, in place. All-zero rows (items with no signal) stay zero. */
export function normaliseRows(m: Matrix): Matrix {
  const norms = rowSqNorms(m);
  for (let i = 0; i < m.rows; i++) {
    const n = Math.sqrt(norms[i]!);
    if (n === 0) continue;
    const r = row(m, i);
    for (let j = 0; j < m.cols; j++) r[j] = r[j]! / n;
  }
  return m;
}

/**
 * Orthonormalise the columns of A in place (thin QR's Q), by modified Gram–Schmidt run twice.
 *
 * One pass of Gram–Schmidt loses orthogonality when columns are nearly dependent, which is
 * exactly the situation after power iterations; a second pass ("twice is enough", Giraud et
 * al.) restores it to working precision. The work is done column-major in Float64 so each
 * column is contiguous. A column that is (numerically) in the span of the previous ones is set
 * to zero rather than amplified noise; callers treat it as a rank deficiency.
 */
export function orthonormaliseColumns(a: Matrix): Matrix {
  const m = a.rows, n = a.cols;
  const q = new Float64Array(m * n); // column-major copy
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) q[j * m + i] = a.data[i * n + j]!;
  for (let j = 0; j < n; j++) {
    const cj = j * m;
    let original = 0;
    for (let i = 0; i < m; i++) original += q[cj + i]! * q[cj + i]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const cp = p * m;
        let dot = 0;
        for (let i = 0; i < m; i++) dot += q[cp + i]! * q[cj + i]!;
        if (dot === 0) continue;
        for (let i = 0; i < m; i++) q[cj + i] -= dot * q[cp + i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += q[cj + i]! * q[cj + i]!;
    // Relative test: what is left is round-off if it is ~1e-10 of what we started with.
    const keep = norm > 1e-20 * Math.max(original, 1e-300) && norm > 0;
    const inv = keep ? 1 / Math.sqrt(norm) : 0;
    for (let i = 0; i < m; i++) q[cj + i] = q[cj + i]! * inv;
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) a.data[i * n + j] = q[j * m + i]!;
  return a;
}

/** Build a CSR matrix from one `Map<column, value>` per row (the natural output of counting). */
export function csrFromRowMaps(rowMaps: ReadonlyArray<ReadonlyMap<number, number>>, cols: number): CsrMatrix {
  let nnz = 0;
  for (const r of rowMaps) nnz += r.size;
  const indptr = new Int32Array(rowMaps.length + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let o = 0;
  rowMaps.forEach((r, i) => {
    // Sorted columns make the matrix canonical (same input → same bytes) and scans predictable.
    const keys = Array.from(r.keys()).sort((x, y) => x - y);
    for (const c of keys) {
      if (c < 0 || c >= cols) throw new Error(`csr: column ${c} out of range [0, ${cols}) in row ${i}`);
      indices[o] = c;
      values[o] = r.get(c)!;
      o++;
    }
    indptr[i + 1] = o;
  });
  return { rows: rowMaps.length, cols, indptr, indices, values };
}

/** out = S · D for sparse S (m×n) and dense D (n×k): each nonzero adds a scaled row of D. */
export function csrMulDense(s: CsrMatrix, d: Matrix, out: Matrix): Matrix {
  if (s.cols !== d.rows) throw new Error(`csrMulDense: ${s.rows}×${s.cols} · ${d.rows}×${d.cols}`);
  checkOut(out, s.rows, d.cols, "csrMulDense");
  const k = d.cols, D = d.data, C = out.data;
  C.fill(0);
  for (let i = 0; i < s.rows; i++) {
    const ci = i * k;
    for (let e = s.indptr[i]!; e < s.indptr[i + 1]!; e++) {
      const v = s.values[e]!, dj = s.indices[e]! * k;
      for (let j = 0; j < k; j++) C[ci + j] += v * D[dj + j]!;
    }
  }
  return out;
}

/**
 * out = Sᵀ · D for sparse S (m×n) and dense D (m×k), without materialising Sᵀ: row i of S
 * scatters D[i,:] into the output rows named by its column indices.
 */
export function csrTransposeMulDense(s: CsrMatrix, d: Matrix, out: Matrix): Matrix {
  if (s.rows !== d.rows) throw new Error(`csrTransposeMulDense: (${s.rows}×${s.cols})ᵀ · ${d.rows}×${d.cols}`);
  checkOut(out, s.cols, d.cols, "csrTransposeMulDense");
  const k = d.cols, D = d.data, C = out.data;
  C.fill(0);
  for (let i = 0; i < s.rows; i++) {
    const di = i * k;
    for (let e = s.indptr[i]!; e < s.indptr[i + 1]!; e++) {
      const v = s.values[e]!, cj = s.indices[e]! * k;
      for (let j = 0; j < k; j++) C[cj + j] += v * D[di + j]!;
    }
  }
  return out;
}

/** The dense form of a CSR matrix (tests, small inputs). */
export function csrToDense(s: CsrMatrix): Matrix {
  const m = zeros(s.rows, s.cols);
  for (let i = 0; i < s.rows; i++) {
    for (let e = s.indptr[i]!; e < s.indptr[i + 1]!; e++) m.data[i * s.cols + s.indices[e]!] = s.values[e]!;
  }
  return m;
}

/** Scale every stored value of each row so that the row has unit L2 norm, in place. */
export function csrNormaliseRows(s: CsrMatrix): CsrMatrix {
  for (let i = 0; i < s.rows; i++) {
    let sq = 0;
    for (let e = s.indptr[i]!; e < s.indptr[i + 1]!; e++) sq += s.values[e]! * s.values[e]!;
    if (sq === 0) continue;
    const inv = 1 / Math.sqrt(sq);
    for (let e = s.indptr[i]!; e < s.indptr[i + 1]!; e++) s.values[e] = s.values[e]! * inv;
  }
  return s;
}

/** The CSR form of a dense matrix, keeping only nonzeros (tests; dense inputs to the SVD). */
export function csrFromDense(m: Matrix): CsrMatrix {
  let nnz = 0;
  for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0) nnz++;
  const indptr = new Int32Array(m.rows + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let o = 0;
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const v = m.data[i * m.cols + j]!;
      if (v !== 0) {
        indices[o] = j;
        values[o++] = v;
      }
    }
    indptr[i + 1] = o;
  }
  return { rows: m.rows, cols: m.cols, indptr, indices, values };
}

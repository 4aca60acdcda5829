/**
 * Co-interaction item embeddings: items bought near each other in the same users' sequences
 * get nearby vectors. Text alone cannot tell that a shampoo and its conditioner belong
 * together, or that two unrelated-sounding items share an audience; co-occurrence can.
 *
 * Recipe (Levy, Goldberg & Dagan, TACL 2015, "Improving distributional similarity"):
 *   counts c_ij of j within `window` positions of i (weighted 1/distance, as GloVe does), from
 *   the TRAIN split only — using valid/test targets here would leak them into the SIDs that
 *   the re-ranker later sees;
 *   PPMI_ij = max(0, ln(c_ij / (c_i · P_α(j)))) with context smoothing P_α(j) ∝ c_j^α, α = 0.75,
 *   which stops rare items from getting huge PMI from a single co-occurrence;
 *   truncated SVD, item vectors U·Σ^½ (the symmetric weighting they found best).
 *
 * Items that never occur in the train split get a zero row; the report counts them, and the
 * text embedding is what places them.
 */
import { type CsrMatrix, type Matrix, csrFromRowMaps, zeros } from "./matrix.js";
import { randomizedSvd, scaleColumns } from "./svd.js";

export interface CoocOptions {
  /** Output dimension. Default 32. */
  dim?: number;
  /** Pairs up to this many positions apart count. Default 3. */
  window?: number;
  /** Weight a pair by 1/distance rather than 1. Default true. */
  distanceWeighting?: boolean;
  /** Context-distribution smoothing exponent. Default 0.75. */
  alpha?: number;
  powerIterations?: number;
  seed?: number;
}

export interface CoocEmbeddings {
  embeddings: Matrix;
  /** Items with at least one co-occurrence (the rest have zero rows). */
  coveredItems: number;
  /** Distinct co-occurring item pairs (nonzeros of the count matrix / 2). */
  pairs: number;
  singularValues: Float64Array;
}

/** Symmetric item×item co-occurrence counts within `window` positions of each user sequence. */
export function cooccurrenceCounts(
  sequences: readonly (readonly number[])[],
  nItems: number,
  window = 3,
  distanceWeighting = true,
): CsrMatrix {
  const rows: Map<number, number>[] = Array.from({ length: nItems }, () => new Map());
  const add = (i: number, j: number, w: number) => rows[i]!.set(j, (rows[i]!.get(j) ?? 0) + w);
  for (const seq of sequences) {
    for (let p = 0; p < seq.length; p++) {
      const i = seq[p]!;
      if (!(i >= 0 && i < nItems)) throw new Error(`co-occurrence: item index ${i} out of range [0, ${nItems})`);
      for (let q = p + 1; q <= p + window && q < seq.length; q++) {
        const j = seq[q]!;
        if (j === i) continue; // a repeat purchase says nothing about item–item relatedness
        const w = distanceWeighting ? 1 / (q - p) : 1;
        add(i, j, w);
        add(j, i, w);
      }
    }
  }
  return csrFromRowMaps(rows, nItems);
}

/** Positive PMI with context smoothing, keeping the sparsity pattern's positive entries. */
export function ppmi(counts: CsrMatrix, alpha = 0.75): CsrMatrix {
  const rowSum = new Float64Array(counts.rows);
  const colSum = new Float64Array(counts.cols);
  for (let i = 0; i < counts.rows; i++) {
    for (let e = counts.indptr[i]!; e < counts.indptr[i + 1]!; e++) {
      rowSum[i] += counts.values[e]!;
      colSum[counts.indices[e]!] += counts.values[e]!;
    }
  }
  let smoothedTotal = 0;
  for (let j = 0; j < counts.cols; j++) smoothedTotal += Math.pow(colSum[j]!, alpha);
  const rows = Array.from({ length: counts.rows }, (_, i) => {
    const r = new Map<number, number>();
    for (let e = counts.indptr[i]!; e < counts.indptr[i + 1]!; e++) {
      const j = counts.indices[e]!;
      const pj = Math.pow(colSum[j]!, alpha) / smoothedTotal;
      const v = Math.log(counts.values[e]! / (rowSum[i]! * pj));
      if (v > 0) r.set(j, v);
    }
    return r;
  });
  return csrFromRowMaps(rows, counts.cols);
}

/** Co-interaction embeddings for items [0, nItems) from the train sequences. */
export function coocEmbeddings(
  trainSequences: readonly (readonly number[])[],
  nItems: number,
  opts: CoocOptions = {},
): CoocEmbeddings {
  const { dim = 32, window = 3, distanceWeighting = true, alpha = 0.75, powerIterations = 4, seed = 0 } = opts;
  const counts = cooccurrenceCounts(trainSequences, nItems, window, distanceWeighting);
  let coveredItems = 0;
  for (let i = 0; i < nItems; i++) if (counts.indptr[i + 1]! > counts.indptr[i]!) coveredItems++;
  const pairs = counts.indices.length / 2;
  const m = ppmi(counts, alpha);
  if (m.indices.length === 0) {
    return { embeddings: zeros(nItems, 0), coveredItems, pairs, singularValues: new Float64Array(0) };
  }
  const { U, S } = randomizedSvd(m, dim, { powerIterations, seed });
  return { embeddings: scaleColumns(U, S, 0.5), coveredItems, pairs, singularValues: S };
}

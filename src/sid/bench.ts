/**
 * Benchmark: encoding many rows with trained RQ-KMeans codebooks (assignment only).
 *
 * The question it answers: can a catalogue of a million items be (re-)encoded with trained
 * codebooks in bounded memory and reasonable time? Codebooks are trained on a sample of a
 * synthetic Gaussian mixture; then `rows` rows are encoded in chunks. By default the rows are
 * generated chunk by chunk, so memory stays O(chunk) — what a streaming reader of an
 * embeddings file would do; with `materialise` the whole input matrix is allocated first
 * (rows × dim × 4 bytes) and encoded in one call, which chunks internally.
 *
 * Timing covers encoding only (not data generation, not training). Peak RSS is the process's
 * high-water mark (`process.resourceUsage().maxRSS`), so run each configuration in its own
 * process (`gr2 sid bench-encode …`), as the CLI does.
 */
import { type Matrix, zeros } from "./matrix.js";
import { Rng } from "./rng.js";
import { RqKMeans } from "./rqkmeans.js";

export interface EncodeBenchOptions {
  rows?: number;
  dim?: number;
  levels?: number;
  codebookSize?: number;
  randomLastLevels?: number;
  /** Rows per generated chunk (and per encode call when streaming). Default 65,536. */
  chunkRows?: number;
  /** Rows used to train the codebooks. Default 20,000. */
  trainRows?: number;
  materialise?: boolean;
  seed?: number;
}

export interface EncodeBenchResult {
  rows: number;
  dim: number;
  levels: number;
  codebook_size: number;
  random_last_levels: number;
  materialise: boolean;
  chunk_rows: number;
  train_seconds: number;
  encode_seconds: number;
  rows_per_second: number;
  /** Multiply-adds of the distance products per second (2 flops each), for comparison with matmul peaks. */
  gflops: number;
  peak_rss_mb: number;
  /** Distinct level-0 codes seen (a sanity check that encoding did something). */
  level0_codes_used: number;
}

/** A seeded Gaussian mixture generator (64 centres), producing rows [start, start + n). */
function mixture(dim: number, seed: number): (out: Matrix) => void {
  const rng = new Rng(seed);
  const centres = zeros(64, dim);
  for (let i = 0; i < centres.data.length; i++) centres.data[i] = rng.normal();
  return (out) => {
    for (let i = 0; i < out.rows; i++) {
      const c = rng.int(64);
      for (let j = 0; j < dim; j++) out.data[i * dim + j] = centres.data[c * dim + j]! + 0.5 * rng.normal();
    }
  };
}

export function benchEncode(opts: EncodeBenchOptions = {}): EncodeBenchResult {
  const {
    rows = 1_000_000, dim = 64, levels = 4, codebookSize = 256, randomLastLevels = 1, chunkRows = 65_536,
    trainRows = 20_000, materialise = false, seed = 0,
  } = opts;
  const gen = mixture(dim, seed);
  const train = zeros(trainRows, dim);
  gen(train);
  let t0 = performance.now();
  const { model } = new RqKMeans({ levels, codebookSize, randomLastLevels, seed, balanced: false }).fit(train);
  const trainSeconds = (performance.now() - t0) / 1000;

  let encodeMs = 0;
  const seen = new Uint8Array(codebookSize);
  const tally = (codes: Int32Array) => {
    for (let i = 0; i < codes.length; i += levels) seen[codes[i]!] = 1;
  };
  if (materialise) {
    const x = zeros(rows, dim);
    for (let start = 0; start < rows; start += chunkRows) {
      const end = Math.min(rows, start + chunkRows);
      gen({ rows: end - start, cols: dim, data: x.data.subarray(start * dim, end * dim) });
    }
    t0 = performance.now();
    tally(model.encode(x).codes);
    encodeMs = performance.now() - t0;
  } else {
    const chunk = zeros(chunkRows, dim);
    for (let start = 0; start < rows; start += chunkRows) {
      const n = Math.min(chunkRows, rows - start);
      const x = { rows: n, cols: dim, data: chunk.data.subarray(0, n * dim) };
      gen(x);
      t0 = performance.now();
      const codes = model.encode(x, { rowOffset: start }).codes;
      encodeMs += performance.now() - t0;
      tally(codes);
    }
  }
  const distanceLevels = levels - randomLastLevels;
  const encodeSeconds = encodeMs / 1000;
  return {
    rows, dim, levels, codebook_size: codebookSize, random_last_levels: randomLastLevels, materialise, chunk_rows: chunkRows,
    train_seconds: round(trainSeconds), encode_seconds: round(encodeSeconds),
    rows_per_second: Math.round(rows / encodeSeconds),
    gflops: round((2 * rows * codebookSize * dim * distanceLevels) / encodeSeconds / 1e9),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    level0_codes_used: seen.reduce((a, b) => a + b, 0),
  };
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

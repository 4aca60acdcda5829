/**
 * The contract between SID building and whatever turns embeddings into code tuples.
 *
 * RQ-KMeans (rqkmeans.ts) is the first implementation; an RQ-VAE trained on the libtorch
 * engine will be the second. Everything downstream — collision resolution, the health
 * report, the SID map, the CLI — sees only these types, so adding a quantiser means writing
 * one class and registering it in `build.ts`.
 */
import type { Matrix } from "./matrix.js";

/** One tuple of `levels` codes per item, row-major (`codes[i * levels + l]`), codes in [0, codebookSize). */
export interface CodeTable {
  n: number;
  levels: number;
  codebookSize: number;
  codes: Int32Array;
}

/** A trained quantiser: maps embeddings to code tuples and back. */
export interface QuantiserModel {
  readonly method: string;
  readonly levels: number;
  readonly codebookSize: number;
  /** Embedding dimension it was trained on. */
  readonly dim: number;
  /**
   * Code tuples for the rows of X. Must be deterministic, and must not depend on how a large
   * input is split into calls: `rowOffset` is the global index of X's first row (the random
   * levels of RQ-KMeans derive their codes from it).
   */
  encode(x: Matrix, opts?: { rowOffset?: number }): CodeTable;
  /** The reconstruction x̂ of each tuple (used for the reconstruction-error report). */
  decode(codes: CodeTable): Matrix;
  /**
   * Codes at `level` for vector x, best first, given the codes already chosen above it.
   * Collision resolution uses it to move a duplicate to the nearest free code in embedding
   * space; return null where there is no meaningful order (e.g. random levels).
   */
  rankCodes?(x: Float32Array, prefix: ArrayLike<number>, level: number): Int32Array | null;
  /** Named float32 tensors + string metadata, written to `codebooks.safetensors`. */
  tensors(): { tensors: Record<string, { shape: number[]; data: Float32Array }>; metadata: Record<string, string> };
}

export interface QuantiserFit {
  model: QuantiserModel;
  /** The codes of the training rows, as fitted (before collision resolution). */
  codes: CodeTable;
  /** Per level: mean squared residual norm after that level (level 0 = after the first codebook). */
  residualMse: number[];
  iterations: number[];
}

/** A quantiser family; options are bound at construction so `fit` has one shape for all. */
export interface Quantiser {
  readonly method: string;
  fit(x: Matrix): QuantiserFit | Promise<QuantiserFit>;
}

/** An all-zero code table. */
export function codeTable(n: number, levels: number, codebookSize: number): CodeTable {
  if (!(levels >= 1 && codebookSize >= 1)) throw new Error(`invalid code table: ${levels} levels × ${codebookSize} codes`);
  return { n, levels, codebookSize, codes: new Int32Array(n * levels) };
}

/** Item i's code tuple (a view). */
export function codesOf(t: CodeTable, i: number): Int32Array {
  return t.codes.subarray(i * t.levels, (i + 1) * t.levels);
}

/** A deep copy. */
export function cloneCodeTable(t: CodeTable): CodeTable {
  return { ...t, codes: Int32Array.from(t.codes) };
}

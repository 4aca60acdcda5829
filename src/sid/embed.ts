/**
 * Combining item embeddings from several sources (text, co-interaction, remote model, file).
 *
 * Each source is L2-normalised per row before concatenation so that no source wins just
 * because its vectors are longer (U·Σ scales with the corpus; remote models return unit or
 * arbitrary norms); the weight then says how much each source counts: with unit rows, the
 * squared distance between two concatenated vectors is Σ_s w_s² · ‖a_s − b_s‖².
 */
import { type Matrix, normaliseRows, zeros, rowSqNorms } from "./matrix.js";

export interface EmbeddingPart {
  name: string;
  /** items × d_s, rows in catalogue order. */
  matrix: Matrix;
  /** Default 1. */
  weight?: number;
}

export interface CombinedEmbeddings {
  matrix: Matrix;
  parts: { name: string; dim: number; weight: number; offset: number; zeroRows: number }[];
}

/** Normalise each part's rows, scale by its weight, and concatenate the columns. */
export function combineEmbeddings(parts: readonly EmbeddingPart[]): CombinedEmbeddings {
  if (parts.length === 0) throw new Error("combineEmbeddings: no embedding sources given");
  const rows = parts[0]!.matrix.rows;
  for (const p of parts) {
    if (p.matrix.rows !== rows) {
      throw new Error(`combineEmbeddings: source "${p.name}" has ${p.matrix.rows} rows, "${parts[0]!.name}" has ${rows}`);
    }
    const w = p.weight ?? 1;
    if (!(Number.isFinite(w) && w >= 0)) throw new Error(`combineEmbeddings: source "${p.name}" has invalid weight ${w}`);
  }
  const cols = parts.reduce((s, p) => s + p.matrix.cols, 0);
  const out = zeros(rows, cols);
  const info: CombinedEmbeddings["parts"] = [];
  let offset = 0;
  for (const p of parts) {
    const w = p.weight ?? 1;
    const d = p.matrix.cols;
    const unit = normaliseRows({ rows, cols: d, data: Float32Array.from(p.matrix.data) });
    const norms = rowSqNorms(unit);
    let zeroRows = 0;
    for (let i = 0; i < rows; i++) {
      if (norms[i] === 0) zeroRows++;
      for (let j = 0; j < d; j++) out.data[i * cols + offset + j] = w * unit.data[i * d + j]!;
    }
    info.push({ name: p.name, dim: d, weight: w, offset, zeroRows });
    offset += d;
  }
  return { matrix: out, parts: info };
}

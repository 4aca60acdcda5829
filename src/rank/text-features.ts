/**
 * Item text as dense features for the non-LLM re-ranker: TF-IDF + truncated SVD over the
 * catalogue's item lines (title | brand | category | price), the same text GR2 sees, through
 * the semantic-ID builder's embedding code (src/sid/embed-tfidf.ts). Rows are L2-normalised so
 * every item's feature vector has the same scale (items without known words get zeros).
 */
import { itemText } from "../data/text.js";
import type { Item } from "../data/types.js";
import { tfidfEmbeddings } from "../sid/embed-tfidf.js";

export interface TextFeatures {
  /** Columns (may be below the requested dimension for a tiny vocabulary). */
  dim: number;
  /** items × dim, row-major, catalogue order. */
  data: Float32Array;
}

export function itemTextFeatures(items: readonly Item[], { dim = 64, seed = 0 } = {}): TextFeatures {
  const { embeddings } = tfidfEmbeddings(items.map(itemText), { dim, seed });
  const { rows, cols } = embeddings;
  const data = Float32Array.from(embeddings.data);
  for (let i = 0; i < rows; i++) {
    const row = data.subarray(i * cols, (i + 1) * cols);
    const norm = Math.hypot(...row);
    if (norm > 0) for (let j = 0; j < cols; j++) row[j]! /= norm;
  }
  return { dim: cols, data };
}

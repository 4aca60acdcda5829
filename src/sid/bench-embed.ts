/**
 * Benchmark: embedding a catalogue's item texts with USE-Lite (embed-use.ts) beside TF-IDF+SVD
 * (embed-tfidf.ts), in one process on the same texts, so the two times are comparable.
 *
 * TF-IDF runs first: peak RSS is the process's high-water mark, so the figure read after
 * TF-IDF is TF-IDF's (plus the catalogue), and the one read after USE-Lite is the larger of
 * the two. USE-Lite's time includes loading the model (shards → engine tensors) and
 * tokenizing; no cache is read or written, so it is the cost of a first build.
 */
import { getNumThreads } from "../torch/runtime.js";
import { tfidfEmbeddings } from "./embed-tfidf.js";
import { UseLiteModel } from "./embed-use.js";
import { defaultEncoderThreads } from "./use-lite/encoder.js";

export interface EmbedBenchOptions {
  /** Padded tokens per encoder batch (embed-use.ts). */
  batchTokens?: number;
  /** TF-IDF dimension. Default 64, as `gr2 sid build`. */
  tfidfDim?: number;
  seed?: number;
}

export interface EmbedBenchResult {
  items: number;
  distinct_texts: number;
  /** libtorch intra-op threads of the process (TF-IDF is plain JS) and of the encoder. */
  threads: number;
  encoder_threads: number;
  tfidf: { seconds: number; dim: number; vocabulary: number; peak_rss_mb: number };
  use_lite: {
    seconds: number;
    load_seconds: number;
    tokenize_seconds: number;
    encode_seconds: number;
    dim: number;
    tokens: number;
    padded_tokens: number;
    truncated_texts: number;
    batches: number;
    texts_per_second: number;
    tokens_per_second: number;
    peak_rss_mb: number;
  };
  /** USE-Lite seconds / TF-IDF seconds. */
  ratio: number;
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function benchEmbed(texts: readonly string[], o: EmbedBenchOptions = {}): Promise<EmbedBenchResult> {
  let t0 = performance.now();
  const tf = tfidfEmbeddings(texts, { dim: o.tfidfDim ?? 64, seed: o.seed ?? 0 });
  const tfidfSeconds = (performance.now() - t0) / 1000;
  const tfidfRss = peakRssMb();

  t0 = performance.now();
  const model = await UseLiteModel.load();
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    const r = model.embed(texts, { batchTokens: o.batchTokens });
    const useSeconds = (performance.now() - t0) / 1000;
    return {
      items: texts.length,
      distinct_texts: r.encodedTexts,
      threads: getNumThreads(),
      encoder_threads: defaultEncoderThreads(),
      tfidf: { seconds: round(tfidfSeconds), dim: tf.embeddings.cols, vocabulary: tf.vocabularySize, peak_rss_mb: tfidfRss },
      use_lite: {
        seconds: round(useSeconds),
        load_seconds: round(loadSeconds),
        tokenize_seconds: round(r.seconds.tokenize),
        encode_seconds: round(r.seconds.encode),
        dim: r.embeddings.cols,
        tokens: r.tokens,
        padded_tokens: r.paddedTokens,
        truncated_texts: r.truncatedTexts,
        batches: r.batches,
        texts_per_second: Math.round(texts.length / useSeconds),
        tokens_per_second: Math.round(r.tokens / r.seconds.encode),
        peak_rss_mb: peakRssMb(),
      },
      ratio: round(useSeconds / tfidfSeconds, 1),
    };
  } finally {
    model.dispose();
  }
}

/**
 * The compressor probe: the context compressor trained by RL at each compression weight α on a
 * run's learning lists, and measured on its held-out valid lists beside two fixed rules (keep
 * the last three items; keep every item, rewritten). The offline judge's score against the
 * share of history tokens kept is the trade-off `--compress-alpha` picks from, found in
 * seconds, before a re-ranker trains on compressed prompts.
 */
import { initialCompressor, COMPRESSOR_FEATURES, type CompressorWeights } from "../prompt/compress.js";
import type { CandidateList } from "../rank/candidates.js";
import { DEFAULT_COMPRESSION_REWARD } from "../reward/compress.js";
import { COMPRESS_DEFAULTS, measureCompressor, trainCompressor, type CompressEnv, type CompressionSummary } from "../train/compress.js";

export interface CompressProbeRow extends CompressionSummary {
  /** "keep last 3", "keep all", or "rl α=A". */
  policy: string;
  weights: CompressorWeights;
}

export interface CompressProbeOptions {
  alphas: readonly number[];
  steps: number;
  maxHistory: number;
  seed: number;
  /** Folder for each α's RL checkpoints and metrics (a subfolder per α). */
  workDir: string;
}

export async function compressProbe(env: CompressEnv, learn: readonly CandidateList[], heldOut: readonly CandidateList[], o: CompressProbeOptions): Promise<CompressProbeRow[]> {
  const keepAll: CompressorWeights = { features: [...COMPRESSOR_FEATURES], weights: COMPRESSOR_FEATURES.map((f) => (f === "bias" ? 10 : 0)) };
  const measure = async (policy: string, weights: CompressorWeights, alpha = DEFAULT_COMPRESSION_REWARD.alpha) => ({
    policy,
    weights,
    ...(await measureCompressor(weights, heldOut, env, { maxHistory: o.maxHistory, reward: { ...DEFAULT_COMPRESSION_REWARD, alpha } })),
  });
  const rows: CompressProbeRow[] = [await measure("keep last 3", initialCompressor()), await measure("keep all", keepAll)];
  for (const alpha of o.alphas) {
    const cfg = { ...COMPRESS_DEFAULTS, steps: o.steps, reward: { ...DEFAULT_COMPRESSION_REWARD, alpha }, maxHistory: o.maxHistory, seed: o.seed };
    const { weights } = await trainCompressor(initialCompressor(), learn, `${o.workDir}/alpha-${alpha}`, cfg, env, { label: `compress α=${alpha}`, resume: false });
    rows.push(await measure(`rl α=${alpha}`, weights, alpha));
  }
  return rows;
}

/**
 * The pipeline's `compress` stage (technical report §5.1): trains the context compressor by RL
 * on the learning lists with the offline evidence judge, then measures its mode on the held-out
 * valid lists (judged) and the test lists (tokens: the history section full against
 * compressed, with the re-ranker's tokenizer). Writes compress/compressor.json; a finished
 * stage is read back, an interrupted one resumes from its checkpoint.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { initialCompressor, parseCompressorWeights, type CompressorWeights } from "../prompt/compress.js";
import type { PromptContext, PromptLayout } from "../prompt/rerank-prompt.js";
import type { CandidateList } from "../rank/candidates.js";
import type { EvidenceScorer } from "../rank/evidence/scorer.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { evidenceCompressEnv, measureCompressor, trainCompressor, type CompressionSummary, type CompressTrainConfig } from "../train/compress.js";
import { readManifest, recordStage } from "../train/run.js";
import { writeJsonAtomic } from "../util/atomic.js";

export interface CompressStageOptions {
  runDir: string;
  context: Pick<PromptContext, "items" | "sidOf">;
  /** The reasoning stages' layout: the compressor's reward counts the history tokens it shows. */
  layout: PromptLayout;
  scorer: EvidenceScorer;
  tokenizer: TextTokenizer;
  learnLists: readonly CandidateList[];
  heldOutValid: readonly CandidateList[];
  testLists: readonly CandidateList[];
  maxHistory: number;
  cfg: Omit<CompressTrainConfig, "maxHistory">;
  log: (line: string) => void;
}

/** What the stage records: the offline judge's name, the policy before and after RL on held-out lists, and the test lists' token counts. */
export interface CompressStageMetrics {
  judge: string;
  initial_held_out: CompressionSummary;
  held_out: CompressionSummary;
  test: TokenSummary;
  /** The same lists' history in the direct policy's SIDs-only prompt (when the reasoning layout is another). */
  test_sids?: TokenSummary;
  layout: PromptLayout;
}

type TokenSummary = Pick<CompressionSummary, "lists" | "history_tokens_full" | "history_tokens_compressed" | "token_ratio" | "keep_rate">;
const tokensOf = (s: CompressionSummary): TokenSummary => ({ lists: s.lists, history_tokens_full: s.history_tokens_full, history_tokens_compressed: s.history_tokens_compressed, token_ratio: s.token_ratio, keep_rate: s.keep_rate });

export const compressorPathOf = (runDir: string): string => join(runDir, "compress", "compressor.json");

export async function runCompressStage(o: CompressStageOptions): Promise<CompressorWeights> {
  const path = compressorPathOf(o.runDir);
  if (readManifest(o.runDir).stages.compress?.status === "done" && existsSync(path)) return parseCompressorWeights(JSON.parse(readFileSync(path, "utf8")), path);
  const env = evidenceCompressEnv(o.context, o.layout, o.scorer, o.tokenizer);
  const cfg = { ...o.cfg, maxHistory: o.maxHistory };
  const init = initialCompressor();
  const before = await measureCompressor(init, o.heldOutValid, env, cfg);
  const { weights } = await trainCompressor(init, o.learnLists, join(o.runDir, "compress"), cfg, env, { label: "compress" });
  writeJsonAtomic(path, weights);
  const heldOut = await measureCompressor(weights, o.heldOutValid, env, cfg);
  const test = await measureCompressor(weights, o.testLists, env, cfg);
  const sids = o.layout === "full" ? await measureCompressor(weights, o.testLists, { ...env, layout: "sids" }, cfg) : undefined;
  o.log(`  compressor on ${heldOut.lists} held-out valid lists: judge ${heldOut.judge.toFixed(3)} (keep-last-3 rule: ${before.judge.toFixed(3)}), history tokens (${o.layout} prompt) ${heldOut.history_tokens_compressed.toFixed(0)} of ${heldOut.history_tokens_full.toFixed(0)} (${(100 * heldOut.token_ratio).toFixed(1)}%); test lists ${(100 * test.token_ratio).toFixed(1)}%`);
  recordStage(o.runDir, "compress", {
    status: "done",
    outputs: { compressor: "compress/compressor.json" },
    metrics: { judge: "evidence", layout: o.layout, initial_held_out: before, held_out: heldOut, test: tokensOf(test), ...(sids ? { test_sids: tokensOf(sids) } : {}) } satisfies CompressStageMetrics as unknown as Record<string, unknown>,
    config: { ...cfg, reward: cfg.reward },
  });
  return weights;
}

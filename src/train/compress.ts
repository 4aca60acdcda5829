/**
 * RL for the context compressor (technical report §5.1; the policy is src/prompt/compress.ts,
 * the reward src/reward/compress.ts, the judges src/teacher/compress-judge.ts). One step:
 *
 *   1. rollouts  G compressions of each of `listsPerStep` learning lists, every history item
 *                kept with probability π(keep_j) = σ(w · φ_j);
 *   2. judging   the judge's verdict (s, p, q) on each compression, and its length in tokens
 *                against the full history section's;
 *   3. reward    r = (α·r_comp + (1 − α)·r_judge) · P_ellipsis (Eq. 11);
 *   4. update    group-normalised advantages (GRPO, as DAPO's), and the policy gradient of the
 *                Bernoulli policy, Σ Â · Σ_j (a_j − π_j) φ_j, one Adam step. The policy is
 *                updated once per rollout batch, on-policy, so the clipped ratio of DAPO's loss
 *                is 1 and the clipped objective reduces to this gradient.
 *
 * Lists for a step come from (seed, step); the checkpoint holds the weights, Adam's moments and
 * the step, written atomically, so a resumed run continues the same sequence.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compressedHistory, compressHistory, historyFeatures, keepProbabilities, type CompressorWeights } from "../prompt/compress.js";
import { cappedHistory, compressedView, historyText, itemLine, type PromptContext, type PromptLayout } from "../prompt/rerank-prompt.js";
import { candidateLabel } from "../prompt/output-format.js";
import { withheldFor, type EvidenceSource } from "../rank/evidence/features.js";
import type { CandidateList } from "../rank/candidates.js";
import { compressorReward, compressionReward, judgeReward, DEFAULT_COMPRESSION_REWARD, type CompressionRewardConfig } from "../reward/compress.js";
import { EvidenceJudge, type CompressionJudge, type JudgeRequest } from "../teacher/compress-judge.js";
import type { EvidenceScorer } from "../rank/evidence/scorer.js";
import { writeJsonAtomic } from "../util/atomic.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { Rng, hash32 } from "../util/rng.js";
import { Progress } from "../util/progress.js";
import { groupAdvantages } from "./dapo/loss.js";
import { truncateLog } from "./loop.js";

export interface CompressTrainConfig {
  steps: number;
  listsPerStep: number;
  /** G: compressions sampled per list. */
  groupSize: number;
  lr: number;
  reward: CompressionRewardConfig;
  /** Most recent history items the prompt shows (the prompt's `maxHistory`). */
  maxHistory: number;
  checkpointEvery: number;
  seed: number;
}

export const COMPRESS_DEFAULTS: Omit<CompressTrainConfig, "maxHistory"> = { steps: 60, listsPerStep: 64, groupSize: 8, lr: 0.05, reward: DEFAULT_COMPRESSION_REWARD, checkpointEvery: 10, seed: 0 };

export interface CompressStepLog {
  step: number;
  reward_mean: number;
  reward_std: number;
  /** Mean r_judge and r_comp over the step's rollouts. */
  judge: number;
  compression: number;
  /** Share of history items kept, and the compressed section's tokens over the full one's. */
  keep_rate: number;
  token_ratio: number;
  weights: number[];
}

/** Measures texts in tokens (the re-ranker's tokenizer); called with batches, cached here. */
export type TokenCounter = (texts: readonly string[]) => Promise<number[]>;

/** The tokens of each text under the re-ranker's tokenizer. */
export function tokenCounter(tokenizer: TextTokenizer): TokenCounter {
  return async (texts) => (await tokenizer.encodeBatch([...texts])).map((ids) => ids.length);
}

/** A run's compressor setting with the offline evidence judge (the pipeline's `compress` stage and `gr2 eval compress`). */
export function evidenceCompressEnv(context: CompressEnv["context"], layout: PromptLayout, scorer: EvidenceScorer, tokenizer: TextTokenizer): CompressEnv {
  return { context, layout, source: scorer.source, judge: new EvidenceJudge(scorer), countTokens: tokenCounter(tokenizer) };
}

/** What the compressor is trained and measured with: the prompt context and layout, the judge and a token counter. */
export interface CompressEnv {
  context: Pick<PromptContext, "items" | "sidOf">;
  /** The layout the re-ranker's prompts use: the history is measured as that layout shows it (default `full`). */
  layout?: PromptLayout;
  source: EvidenceSource;
  judge: CompressionJudge;
  countTokens: TokenCounter;
}

interface Rollout {
  list: CandidateList;
  history: number[];
  features: Float64Array[];
  p: number[];
  keep: boolean[];
}

/** A list's history section, full and compressed to `kept`, and its candidates as the prompt lists them. */
export function sectionTexts(env: Pick<CompressEnv, "context" | "layout">, list: CandidateList, history: readonly number[], kept: readonly number[]): { full: string; compressed: string; candidates: string } {
  const { context } = env;
  const omitted = list.history.length - history.length;
  const full = historyText(context, { history, historyOmitted: omitted, titleWords: null, compressed: null }, env.layout);
  const shown = compressedView(history, compressedHistory(context.items, history, kept));
  const compressed = historyText(context, { ...shown, historyOmitted: list.history.length - shown.history.length, titleWords: null }, env.layout);
  const candidates = list.candidates.map((c, j) => `- ${itemLine(context.items[c]!, context.sidOf(c), null, candidateLabel(j))}`).join("\n");
  return { full, compressed, candidates };
}

class CachedCounter {
  private readonly cache = new Map<string, number>();
  constructor(private readonly count: TokenCounter) {}
  async lengths(texts: readonly string[]): Promise<number[]> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
    if (missing.length > 0) (await this.count(missing)).forEach((n, i) => this.cache.set(missing[i]!, n));
    return texts.map((t) => this.cache.get(t)!);
  }
}

/** Judges and rewards a batch of compressions (kept positions per list); the rewards and their terms. */
async function scoreCompressions(env: CompressEnv, counter: CachedCounter, items: readonly { list: CandidateList; history: number[]; kept: number[] }[], reward: CompressionRewardConfig) {
  const texts = items.map((x) => sectionTexts(env, x.list, x.history, x.kept));
  const requests: JudgeRequest[] = items.map((x, i) => ({ ...x, fullText: texts[i]!.full, compressedText: texts[i]!.compressed, candidatesText: texts[i]!.candidates }));
  const verdicts = await env.judge.judge(requests);
  const lenFull = await counter.lengths(texts.map((t) => t.full));
  const lenComp = await counter.lengths(texts.map((t) => t.compressed));
  return items.map((_, i) => {
    const o = { verdict: verdicts[i]!, lenCompressed: lenComp[i]!, lenOriginal: lenFull[i]!, compressedText: texts[i]!.compressed, originalText: texts[i]!.full };
    return { reward: compressorReward(o, reward), judge: judgeReward(o.verdict), compression: compressionReward(o.lenCompressed, o.lenOriginal), ratio: o.lenOriginal > 0 ? o.lenCompressed / o.lenOriginal : 1, lenFull: o.lenOriginal, lenCompressed: o.lenCompressed };
  });
}


export async function trainCompressor(init: CompressorWeights, lists: readonly CandidateList[], runDir: string, cfg: CompressTrainConfig, env: CompressEnv, o: { label?: string; resume?: boolean } = {}): Promise<{ weights: CompressorWeights; logs: CompressStepLog[] }> {
  const usable = lists.filter((l) => l.history.length > 0);
  if (usable.length === 0) throw new Error("context compressor: no learning list has a history to compress");
  mkdirSync(runDir, { recursive: true });
  const ckptPath = join(runDir, "checkpoint.json");
  const logPath = join(runDir, "metrics.jsonl");
  const w = [...init.weights];
  const adam = { m: w.map(() => 0), v: w.map(() => 0), t: 0 };
  let start = 0;
  if (o.resume !== false && existsSync(ckptPath)) {
    const c = JSON.parse(readFileSync(ckptPath, "utf8")) as { step: number; weights: number[]; m: number[]; v: number[]; t: number };
    start = c.step;
    w.splice(0, w.length, ...c.weights);
    Object.assign(adam, { m: c.m, v: c.v, t: c.t });
  }
  truncateLog(logPath, start);
  const counter = new CachedCounter(env.countTokens);
  const features = new Map<CandidateList, Float64Array[]>();
  const featuresOf = (l: CandidateList) => {
    let f = features.get(l);
    if (!f) features.set(l, (f = historyFeatures(env.source, cappedHistory(l.history, cfg.maxHistory), l.candidates, withheldFor(env.source, l))));
    return f;
  };
  const progress = new Progress(o.label ?? "compress", cfg.steps);
  const logs: CompressStepLog[] = [];
  for (let step = start; step < cfg.steps; step++) {
    const rng = new Rng(hash32(cfg.seed, step, 0x636d));
    const weights: CompressorWeights = { features: init.features, weights: w };
    const rollouts: Rollout[] = [];
    for (let i = 0; i < cfg.listsPerStep; i++) {
      const list = usable[hash32(cfg.seed, step, i) % usable.length]!;
      const f = featuresOf(list);
      const p = keepProbabilities(weights, f);
      for (let g = 0; g < cfg.groupSize; g++) rollouts.push({ list, history: cappedHistory(list.history, cfg.maxHistory), features: f, p, keep: p.map((x) => rng.next() < x) });
    }
    const scored = await scoreCompressions(env, counter, rollouts.map((r) => ({ list: r.list, history: r.history, kept: r.keep.flatMap((k, j) => (k ? [j] : [])) })), cfg.reward);
    const rewards = scored.map((s) => s.reward);
    const A = groupAdvantages(rewards, cfg.groupSize);
    // ∇_w E[r] ≈ mean over rollouts of Â · Σ_j (a_j − π_j) φ_j  (the Bernoulli score function).
    const grad = w.map(() => 0);
    rollouts.forEach((r, n) => {
      if (A[n] === 0) return;
      r.features.forEach((f, j) => {
        const d = A[n]! * ((r.keep[j] ? 1 : 0) - r.p[j]!);
        for (let k = 0; k < f.length; k++) grad[k]! += (d * f[k]!) / rollouts.length;
      });
    });
    adamAscent(w, grad, adam, cfg.lr);
    const mean = mean0(rewards);
    const entry: CompressStepLog = {
      step: step + 1,
      reward_mean: mean,
      reward_std: Math.sqrt(mean0(rewards.map((x) => (x - mean) ** 2))),
      judge: mean0(scored.map((s) => s.judge)),
      compression: mean0(scored.map((s) => s.compression)),
      keep_rate: mean0(rollouts.map((r) => mean0(r.keep.map(Number)))),
      token_ratio: mean0(scored.map((s) => s.ratio)),
      weights: [...w],
    };
    logs.push(entry);
    appendFileSync(logPath, JSON.stringify(entry) + "\n");
    progress.update(step + 1, `reward ${mean.toFixed(3)} judge ${entry.judge.toFixed(3)} tokens ${(100 * entry.token_ratio).toFixed(0)}%`);
    if ((step + 1) % cfg.checkpointEvery === 0 || step + 1 === cfg.steps) writeJsonAtomic(ckptPath, { step: step + 1, weights: w, m: adam.m, v: adam.v, t: adam.t });
  }
  return { weights: { features: init.features, weights: [...w] }, logs };
}

function adamAscent(w: number[], g: readonly number[], s: { m: number[]; v: number[]; t: number }, lr: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): void {
  s.t++;
  for (let k = 0; k < w.length; k++) {
    s.m[k] = b1 * s.m[k]! + (1 - b1) * g[k]!;
    s.v[k] = b2 * s.v[k]! + (1 - b2) * g[k]! ** 2;
    const mHat = s.m[k]! / (1 - b1 ** s.t);
    const vHat = s.v[k]! / (1 - b2 ** s.t);
    w[k]! += (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

export interface CompressionSummary {
  lists: number;
  /** Mean history-section tokens, full and compressed, and their ratio (of the means). */
  history_tokens_full: number;
  history_tokens_compressed: number;
  token_ratio: number;
  keep_rate: number;
  /** Mean reward terms of the policy's mode on these lists. */
  judge: number;
  reward: number;
}

/** The policy's mode on `lists` (as prompts use it), judged and measured. */
export async function measureCompressor(weights: CompressorWeights, lists: readonly CandidateList[], env: CompressEnv, o: { maxHistory: number; reward?: CompressionRewardConfig }): Promise<CompressionSummary> {
  const counter = new CachedCounter(env.countTokens);
  const items = lists.filter((l) => l.history.length > 0).map((list) => {
    // The same mode the prompts keep (compressHistory), on the same capped history.
    const history = cappedHistory(list.history, o.maxHistory);
    return { list, history, kept: compressHistory(weights, env.source, history, list.candidates, withheldFor(env.source, list)).kept };
  });
  const scored = await scoreCompressions(env, counter, items, o.reward ?? DEFAULT_COMPRESSION_REWARD);
  const full = mean0(scored.map((s) => s.lenFull));
  const comp = mean0(scored.map((s) => s.lenCompressed));
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  return {
    lists: items.length,
    history_tokens_full: r4(full),
    history_tokens_compressed: r4(comp),
    token_ratio: r4(full > 0 ? comp / full : 1),
    keep_rate: r4(mean0(items.map((x) => x.kept.length / x.history.length))),
    judge: r4(mean0(scored.map((s) => s.judge))),
    reward: r4(mean0(scored.map((s) => s.reward))),
  };
}

const mean0 = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The context compressor's reward (technical report §5.1, Eq. 10–11). A judge reads the full
 * context and the compressed one and answers three things: whether the task is still solvable
 * from the compressed one (s ∈ {0, 1}), how much of the information that matters it preserves
 * (p, 1–10) and how good a ranking it allows (q, 1–10).
 *
 *   Eq. 10   r_judge = s · (0.2·p + 0.8·q) / 10                       (in [0, 1])
 *   Eq. 11   r_comp  = max(0, 1 − len_compressed / len_original)
 *            r       = (α·r_comp + (1 − α)·r_judge) · P_ellipsis
 *
 * P_ellipsis guards against the truncation trick, cutting text off with "…" to look short:
 * it is `ellipsisFactor` when the compressed text has more ellipses than the original (an item
 * title may carry one of its own), else 1.
 */

export interface JudgeVerdict {
  /** s: can the ranking still be decided from the compressed context? */
  solvable: 0 | 1;
  /** p: information preservation, 1–10. */
  preservation: number;
  /** q: ranking quality the compressed context allows, 1–10. */
  quality: number;
}

export interface CompressionRewardConfig {
  /** α: the weight of the compression term against the judge's. */
  alpha: number;
  /** P_ellipsis when the compressed text adds ellipses (0 = no reward at all). */
  ellipsisFactor: number;
}

// α = 0.2: on Beauty the offline judge held its level (0.735 against 0.739 for keep-the-last-three) at 16% of the
// history tokens; 0.3 reached 14% at 0.724, 0.15 17% at 0.739 (docs/benchmarks.md).
export const DEFAULT_COMPRESSION_REWARD: CompressionRewardConfig = { alpha: 0.2, ellipsisFactor: 0 };

/** Eq. 10. */
export function judgeReward(v: JudgeVerdict): number {
  return (v.solvable * (0.2 * v.preservation + 0.8 * v.quality)) / 10;
}

/** Eq. 11's compression term. */
export function compressionReward(lenCompressed: number, lenOriginal: number): number {
  return lenOriginal > 0 ? Math.max(0, 1 - lenCompressed / lenOriginal) : 0;
}

const ELLIPSIS = /…|\.\.\./g;

/** P_ellipsis: `factor` when the compressed text has more ellipses than the original, else 1. */
export function ellipsisPenalty(compressedText: string, originalText: string, factor: number): number {
  const count = (t: string) => t.match(ELLIPSIS)?.length ?? 0;
  return count(compressedText) > count(originalText) ? factor : 1;
}

export interface CompressionOutcome {
  verdict: JudgeVerdict;
  /** Tokens of the compressed and the original context (the part the compressor rewrites). */
  lenCompressed: number;
  lenOriginal: number;
  compressedText: string;
  originalText: string;
}

/** Eq. 11: the reward of one compression. */
export function compressorReward(o: CompressionOutcome, c: CompressionRewardConfig = DEFAULT_COMPRESSION_REWARD): number {
  const r = c.alpha * compressionReward(o.lenCompressed, o.lenOriginal) + (1 - c.alpha) * judgeReward(o.verdict);
  return r * ellipsisPenalty(o.compressedText, o.originalText, c.ellipsisFactor);
}

/** A verdict's scores from measured agreement and quality in [0, 1] (the offline judges' scale → the report's 1–10). */
export function verdictOf(solvable: boolean, preservation01: number, quality01: number): JudgeVerdict {
  const scale = (x: number) => 1 + 9 * Math.min(1, Math.max(0, x));
  return { solvable: solvable ? 1 : 0, preservation: scale(preservation01), quality: scale(quality01) };
}

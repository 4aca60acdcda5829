/**
 * Re-ranking candidate lists with a GR2 model, for evaluation: prompt → generate → parse.
 *
 * An output that does not parse to a valid permutation falls back to the incoming order (what
 * a production system would serve) and is counted in `validRate`, so metrics cover every list
 * and the cost of invalid outputs shows in both numbers. `identityRate` is the share of valid
 * outputs equal to the incoming order (the copy hack). Decoding is greedy; `constrained`
 * forces the ranking part to be a valid permutation of the candidates.
 *
 * Constrained decoding also measures what the model does without the constraint, in the same
 * pass: a greedy decode is unchanged by the constraint exactly when, at every step, the raw
 * argmax is a token the constraint allows. Such an output is the unconstrained output, and it
 * is valid (`free`). An output where the constraint overrode the argmax at least once is
 * counted as invalid without it. This is a lower bound on the unconstrained parse rate (a
 * rationale the constraint cut at `maxRationaleTokens` might still have ended validly), and
 * it halves evaluation against decoding twice.
 *
 * For every answer that is not valid without the constraint, `invalidAt` says where it went
 * wrong: the first token the answer grammar does not allow (the constraint's first override,
 * or the first violation of an unconstrained answer) falls in the rationale, in the format's
 * fixed text, in the ranking's first name (SID or letter), or in a later one; `unfinished` answers stopped or
 * ran out of tokens before the ranking was complete. A small model's invalid answers are
 * mostly wrong SIDs in the ranking, and which ones (the chosen item, or the copied rest)
 * decides what to train next.
 */
import type { CandidateList } from "../rank/candidates.js";
import type { DecoderLM } from "../lm/model.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { generate, type LogitConstraint } from "../lm/generate.js";
import { tidy } from "../torch/index.js";
import { stopTokenIds } from "../lm/chat.js";
import type { PromptContext, PromptLayout } from "../prompt/rerank-prompt.js";
import { answerConstraint, padTokenId, prepareEpisode, readAnswer } from "../prompt/episode.js";
import type { AnswerPart, PermutationConstraint } from "../prompt/constraint.js";
import { rankRe } from "../reward/registry.js";
import type { OutputFormat } from "../prompt/output-format.js";
import { Progress } from "../util/progress.js";
import { monitor, type RolloutOutcome } from "../reward/monitors.js";

export interface LlmRerankOptions {
  format: OutputFormat;
  /** Prompt layout (default `full`). */
  layout?: PromptLayout;
  constrained: boolean;
  /** Lists per generate() call. */
  batch: number;
  maxNewTokens: number;
  /** Rationale tokens allowed before the ranking is forced (constrained decoding only; 0 = direct). */
  maxRationaleTokens: number;
  maxPromptTokens: number;
  /** Most recent history items shown (default 20). */
  maxHistory?: number;
  /** The prompts' forward pass (generate()'s `prefill`; default fp32). */
  prefill?: "fp32" | "bf16";
  label?: string;
}

/** Where an answer that is not valid without the constraint went wrong (see the file comment). */
export type InvalidPart = "rationale" | "format" | "ranking_first" | "ranking_rest" | "unfinished";
export const INVALID_PARTS: readonly InvalidPart[] = ["rationale", "format", "ranking_first", "ranking_rest", "unfinished"];

function invalidPart(p: AnswerPart | null): InvalidPart {
  if (p === null) return "unfinished";
  return p.part === "ranking" ? (p.entry === 1 ? "ranking_first" : "ranking_rest") : p.part;
}

export interface LlmRerankResult {
  /** 1-based target position after re-ranking, per list (incoming position when invalid). */
  ranks: Int32Array;
  validRate: number;
  identityRate: number;
  /** Identity outputs among lists whose target is not first (src/reward/monitors.ts). */
  identityRateNonoptimal: number;
  outputs: { text: string; valid: boolean; ranking: number[] | null; free: boolean; invalidAt: InvalidPart | null }[];
  /** Lists whose answer is not valid without the constraint, by where it went wrong. */
  invalidAt: Record<InvalidPart, number>;
  /** Share of outputs the constraint never changed (= valid without it); validRate when unconstrained. */
  freeRate: number;
  seconds: number;
}

export async function rerankWithModel(model: DecoderLM, tokenizer: TextTokenizer, ctx: PromptContext, lists: readonly CandidateList[], o: LlmRerankOptions): Promise<LlmRerankResult> {
  const t0 = performance.now();
  const ranks = new Int32Array(lists.length);
  const outputs: LlmRerankResult["outputs"] = [];
  const outcomes: RolloutOutcome[] = [];
  let freeCount = 0;
  const invalidAt = Object.fromEntries(INVALID_PARTS.map((p) => [p, 0])) as Record<InvalidPart, number>;
  const stop = stopTokenIds(tokenizer);
  const progress = new Progress(o.label ?? "rerank", lists.length);
  for (let start = 0; start < lists.length; start += o.batch) {
    const chunk = lists.slice(start, start + o.batch);
    const episodes = await Promise.all(chunk.map((l) => prepareEpisode(ctx, l, { tokenizer, format: o.format, layout: o.layout, maxHistory: o.maxHistory, maxPromptTokens: o.maxPromptTokens })));
    const perm = o.constrained ? await answerConstraint(tokenizer, o.format, episodes, o.maxRationaleTokens) : null;
    // firstOverride[b]: the first step at which the constraint changed row b's argmax.
    const firstOverride = new Array<number>(chunk.length).fill(Infinity);
    const constraint: LogitConstraint | undefined = perm
      ? (step, generated, logits) => {
          const allowed = perm.constraint(step, generated, logits);
          if (!allowed) return allowed;
          const kept = tidy(() => allowed.gather(1, logits.argmax(-1).unsqueeze(1)).squeeze(1).toArray());
          kept.forEach((ok, b) => {
            if (!ok && firstOverride[b] === Infinity) firstOverride[b] = step;
          });
          return allowed;
        }
      : undefined;
    const out = generate(model, episodes.map((e) => e.ids), {
      maxNewTokens: perm ? Math.max(o.maxNewTokens, perm.maxNewTokens) : o.maxNewTokens,
      temperature: 0,
      stopTokens: stop,
      padToken: padTokenId(tokenizer),
      constraint,
      prefill: o.prefill,
    });
    const answers = out.tokens.map((t, i) => readAnswer(tokenizer, episodes[i]!, t, stop));
    // An unconstrained decode's invalid answers are located with the answer grammar: with a
    // rationale of any length (a long one may still parse), or none for a direct policy.
    let grammar: PermutationConstraint | null = perm;
    if (!grammar && answers.some((a) => !a.order)) {
      grammar = await answerConstraint(tokenizer, o.format, episodes, o.maxRationaleTokens === 0 ? 0 : o.maxNewTokens);
    }
    chunk.forEach((list, i) => {
      const { text, order: ranking } = answers[i]!;
      outcomes.push({ order: ranking, rankPre: list.rankPre });
      ranks[start + i] = rankRe(ranking, list.rankPre) ?? list.rankPre;
      // Steps past the row's end (padding while others finish) do not count.
      const free = Boolean(ranking) && firstOverride[i]! >= out.tokens[i]!.length;
      if (free) freeCount++;
      let wrong: InvalidPart | null = null;
      if (!free && grammar) {
        const tokens = out.tokens[i]!;
        const at = perm ? (firstOverride[i]! < tokens.length ? firstOverride[i]! : null) : grammar.firstViolation(tokens, i);
        wrong = invalidPart(at === null ? null : grammar.partAt(tokens, at, i));
        invalidAt[wrong]++;
      }
      outputs.push({ text, valid: Boolean(ranking), ranking, free, invalidAt: wrong });
    });
    progress.update(Math.min(lists.length, start + o.batch));
  }
  const mon = monitor(outcomes, lists[0]?.candidates.length ?? 0);
  return { ranks, validRate: mon.valid_rate, identityRate: mon.identity_rate, identityRateNonoptimal: mon.identity_rate_nonoptimal, freeRate: freeCount / lists.length, outputs, invalidAt, seconds: (performance.now() - t0) / 1000 };
}

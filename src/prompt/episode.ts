/**
 * One re-ranking episode, the same wherever a model re-ranks a list: DAPO's rollouts
 * (src/train/dapo/stage.ts), evaluation (src/eval/llm-rerank.ts) and serving
 * (src/serve/session.ts). Its steps:
 *
 *   list ──prepareEpisode──▶ prompt rendered for generation, the candidates' names, the shown order
 *        ──answerConstraint─▶ the permutation constraint over a batch of episodes
 *        ──(generate)───────▶ tokens
 *        ──readAnswer───────▶ text, parse, the model's order (incoming indices, best first)
 *        ──rankRe───────────▶ rank_re, the target's place in that order (src/reward/registry.ts)
 *
 * Keeping the steps here means a change of prompt, padding or parsing reaches training,
 * evaluation and serving at once: a model is always trained, measured and served on one episode.
 */
import type { TextTokenizer } from "../lm/tokenizer.js";
import { renderChat, type ChatTemplate } from "../lm/chat.js";
// The pad token is the tokenizer's business; re-exported so the episode's callers find it here.
export { padTokenId } from "../lm/chat.js";
import { buildRerankPrompt, type PromptBudget, type PromptContext, type PromptLayout, type RerankListInput, type RerankPrompt } from "./rerank-prompt.js";
import { parseRerankOutput, type ParseResult } from "./parse-output.js";
import { permutationConstraint, type PermutationConstraint } from "./constraint.js";
import type { OutputFormat } from "./output-format.js";

export interface EpisodeOptions {
  tokenizer: TextTokenizer;
  format: OutputFormat;
  /** Default `full`; `sids` for the direct policy. */
  layout?: PromptLayout;
  /** Most recent history items shown (default 20). */
  maxHistory?: number;
  /** Cut history and titles until the rendered prompt has at most this many tokens. */
  maxPromptTokens?: number;
  /** Budget details beyond the token count (serving: its chat template, no minimum history). */
  budget?: Partial<Omit<PromptBudget, "maxTokens" | "tokenizer">>;
  /** Chat template (default ChatML). */
  template?: ChatTemplate;
  /** Shuffle the shown candidates with this seed (position-bias guard); absent = incoming order. */
  shuffleSeed?: number;
  /** Changes the prompt before it is rendered (serving adds the request's free text). */
  edit?: (prompt: RerankPrompt) => void;
}

/** What a model is given for one list, and what its answer is read against. */
export interface RerankEpisode {
  prompt: RerankPrompt;
  /** The prompt rendered for generation (ends with the assistant header). */
  ids: number[];
  format: OutputFormat;
  /** The candidates' SIDs, incoming order. */
  candidateSids: string[];
  /** How the answer names the candidates (SIDs or letters), incoming order. */
  candidateNames: string[];
  /** Incoming index → position shown in the prompt (identity unless shuffled). */
  shownPosition: number[];
}

/** Builds and renders the prompt of one list. */
export async function prepareEpisode(ctx: PromptContext, list: RerankListInput, o: EpisodeOptions): Promise<RerankEpisode> {
  const prompt = await buildRerankPrompt(ctx, list, {
    format: o.format,
    layout: o.layout,
    maxHistory: o.maxHistory,
    ...(o.maxPromptTokens !== undefined ? { budget: { maxTokens: o.maxPromptTokens, tokenizer: o.tokenizer, ...(o.template ? { template: o.template } : {}), ...o.budget } } : {}),
    ...(o.shuffleSeed !== undefined ? { shuffleSeed: o.shuffleSeed } : {}),
  });
  o.edit?.(prompt);
  const ids = (await renderChat(prompt.messages, o.tokenizer, { addGenerationPrompt: true, ...(o.template ? { template: o.template } : {}) })).ids;
  // shownOrder[j] = incoming index shown at j → shownPosition[incoming] = j.
  const shownPosition = new Array<number>(prompt.shownOrder.length);
  prompt.shownOrder.forEach((up, j) => (shownPosition[up] = j));
  return { prompt, ids, format: prompt.format, candidateSids: prompt.candidateSids, candidateNames: prompt.candidateNames, shownPosition };
}

/**
 * The permutation constraint over a batch of episodes (one row each): a rationale of at most
 * `maxRationaleTokens` tokens (0 = a direct policy's bare ranking), then each candidate once.
 */
export function answerConstraint(
  tokenizer: TextTokenizer,
  format: OutputFormat,
  rows: readonly Pick<RerankEpisode, "candidateNames">[],
  maxRationaleTokens: number,
  stopToken?: number,
): Promise<PermutationConstraint> {
  return permutationConstraint({ tokenizer, format, candidates: rows.map((r) => r.candidateNames), maxRationaleTokens, ...(stopToken !== undefined ? { stopToken } : {}) });
}

export interface EpisodeAnswer {
  /** The answer's text (without the end-of-turn token). */
  text: string;
  parsed: ParseResult;
  /** The model's order (incoming indices, best first), or null when the answer is not a valid permutation. */
  order: number[] | null;
}

/** Reads generated tokens back into the model's order. */
export function readAnswer(
  tokenizer: TextTokenizer,
  episode: Pick<RerankEpisode, "format" | "candidateSids" | "candidateNames">,
  tokens: readonly number[],
  stopTokens: readonly number[] = [],
): EpisodeAnswer {
  const body = tokens.length > 0 && stopTokens.includes(tokens[tokens.length - 1]!) ? tokens.slice(0, -1) : tokens;
  const text = tokenizer.decodeSync([...body], { skipSpecial: true });
  const parsed = parseRerankOutput(text, { format: episode.format, candidateSids: episode.candidateSids, candidateNames: episode.candidateNames });
  return { text, parsed, order: parsed.ok ? parsed.ranking : null };
}

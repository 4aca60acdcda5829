/**
 * Supervised fine-tuning on reasoning traces (GR2's second stage).
 *
 * Each accepted trace becomes one example: the student's prompt (chat-rendered, with the
 * generation prompt) followed by the teacher's answer. The loss covers the answer only, and
 * weighs its two parts differently (paper: reasoning tokens λ_r below ranking tokens λ_o):
 *   rationale  = the format's prefix + rationale + closer                → weight λ_r
 *   ranking    = header + SIDs + closing + end-of-turn token             → weight λ_o
 * The two parts are tokenised separately so the split is exact.
 */
import type { TextTokenizer } from "../lm/tokenizer.js";
import { renderChat, stopTokenIds } from "../lm/chat.js";
import { GRAMMARS, type OutputFormat } from "../prompt/output-format.js";
import type { ChatMessage } from "../lm/chat.js";
import { int64, tensor } from "../torch/index.js";
import { hash32 } from "./corpus.js";
import type { Batch } from "./loop.js";

export interface SftTrace {
  messages: ChatMessage[];
  response: string | null;
  format: OutputFormat;
  accepted: boolean;
}

export interface SftExample {
  ids: number[];
  /** Per position: the token to predict (-100 = none). */
  targets: number[];
  weights: number[];
}

export interface SftWeights {
  lambda_r: number;
  lambda_o: number;
}

export const SFT_WEIGHTS: SftWeights = { lambda_r: 0.5, lambda_o: 1 };

/** Splits an answer into (rationale part, ranking part) at the format's closer. */
export function splitAnswer(response: string, format: OutputFormat): [string, string] {
  const g = GRAMMARS[format];
  const at = response.indexOf(g.closer + g.header, g.prefix.length);
  if (at < 0) throw new Error(`SFT: the answer does not contain the ${format} ranking header ${JSON.stringify(g.closer + g.header)}: ${response.slice(0, 80)}…`);
  return [response.slice(0, at + g.closer.length), response.slice(at + g.closer.length)];
}

export async function sftExample(trace: SftTrace, tokenizer: TextTokenizer, w: SftWeights = SFT_WEIGHTS): Promise<SftExample> {
  if (!trace.response) throw new Error("SFT: trace has no response");
  const prompt = (await renderChat(trace.messages, tokenizer, { addGenerationPrompt: true })).ids;
  const [rationale, ranking] = splitAnswer(trace.response, trace.format);
  const r = await tokenizer.encode(rationale);
  const o = [...(await tokenizer.encode(ranking)), stopTokenIds(tokenizer)[0]!];
  const ids = [...prompt, ...r, ...o];
  // Position t predicts ids[t + 1]; only answer tokens are targets.
  const targets = ids.map((_, t) => (t + 1 >= prompt.length && t + 1 < ids.length ? ids[t + 1]! : -100));
  const weights = ids.map((_, t) => (t + 1 < prompt.length || t + 1 >= ids.length ? 0 : t + 1 < prompt.length + r.length ? w.lambda_r : w.lambda_o));
  return { ids, targets, weights };
}

/** A right-padded batch of examples chosen by (seed, step, micro): a pure function, for exact resume. */
export function sftBatch(examples: readonly SftExample[], o: { batch: number; seed: number; pad: number; device?: string }, step: number, micro: number): Batch {
  const chosen = Array.from({ length: o.batch }, (_, b) => examples[hash32(o.seed, step, micro, b) % examples.length]!);
  const T = Math.max(...chosen.map((e) => e.ids.length));
  const ids: number[] = [];
  const targets: number[] = [];
  const weights: number[] = [];
  for (const e of chosen) {
    const padN = T - e.ids.length;
    ids.push(...e.ids, ...new Array(padN).fill(o.pad));
    targets.push(...e.targets, ...new Array(padN).fill(-100));
    weights.push(...e.weights, ...new Array(padN).fill(0));
  }
  const shape = [o.batch, T];
  return { ids: int64(ids, shape, o.device), targets: int64(targets, shape, o.device), weights: tensor(weights, shape, { device: o.device }) };
}


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
import { padTokenId, renderChat, stopTokenIds } from "../lm/chat.js";
import { GRAMMARS, type OutputFormat } from "../prompt/output-format.js";
import type { PromptLayout } from "../prompt/rerank-prompt.js";
import type { EvidenceSet } from "../rank/evidence/features.js";
import type { ChatMessage } from "../lm/chat.js";
import { int64, tensor } from "../torch/index.js";
import { join } from "node:path";
import { loadHFModel, loadHFTokenizer, saveHFModel } from "../lm/hf.js";
import { readJsonLines, type SftTrace } from "../teacher/trace-file.js";
import { hash32 } from "./corpus.js";
import { train, type Batch, type TrainConfig } from "./loop.js";
import { recordStage } from "./run.js";
import { writePromptSettings } from "../prompt/prompt-file.js";
import type { CompressorWeights } from "../prompt/compress.js";
import type { ScorerWeights } from "../rank/evidence/scorer.js";

// What SFT reads from a trace file (src/teacher/trace-file.ts defines it, with the files).
export type { SftTrace };

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

/**
 * The examples of a stage's traces: each trace once, or `movedRepeat` times when its answer
 * moves the incoming head (SftStageOptions.movedRepeat). Traces longer than `maxPositions`
 * are skipped (the model cannot attend past them) and counted.
 */
export async function sftExamples(traces: readonly SftTrace[], tokenizer: TextTokenizer, o: { weights: SftWeights; maxPositions: number; movedRepeat?: number }): Promise<{ examples: SftExample[]; tooLong: number }> {
  const examples: SftExample[] = [];
  let tooLong = 0;
  for (const t of traces) {
    const e = await sftExample(t, tokenizer, o.weights);
    if (e.ids.length > o.maxPositions) tooLong++;
    else for (let c = t.ranking && t.ranking[0] !== 0 ? Math.max(1, o.movedRepeat ?? 1) : 1; c > 0; c--) examples.push(e);
  }
  return { examples, tooLong };
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


export interface SftStageOptions {
  runDir: string;
  /** HF folder to start from (the mid-trained model). */
  from: string;
  /** Trace JSONL files; accepted traces become examples. */
  traces: string[];
  steps: number;
  batch: number;
  lr: number;
  precision: "fp32" | "bf16";
  seed: number;
  device: string;
  weights: SftWeights;
  /** Stage name in the run manifest (e.g. "sft", "sft-targeted"). */
  stage?: string;
  /** The traces' prompt layout, recorded so `gr2 serve` prompts the model the same way. */
  layout?: PromptLayout;
  /** How the traces' prompts were cut (history items shown, token budget), recorded for serving. */
  maxHistory?: number;
  maxPromptTokens?: number;
  /** The traces answer with the ranking alone (reading, direct SFT): recorded so serving never asks the model to reason. */
  direct?: boolean;
  /** The evidence the traces' prompts show, recorded for the same reason. */
  evidence?: EvidenceSet;
  /** The evidence scorer's weights, recorded with the `ranked` set (its prompts show the scorer's ranks). */
  scorer?: ScorerWeights;
  /** The context compressor the traces' prompts were built with, recorded for the same reason. */
  compressor?: CompressorWeights;
  /**
   * Copies of each trace whose answer moves the incoming head (default 1). A minority of the
   * traces move it, and a student that sees them once learns to keep the head (the reading
   * stage's finding; a reasoning SFT on the demo's traces too: docs/benchmarks.md).
   */
  movedRepeat?: number;
}

export interface SftStageResult {
  modelDir: string;
  examples: number;
  /** Traces skipped because prompt + answer exceed the model's positions. */
  skippedTooLong: number;
  firstLoss: number;
  finalLoss: number;
  tokensPerSecond: number;
}

/** Fine-tunes `from` on the traces and saves runs/<name>/<stage>/model. Resumable. */
export async function runSft(o: SftStageOptions): Promise<SftStageResult> {
  const stage = o.stage ?? "sft";
  const stageDir = join(o.runDir, stage);
  recordStage(o.runDir, stage, { status: "running", outputs: {}, metrics: {}, config: { ...o } });
  const traces = o.traces.flatMap((f) => readJsonLines<SftTrace>(f).records).filter((t) => t.accepted && t.response);
  if (traces.length === 0) throw new Error(`SFT: no accepted traces in ${o.traces.join(", ")}`);
  const tokenizer = loadHFTokenizer(o.from);
  const model = loadHFModel(o.from, o.device);
  const { examples, tooLong } = await sftExamples(traces, tokenizer, { weights: o.weights, maxPositions: model.config.maxPositions, ...(o.movedRepeat ? { movedRepeat: o.movedRepeat } : {}) });
  if (tooLong) process.stderr.write(`sft: skipped ${tooLong} of ${traces.length} traces longer than the model's ${model.config.maxPositions} positions\n`);
  if (examples.length === 0) throw new Error(`SFT: every trace is longer than the model's ${model.config.maxPositions} positions`);
  const pad = padTokenId(tokenizer);
  const cfg: TrainConfig = {
    steps: o.steps,
    lr: o.lr,
    warmupSteps: Math.max(1, Math.round(o.steps * 0.05)),
    weightDecay: 0.0,
    gradClip: 1,
    gradAccum: 1,
    precision: o.precision,
    checkpointEvery: Math.max(10, Math.round(o.steps / 4)),
  };
  const result = train(model, stageDir, cfg, { label: stage, batch: (step, micro) => sftBatch(examples, { batch: o.batch, seed: o.seed, pad, device: o.device }, step, micro) });
  const modelDir = join(stageDir, "model");
  saveHFModel(modelDir, model, tokenizer);
  // The traces' prompts are already rendered; their format (when they agree) and layout are what the model learned.
  const formats = new Set(traces.map((t) => t.format));
  if (formats.size === 1) writePromptSettings(modelDir, { format: traces[0]!.format, layout: o.layout ?? "full", ...(o.direct ? { direct: true } : {}), ...(o.maxHistory !== undefined ? { maxHistory: o.maxHistory } : {}), ...(o.maxPromptTokens !== undefined ? { maxPromptTokens: o.maxPromptTokens } : {}), evidence: o.evidence, ...(o.scorer ? { scorer: o.scorer } : {}), ...(o.compressor ? { compressor: o.compressor } : {}) });
  model.dispose();
  const out: SftStageResult = {
    modelDir,
    examples: examples.length,
    skippedTooLong: tooLong,
    firstLoss: result.log[0]?.loss ?? NaN,
    finalLoss: result.log.at(-1)?.loss ?? NaN,
    tokensPerSecond: result.tokensPerSecond,
  };
  recordStage(o.runDir, stage, { status: "done", outputs: { model: `${stage}/model` }, metrics: { examples: out.examples, skipped_too_long: tooLong, first_loss: out.firstLoss, final_loss: out.finalLoss, tokens_per_s: out.tokensPerSecond }, config: { ...o } });
  return out;
}

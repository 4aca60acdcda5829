/**
 * Pre-training of the embedded model on the catalogue's own text (docs/architecture.md,
 * Presets): the tiny and demo models have no downloadable weights, so they learn language here
 * before they see semantic IDs. Steps: train a byte-level BPE on the item texts and the task's fixed wording
 * (the re-ranking prompt and the evidence rationales), pack the tokenised texts
 * into one stream, train next-token prediction on the shared loop, and save an HF folder
 * (config.json, model.safetensors, tokenizer.json) that later stages and transformers load.
 */
import { join } from "node:path";
import type { Dataset } from "../data/types.js";
import { itemText } from "../data/text.js";
import { DecoderLM } from "../lm/model.js";
import { generate } from "../lm/generate.js";
import { MODEL_PRESETS, presetConfig, type PresetName } from "../lm/presets.js";
import { TextTokenizer } from "../lm/tokenizer.js";
import { saveHFModel } from "../lm/hf.js";
import { manualSeed, noGrad, tidy } from "../torch/index.js";
import { promptScaffoldTexts, domainOf } from "../prompt/rerank-prompt.js";
import { rationaleScaffold } from "../teacher/evidence-teacher.js";
import { PackedStream } from "./corpus.js";
import { train, type TrainConfig, type TrainResult } from "./loop.js";
import { recordStage } from "./run.js";

export interface PretrainOptions {
  preset: PresetName;
  runDir: string;
  steps: number;
  batch: number;
  seqLen: number;
  lr: number;
  precision: "fp32" | "bf16";
  seed: number;
  device: string;
  /** Transformer layers (default: the preset's). Every later stage loads the model this made. */
  layers?: number;
  /** Prompts to sample from at the end, to show what the model learned. */
  samplePrompts?: string[];
}

export interface PretrainResult {
  params: number;
  vocabSize: number;
  corpusTokens: number;
  firstLoss: number;
  finalLoss: number;
  heldOutLoss: number;
  tokensPerSecond: number;
  samples: { prompt: string; text: string }[];
  modelDir: string;
  train: TrainResult;
}

/** Copies of the task wording in the tokenizer's training texts. */
const SCAFFOLD_REPEATS = 8;

export const PRETRAIN_DEFAULTS: Record<PresetName, Omit<PretrainOptions, "runDir" | "preset" | "device">> = {
  tiny: { steps: 60, batch: 8, seqLen: 64, lr: 3e-3, precision: "fp32", seed: 0 },
  demo: { steps: 300, batch: 16, seqLen: 128, lr: 1e-3, precision: "bf16", seed: 0 },
  beauty: { steps: 3000, batch: 16, seqLen: 256, lr: 6e-4, precision: "bf16", seed: 0 },
};

export async function pretrain(ds: Dataset, o: PretrainOptions): Promise<PretrainResult> {
  const stageDir = join(o.runDir, "pretrain");
  recordStage(o.runDir, "pretrain", { status: "running", outputs: {}, metrics: {}, config: { ...o } });
  const texts = ds.catalogue.items.map(itemText);
  // Hold out every 20th item's text to measure generalisation, not memorisation.
  const trainTexts = texts.filter((_, i) => i % 20 !== 0);
  const heldTexts = texts.filter((_, i) => i % 20 === 0);
  // The task's own wording joins the corpus so the tokenizer encodes prompts and rationales in
  // whole words (it is repeated so its words clear the BPE's frequency floor) and the model has
  // read it once before mid-training.
  const scaffold = [...promptScaffoldTexts(domainOf(ds.catalogue.name)), rationaleScaffold()];
  const tokenizerTexts = [...trainTexts, ...Array.from({ length: SCAFFOLD_REPEATS }, () => scaffold).flat()];
  const tokenizer = TextTokenizer.train(tokenizerTexts, { vocabSize: MODEL_PRESETS[o.preset].vocabSize });
  const eos = tokenizer.requireId("<|endoftext|>");
  const stream = new PackedStream(await tokenizer.encodeBatch([...trainTexts, ...scaffold]), eos);
  const held = new PackedStream(await tokenizer.encodeBatch(heldTexts.length ? heldTexts : trainTexts.slice(0, 5)), eos);

  manualSeed(o.seed);
  const model = new DecoderLM(presetConfig(o.preset, tokenizer.vocabSize, o.layers), o.device);
  const shape = { batch: o.batch, seqLen: Math.min(o.seqLen, Math.max(8, held.length - 2)), seed: o.seed, device: o.device };
  const cfg: TrainConfig = {
    steps: o.steps,
    lr: o.lr,
    warmupSteps: Math.max(1, Math.round(o.steps * 0.05)),
    weightDecay: 0.1,
    gradClip: 1,
    gradAccum: 1,
    precision: o.precision,
    checkpointEvery: Math.max(10, Math.round(o.steps / 4)),
    evalEvery: Math.max(10, Math.round(o.steps / 5)),
  };
  const heldOut = () =>
    noGrad(() => tidy(() => {
      let sum = 0;
      for (let i = 0; i < 4; i++) {
        const b = held.batch({ ...shape, seed: o.seed + 1 }, 0, i);
        sum += model.loss(b.ids, b.targets).item();
      }
      return sum / 4;
    }));
  const result = train(model, stageDir, cfg, {
    label: "pretrain",
    batch: (step, micro) => stream.batch(shape, step, micro),
    evaluate: () => ({ held_out_loss: heldOut() }),
  });

  const modelDir = join(stageDir, "model");
  saveHFModel(modelDir, model, tokenizer);
  const samples = [];
  for (const prompt of o.samplePrompts ?? []) {
    const ids = await tokenizer.encode(prompt);
    const out = generate(model, [ids], { maxNewTokens: 24, temperature: 0.8, topK: 20, stopTokens: [eos] });
    samples.push({ prompt, text: prompt + tokenizer.decodeSync(out.tokens[0]!, { skipSpecial: true }) });
  }
  const heldOutLoss = heldOut();
  const firstLoss = result.log[0]?.loss ?? NaN;
  const finalLoss = result.log.at(-1)?.loss ?? NaN;
  const params = model.numParams();
  model.dispose();
  recordStage(o.runDir, "pretrain", {
    status: "done",
    outputs: { model: "pretrain/model", metrics: "pretrain/metrics.jsonl" },
    metrics: { params, first_loss: firstLoss, final_loss: finalLoss, held_out_loss: heldOutLoss, tokens_per_s: result.tokensPerSecond },
    config: { ...o },
  });
  return { params, vocabSize: tokenizer.vocabSize, corpusTokens: stream.length, firstLoss, finalLoss, heldOutLoss, tokensPerSecond: result.tokensPerSecond, samples, modelDir, train: result };
}

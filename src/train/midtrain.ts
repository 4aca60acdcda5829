/**
 * Mid-training (docs/architecture.md, "One list", step 5): the language model learns the
 * catalogue's semantic IDs.
 *
 *   1. load an HF folder (the run's pre-trained model by default, or any `from` folder) and its
 *      tokenizer;
 *   2. add the SID tokens to the tokenizer and grow the vocabulary to match (new embedding rows
 *      drawn at random: the paper's "random init");
 *   3. optionally, an embeddings-only warm-up: for the first `embedWarmupSteps` steps only the
 *      embedding / lm_head matrices train, so the new rows find their place before they can
 *      disturb the transformer's weights with random-token gradients;
 *   4. full training on the task mixture (src/train/midtrain-tasks.ts), packed rows, loss on
 *      targets only, on the shared loop (checkpoints, exact resume);
 *   5. save `runs/<name>/midtrain/model` (HF layout, extended tokenizer, and a copy of the SID
 *      map so the folder is self-contained) and record the stage in the run manifest.
 *
 * The two phases train in their own folders (`midtrain/warmup`, `midtrain/train`), each with
 * its own checkpoints: a resumed run continues whichever phase it stopped in (once the full
 * phase has a checkpoint, that checkpoint holds the whole model and the warm-up is skipped).
 * Data for global step s is the same whichever phase runs it.
 */
import { join } from "node:path";
import type { Dataset } from "../data/types.js";
import { loadHFModel, loadHFTokenizer, saveHFModel } from "../lm/hf.js";
import type { DecoderLM } from "../lm/model.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import type { PresetName } from "../lm/presets.js";
import { writeSidMap, type SidMap } from "../sid/sidmap.js";
import { manualSeed } from "../torch/index.js";
import { latestCheckpoint } from "./checkpoint.js";
import { MidtrainCorpus, type BatchShape } from "./midtrain-tasks.js";
import { DEFAULT_MIXTURE, type TaskMixture } from "./tasks/mixture.js";
import { train, type StepLog, type TrainConfig, type TrainHooks } from "./loop.js";
import { recordStage, requireStage } from "./run.js";

export interface MidtrainOptions {
  runDir: string;
  /** HF folder to start from; default: the run's pre-trained model (runs/<name>/pretrain/model). */
  from?: string;
  preset: PresetName;
  /** Total optimiser steps, the embeddings-only warm-up included. */
  steps: number;
  /** Leading steps in which only the embedding / lm_head matrices train (0: none). */
  embedWarmupSteps: number;
  batch: number;
  seqLen: number;
  lr: number;
  precision: "fp32" | "bf16";
  seed: number;
  device: string;
  mixture: TaskMixture;
  /** History items in sequential prompts (and in the evaluation's). */
  maxHistory: number;
  /**
   * A periodic check of the model on held-out data, logged with the training steps (off when
   * absent). The CLI and the pipeline pass `generativeCheck` from eval/generative.ts; it is
   * handed in rather than imported because evaluation sits above training in the import order.
   */
  check?: MidtrainCheck;
  /** Checkpoint every this many steps of a phase (default: 8 per phase, at least 10 steps apart). */
  checkpointEvery?: number;
}

/** Built once the tokenizer has its SID tokens; returns the metrics of one model, or null to skip checks. */
export type MidtrainCheck = (tokenizer: TextTokenizer, precision: "fp32" | "bf16") => Promise<((model: DecoderLM) => Record<string, number>) | null>;

export type MidtrainDefaults = Omit<MidtrainOptions, "runDir" | "from" | "preset" | "device" | "check"> & {
  /** Valid-split users for the periodic generative check (0: off). */
  evalUsers: number;
  /** Beam width of that check. */
  evalBeams: number;
};

export const MIDTRAIN_DEFAULTS: Record<PresetName, MidtrainDefaults> = {
  tiny: { steps: 40, embedWarmupSteps: 5, batch: 8, seqLen: 128, lr: 3e-3, precision: "fp32", seed: 0, mixture: DEFAULT_MIXTURE, maxHistory: 10, evalUsers: 0, evalBeams: 10 },
  demo: { steps: 800, embedWarmupSteps: 50, batch: 16, seqLen: 256, lr: 1e-3, precision: "bf16", seed: 0, mixture: DEFAULT_MIXTURE, maxHistory: 20, evalUsers: 200, evalBeams: 20 },
  beauty: { steps: 6000, embedWarmupSteps: 200, batch: 16, seqLen: 256, lr: 6e-4, precision: "bf16", seed: 0, mixture: DEFAULT_MIXTURE, maxHistory: 20, evalUsers: 500, evalBeams: 20 },
};

export interface MidtrainResult {
  params: number;
  vocabSize: number;
  /** SID tokens added to the tokenizer by this run (0 when the base already had them). */
  addedTokens: number;
  firstLoss: number;
  finalLoss: number;
  /** Training-loop throughput over the steps this process ran (both phases). */
  tokensPerSecond: number;
  /** Wall time of the steps this process ran. */
  trainSeconds: number;
  resumedFrom: { warmup: number | null; train: number | null };
  /** The last periodic generative check on valid users, if enabled. */
  valid: Record<string, number> | null;
  mixture: Partial<TaskMixture>;
  modelDir: string;
  log: StepLog[];
}

const isEmbedding = (name: string) => name === "model.embed_tokens.weight" || name === "lm_head.weight";

export async function midtrain(ds: Dataset, sidMap: SidMap, o: MidtrainOptions): Promise<MidtrainResult> {
  if (!(o.embedWarmupSteps >= 0 && o.embedWarmupSteps <= o.steps)) throw new Error(`midtrain: embedWarmupSteps (${o.embedWarmupSteps}) must be in [0, steps = ${o.steps}]`);
  const stageDir = join(o.runDir, "midtrain");
  const from = o.from ?? join(o.runDir, requireStage(o.runDir, "pretrain").outputs.model ?? "pretrain/model");
  const config = { ...o, from };
  recordStage(o.runDir, "midtrain", { status: "running", outputs: {}, metrics: {}, config });

  const tokenizer = loadHFTokenizer(from);
  const before = tokenizer.vocabSize;
  tokenizer.addSidTokens({ levels: sidMap.levels, codebookSize: sidMap.codebookSize });
  const corpus = await MidtrainCorpus.create(ds, sidMap, tokenizer, { mixture: o.mixture, maxHistory: o.maxHistory });
  const check = o.check ? await o.check(tokenizer, o.precision) : null;

  manualSeed(o.seed);
  let model: DecoderLM = loadHFModel(from, o.device);
  if (tokenizer.vocabSize > model.config.vocabSize) model = model.resizeVocab(tokenizer.vocabSize);

  const shape: BatchShape = { batch: o.batch, seqLen: o.seqLen, seed: o.seed, device: o.device };
  const trainDir = join(stageDir, "train");
  const warmupDir = join(stageDir, "warmup");
  const warm = o.embedWarmupSteps;
  const phaseConfig = (steps: number): TrainConfig => ({
    steps,
    lr: o.lr,
    warmupSteps: Math.max(1, Math.round(steps * 0.05)),
    weightDecay: 0.1,
    gradClip: 1,
    gradAccum: 1,
    precision: o.precision,
    checkpointEvery: o.checkpointEvery ?? Math.max(10, Math.round(steps / 8)),
    evalEvery: check ? Math.max(10, Math.round(steps / 4)) : undefined,
  });
  const hooks = (offset: number, label: string): TrainHooks => ({
    label,
    // Global step numbering: the data of step s does not depend on the phase it falls in.
    batch: (step, micro) => corpus.batch(shape, offset + step, micro),
    evaluate: check ?? undefined,
  });

  const t0 = performance.now();
  const log: StepLog[] = [];
  let resumedWarmup: number | null = null;
  try {
    if (warm > 0 && latestCheckpoint(trainDir) === null) {
      const frozen = freezeAllBut(model, isEmbedding);
      try {
        const r = train(model, warmupDir, { ...phaseConfig(warm), evalEvery: undefined }, hooks(0, "midtrain (embeddings)"));
        resumedWarmup = r.resumedFrom;
        log.push(...r.log);
      } finally {
        for (const p of frozen) p.requiresGrad_(true);
      }
    }
    const r = train(model, trainDir, phaseConfig(o.steps - warm), hooks(warm, "midtrain"));
    log.push(...r.log.map((e) => ({ ...e, step: e.step + warm })));
    const trainSeconds = (performance.now() - t0) / 1000;

    const modelDir = join(stageDir, "model");
    saveHFModel(modelDir, model, tokenizer);
    await writeSidMap(join(modelDir, "sid_map.json"), sidMap);
    const valid = lastValid(log);
    const tokens = log.reduce((a, e) => a + e.tokens, 0);
    const seconds = log.reduce((a, e) => a + e.seconds, 0);
    const result: MidtrainResult = {
      params: model.numParams(),
      vocabSize: model.config.vocabSize,
      addedTokens: tokenizer.vocabSize - before,
      firstLoss: log[0]?.loss ?? NaN,
      finalLoss: log.at(-1)?.loss ?? NaN,
      tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
      trainSeconds,
      resumedFrom: { warmup: resumedWarmup, train: r.resumedFrom },
      valid,
      mixture: corpus.sampler.ratios,
      modelDir,
      log,
    };
    recordStage(o.runDir, "midtrain", {
      status: "done",
      outputs: { model: "midtrain/model", sid_map: "midtrain/model/sid_map.json", metrics: "midtrain/train/metrics.jsonl" },
      metrics: {
        params: result.params,
        vocab_size: result.vocabSize,
        first_loss: result.firstLoss,
        final_loss: result.finalLoss,
        tokens_per_s: result.tokensPerSecond,
        train_seconds: trainSeconds,
        ...Object.fromEntries(Object.entries(valid ?? {}).map(([k, v]) => [`valid_${k}`, v])),
      },
      config,
    });
    return result;
  } finally {
    model.dispose();
  }
}

/** Sets requiresGrad false on every trainable parameter not selected; returns those (to unfreeze). */
function freezeAllBut(model: DecoderLM, keep: (name: string) => boolean) {
  const frozen = model.namedParameters().filter(([name, p]) => p.requiresGrad && !keep(name)).map(([, p]) => p);
  for (const p of frozen) p.requiresGrad_(false);
  return frozen;
}

/** The last log entry's generative-check numbers (named without the prefix), or null. */
function lastValid(log: readonly StepLog[]): Record<string, number> | null {
  const e = [...log].reverse().find((l) => l["recall@10"] !== undefined);
  return e ? { "recall@5": e["recall@5"]!, "ndcg@5": e["ndcg@5"]!, "recall@10": e["recall@10"]!, "ndcg@10": e["ndcg@10"]! } : null;
}

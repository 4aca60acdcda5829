/**
 * The one training loop every stage (pre-training, mid-training, SFT, ...) runs on:
 * AdamW with decay/no-decay parameter groups, warm-up + cosine schedule, gradient accumulation,
 * global-norm clipping, optional bf16 autocast (fp32 master weights; fp32 on CPUs without hardware bf16), a JSONL metrics log,
 * periodic evaluation, atomic checkpoints (every `checkpointEvery` steps and every
 * `checkpointSeconds` of wall time) and exact resume.
 *
 * Exact resume rests on one rule: a stage's `batch(step, micro)` must be a pure function of
 * its arguments (data order derived from the seed and the step, not from mutable state).
 * Then parameters + AdamW moments + libtorch's RNG state + the step are all a run has, and
 * a resumed run reproduces the uninterrupted one bit for bit (same seed, same threads).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AdamW, clipGradNorm, mixedPrecision, tidy, warmupCosineLr, type ParamGroup, type Tensor } from "../torch/index.js";
import type { DecoderLM } from "../lm/model.js";
import { Progress } from "../util/progress.js";
import { checkpointClock, latestCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.js";

export interface Batch {
  /** int64 [B, T] input tokens. */
  ids: Tensor;
  /** int64 [B, T] token to predict at each position, -100 where there is no loss. */
  targets: Tensor;
  /** Optional fp32 [B, T] per-target loss weights. */
  weights?: Tensor;
}

export interface TrainConfig {
  steps: number;
  lr: number;
  minLr?: number;
  warmupSteps: number;
  weightDecay: number;
  betas?: [number, number];
  /** Global-norm clip (0 = off). */
  gradClip: number;
  /** Micro-batches per optimiser step. */
  gradAccum: number;
  /** "bf16" runs forward passes under autocast with fp32 master weights (fp32 where the device has no bf16 matmuls: `mixedPrecision`). */
  precision: "fp32" | "bf16";
  checkpointEvery: number;
  /** Also checkpoint once this many seconds have passed since the last save (default CHECKPOINT_SECONDS). */
  checkpointSeconds?: number;
  evalEvery?: number;
  logEvery?: number;
  /** Apply weight decay to embeddings too (off by default, as for norms and biases). */
  decayEmbeddings?: boolean;
}

export interface TrainHooks {
  /** The micro-batch for (step, micro); must depend on nothing else (see exact resume above). */
  batch(step: number, micro: number): Batch;
  /** Loss for a batch; defaults to the model's next-token cross-entropy. */
  loss?(model: DecoderLM, batch: Batch): Tensor;
  /** Periodic evaluation; its numbers go into the metrics log. */
  evaluate?(model: DecoderLM, step: number): Record<string, number>;
  /** Label for the progress line. */
  label?: string;
}

export interface StepLog {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  seconds: number;
  [evalMetric: string]: number;
}

export interface TrainResult {
  steps: number;
  resumedFrom: number | null;
  log: StepLog[];
  tokensPerSecond: number;
}

/** Decay on matrices (linear weights); none on norms, biases and (unless asked) embeddings. */
export function parameterGroups(model: DecoderLM, cfg: Pick<TrainConfig, "weightDecay" | "decayEmbeddings">): ParamGroup[] {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) continue;
    const isEmbedding = name.includes("embed_tokens") || name.startsWith("lm_head");
    (p.ndim >= 2 && (!isEmbedding || cfg.decayEmbeddings) ? decay : noDecay).push(p);
  }
  return [
    { params: decay, weightDecay: cfg.weightDecay },
    { params: noDecay, weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
}

export function train(model: DecoderLM, runDir: string, cfg: TrainConfig, hooks: TrainHooks, { resume = true } = {}): TrainResult {
  mkdirSync(runDir, { recursive: true });
  const opt = new AdamW(parameterGroups(model, cfg), { lr: cfg.lr, betas: cfg.betas, weightDecay: cfg.weightDecay });
  const metricsPath = join(runDir, "metrics.jsonl");
  let start = 0;
  let resumedFrom: number | null = null;
  const ckpt = resume ? latestCheckpoint(runDir) : null;
  if (ckpt) {
    const state: TrainerState = loadCheckpoint(ckpt, model, opt);
    start = resumedFrom = state.step;
    truncateLog(metricsPath, start);
  } else if (existsSync(metricsPath)) {
    writeFileSync(metricsPath, "");
  }
  const schedule = { maxLr: cfg.lr, minLr: cfg.minLr, warmupSteps: cfg.warmupSteps, totalSteps: cfg.steps };
  const lossOf = hooks.loss ?? ((m: DecoderLM, b: Batch) => m.loss(b.ids, b.targets, { weights: b.weights }));
  const progress = new Progress(hooks.label ?? "train", cfg.steps);
  const log: StepLog[] = [];
  let tokensTotal = 0;
  let secondsTotal = 0;
  const clock = checkpointClock({ every: cfg.checkpointEvery, steps: cfg.steps, seconds: cfg.checkpointSeconds });
  model.train();
  try {
    for (let step = start; step < cfg.steps; step++) {
      const t0 = performance.now();
      opt.lr = warmupCosineLr(step, schedule);
      let lossSum = 0;
      let tokens = 0;
      for (let micro = 0; micro < cfg.gradAccum; micro++) {
        tidy(() => {
          const batch = hooks.batch(step, micro);
          const forward = () => lossOf(model, batch);
          const loss = cfg.precision === "bf16" ? mixedPrecision(forward, { device: model.device }) : forward();
          // Mean over micro-batches: each contributes 1/gradAccum of the gradient.
          (cfg.gradAccum > 1 ? loss.div(cfg.gradAccum) : loss).backward();
          lossSum += loss.item();
          tokens += batch.ids.numel;
        });
      }
      const gradNorm = clipGradNorm(opt.params, cfg.gradClip);
      opt.step();
      opt.zeroGrad();
      const seconds = (performance.now() - t0) / 1000;
      tokensTotal += tokens;
      secondsTotal += seconds;
      const entry: StepLog = { step: step + 1, loss: lossSum / cfg.gradAccum, lr: opt.lr, grad_norm: gradNorm, tokens, tokens_per_s: tokens / seconds, seconds };
      const done = step + 1;
      if (hooks.evaluate && cfg.evalEvery && (done % cfg.evalEvery === 0 || done === cfg.steps)) {
        model.eval();
        Object.assign(entry, hooks.evaluate(model, done));
        model.train();
      }
      log.push(entry);
      appendFileSync(metricsPath, JSON.stringify(entry) + "\n");
      progress.update(done, `loss ${entry.loss.toFixed(3)} ${(tokensTotal / secondsTotal).toFixed(0)} tok/s`);
      if (clock.due(done)) {
        saveCheckpoint(runDir, model, opt, { step: done, optimizerSteps: opt.stepCount, lr: opt.lr, extra: {} });
        clock.saved();
      }
    }
  } finally {
    opt.dispose();
    model.eval();
  }
  return { steps: cfg.steps, resumedFrom, log, tokensPerSecond: secondsTotal > 0 ? tokensTotal / secondsTotal : 0 };
}

/** Drops log lines past `step` (they belong to the interrupted part that is being redone). */
export function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() && (JSON.parse(l) as StepLog).step <= step);
  writeFileSync(path, kept.map((l) => l + "\n").join(""));
}

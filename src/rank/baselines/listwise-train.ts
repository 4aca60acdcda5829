/**
 * Training the listwise re-ranker under the no-leakage protocol (docs/architecture.md,
 * Protocol): it learns from the *valid* lists (one per user; the upstream ranker never trained
 * on those targets), keeps a seeded slice of users aside to choose the epoch, and is then
 * evaluated on the *test* lists.
 *
 * Loss: softmax cross-entropy over each list's K scores against the target's position.
 * Checkpoint: a folder with `listwise.json` (config, training log) and `model.safetensors`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AdamW, clipGradNorm, crossEntropy, int64, loadSafetensors, manualSeed, mixedPrecision, noGrad, saveSafetensors, tidy, type Tensor } from "../../torch/index.js";
import { Rng } from "../../data/rng.js";
import { meanMetrics } from "../metrics.js";
import { writeJsonAtomic } from "../../util/atomic.js";
import type { CandidateList } from "../candidates.js";
import { withDefaults } from "../defaults.js";
import { lengthBuckets } from "../sequences.js";
import type { TextFeatures } from "../text-features.js";
import { LISTWISE_DEFAULTS, listBatch, ListwiseModel, ListwiseReranker, type ListwiseConfig } from "./listwise.js";
import { rerankedRanks } from "./reranker.js";

export interface ListwiseTrainOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Epochs without a better held-out NDCG@5 before stopping. */
  patience?: number;
  /** Share of users held out for model selection. */
  heldOut?: number;
  seed?: number;
  device?: string;
  autocast?: boolean;
  onEpoch?: (e: ListwiseEpoch) => void;
}

export const LISTWISE_TRAIN_DEFAULTS = {
  epochs: 40,
  batchSize: 128,
  // 5e-4 rather than 1e-3: on Beauty the best held-out epoch is the first; a slower start helps.
  lr: 5e-4,
  weightDecay: 0.01,
  patience: 5,
  heldOut: 0.1,
  seed: 0,
  device: "cpu",
  autocast: true,
};

export interface ListwiseEpoch {
  epoch: number;
  loss: number;
  seconds: number;
  heldOut: { "recall@1": number; "ndcg@5": number };
  best: boolean;
}

export interface ListwiseTrainResult {
  reranker: ListwiseReranker;
  config: ListwiseConfig;
  log: ListwiseEpoch[];
  bestEpoch: number;
  trainLists: number;
  heldOutLists: number;
  seconds: number;
}

/** Splits lists by user into (train, held out), seeded. */
export function holdOutUsers(lists: readonly CandidateList[], share: number, seed: number): { train: CandidateList[]; heldOut: CandidateList[] } {
  const users = [...new Set(lists.map((l) => l.user))];
  const n = Math.round(users.length * share);
  const held = new Set(new Rng(seed ^ 0x3c3c).sample(users, n));
  return { train: lists.filter((l) => !held.has(l.user)), heldOut: lists.filter((l) => held.has(l.user)) };
}

export function trainListwise(
  lists: readonly CandidateList[],
  numItems: number,
  text: TextFeatures | null,
  config: Partial<Omit<ListwiseConfig, "numItems" | "textDim">> = {},
  options: ListwiseTrainOptions = {},
  name = "listwise",
): ListwiseTrainResult {
  const o = withDefaults<typeof LISTWISE_TRAIN_DEFAULTS & ListwiseTrainOptions>(LISTWISE_TRAIN_DEFAULTS, options);
  const started = Date.now();
  if (lists.length === 0) throw new Error("listwise: no lists to train on");
  const c: ListwiseConfig = { ...withDefaults(LISTWISE_DEFAULTS, config), numItems, textDim: text?.dim ?? 0, listSize: lists[0]!.candidates.length };
  manualSeed(o.seed);
  const rng = new Rng(o.seed);
  const { train, heldOut } = holdOutUsers(lists, o.heldOut, o.seed);
  if (train.length === 0) throw new Error("listwise: holding out users left no training lists");
  const model = new ListwiseModel(c, text, o.device);
  const reranker = new ListwiseReranker(model, name, o.autocast);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const optimiser = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const log: ListwiseEpoch[] = [];
  let best: { epoch: number; score: number; state: Tensor[] } | null = null;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const t0 = Date.now();
      model.train();
      const batches = lengthBuckets(train, (l) => Math.min(l.history.length, c.maxHistory), o.batchSize, rng);
      let lossSum = 0;
      for (const batch of batches) lossSum += trainStep(model, optimiser, params, batch, o.autocast);
      const selection = heldOut.length > 0 ? heldOut : train;
      const m = meanMetrics(rerankedRanks(selection, reranker.scoreLists(selection)), ["recall@1", "ndcg@5"] as const);
      const entry: ListwiseEpoch = { epoch, loss: lossSum / batches.length, seconds: (Date.now() - t0) / 1000, heldOut: m, best: false };
      if (!best || m["ndcg@5"] > best.score) {
        best?.state.forEach((t) => t.dispose());
        best = { epoch, score: m["ndcg@5"], state: noGrad(() => model.parameters().map((p) => p.clone().keep())) };
        entry.best = true;
      }
      log.push(entry);
      o.onEpoch?.(entry);
      if (epoch - best.epoch >= o.patience) break;
    }
  } finally {
    optimiser.dispose();
  }
  if (best) {
    const state = best.state;
    noGrad(() => model.parameters().forEach((p, i) => p.copy_(state[i]!)));
    state.forEach((t) => t.dispose());
  }
  model.eval();
  return { reranker, config: c, log, bestEpoch: best?.epoch ?? 0, trainLists: train.length, heldOutLists: heldOut.length, seconds: (Date.now() - started) / 1000 };
}

function trainStep(model: ListwiseModel, optimiser: AdamW, params: Tensor[], batch: readonly CandidateList[], useAutocast: boolean): number {
  return tidy(() => {
    const { history, candidates, scores } = listBatch(model, batch);
    const targets = int64(batch.map((l) => l.rankPre - 1), undefined, model.device);
    const loss = mixedPrecision(() => crossEntropy(model.forward(history, candidates, scores), targets), { device: model.device, enabled: useAutocast });
    optimiser.zeroGrad();
    loss.backward();
    clipGradNorm(params, 1);
    optimiser.step();
    return loss.item();
  });
}

// ---- checkpoint ----------------------------------------------------------------------------

export const LISTWISE_MANIFEST = "listwise.json";

export function saveListwise(dir: string, result: Pick<ListwiseTrainResult, "reranker" | "config" | "log" | "bestEpoch" | "trainLists" | "heldOutLists" | "seconds">, extra: Record<string, unknown> = {}): void {
  saveSafetensors(join(dir, "model.safetensors"), result.reranker.model.stateDict(), { format: "gr2-listwise" });
  const { reranker, ...rest } = result;
  writeJsonAtomic(join(dir, LISTWISE_MANIFEST), { format: "gr2-listwise", version: 1, name: reranker.name, ...rest, ...extra, createdAt: new Date().toISOString() });
}

export function loadListwise(dir: string, device = "cpu"): ListwiseReranker {
  const path = join(dir, LISTWISE_MANIFEST);
  if (!existsSync(path)) throw new Error(`${path}: not found (is ${dir} a folder written by the listwise baseline?)`);
  const m = JSON.parse(readFileSync(path, "utf8")) as { format?: string; name?: string; config: ListwiseConfig };
  if (m.format !== "gr2-listwise") throw new Error(`${path}: "format" is ${JSON.stringify(m.format)}, expected "gr2-listwise"`);
  return tidy(() => {
    const { tensors } = loadSafetensors(join(dir, "model.safetensors"), device);
    const c = m.config;
    // The text table travels inside the checkpoint; rebuild the features from it.
    const table = tensors["text_features"];
    const text = c.textDim > 0 && table ? { dim: c.textDim, data: table.toFloat32Array().slice(c.textDim) } : null;
    const model = new ListwiseModel(c, text, device);
    model.loadStateDict(tensors);
    model.eval();
    return new ListwiseReranker(model, m.name ?? "listwise");
  });
}

/**
 * Training SASRec on the train split only (docs/architecture.md, Protocol): each user's prefix
 * s[0..n-3] is read left to right and every position predicts the next item of the prefix, so
 * no valid or test target is ever a training target. The valid targets only choose the epoch (early stopping on
 * NDCG@10 over a fixed sample of users), as in the SASRec paper.
 *
 * Speed: batches group users of similar length (little padding), only real positions reach the
 * output layer (the [positions × items] logits are the dominant cost), and the transformer runs
 * under bf16 autocast.
 */
import { AdamW, cat, clipGradNorm, crossEntropy, embedding, int64, manualSeed, noGrad, ones, randint, tidy, zeros, mixedPrecision, type Tensor } from "../torch/index.js";
import { Rng } from "../data/rng.js";
import type { Example, Split } from "../data/types.js";
import { fullRankingMetrics, type FullRankingMetrics } from "./metrics.js";
import { Sasrec, SasrecRanker, SASREC_DEFAULTS, type SasrecConfig } from "./sasrec.js";
import { batchWidth, lengthBuckets, padLeft } from "./sequences.js";
import { withDefaults } from "./defaults.js";

export interface SasrecTrainOptions {
  /** Upper bound on epochs; early stopping usually ends sooner. */
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Evaluations (one per `evalEvery` epochs) without a better valid NDCG@10 before stopping. */
  patience?: number;
  evalEvery?: number;
  /** Valid users sampled for early stopping (all when larger than the split). */
  evalUsers?: number;
  seed?: number;
  device?: string;
  /** bf16 autocast for the transformer (fp32 master weights either way). */
  autocast?: boolean;
  /**
   * "ce": softmax cross-entropy over all items (default, stronger). "bce": the paper's binary
   * cross-entropy with one uniformly sampled negative per position (to compare with published
   * SASRec figures).
   */
  loss?: SasrecLoss;
  onEpoch?: (e: EpochLog) => void;
  onStep?: (step: number, stepsPerEpoch: number, epoch: number) => void;
}

export type SasrecLoss = "ce" | "bce";

export const SASREC_TRAIN_DEFAULTS = {
  epochs: 200,
  batchSize: 128,
  lr: 1e-3,
  weightDecay: 0,
  patience: 5,
  evalEvery: 2,
  evalUsers: 5000,
  seed: 0,
  device: "cpu",
  autocast: true,
  loss: "ce" as SasrecLoss,
} satisfies SasrecTrainOptions;

export interface EpochLog {
  epoch: number;
  loss: number;
  seconds: number;
  /** Present on evaluated epochs. */
  valid?: FullRankingMetrics;
  best: boolean;
}

export interface SasrecTrainResult {
  model: Sasrec;
  config: SasrecConfig;
  log: EpochLog[];
  bestEpoch: number;
  bestValid: FullRankingMetrics | null;
  seconds: number;
}

/** One training sequence: inputs s[0..n-2] → targets s[1..n-1], the last maxLen of them. */
interface TrainSequence {
  inputs: number[];
  targets: number[];
}

export function trainingSequences(train: readonly (readonly number[])[], maxLen: number): TrainSequence[] {
  const out: TrainSequence[] = [];
  for (const prefix of train) {
    if (prefix.length < 2) continue;
    const window = prefix.slice(Math.max(0, prefix.length - maxLen - 1));
    out.push({ inputs: window.slice(0, -1), targets: window.slice(1) });
  }
  return out;
}

export function trainSasrec(split: Split, numItems: number, config: Partial<Omit<SasrecConfig, "numItems">> = {}, options: SasrecTrainOptions = {}): SasrecTrainResult {
  const o = withDefaults<Required<Omit<SasrecTrainOptions, "onEpoch" | "onStep">> & SasrecTrainOptions>(SASREC_TRAIN_DEFAULTS, options);
  const c: SasrecConfig = { ...withDefaults(SASREC_DEFAULTS, config), numItems };
  const started = Date.now();
  manualSeed(o.seed);
  const rng = new Rng(o.seed);
  const model = new Sasrec(c, o.device);
  const sequences = trainingSequences(split.train, c.maxLen);
  if (sequences.length === 0) throw new Error("sasrec: no user has a train prefix of 2+ items; nothing to learn from");
  const evalSet = sampleExamples(split.valid, o.evalUsers, o.seed);
  const optimiser = new AdamW(model.parameters(), { lr: o.lr, betas: [0.9, 0.98], weightDecay: o.weightDecay });
  const ranker = new SasrecRanker(model, o.autocast);

  const log: EpochLog[] = [];
  let best: { epoch: number; ndcg: number; state: Tensor[]; valid: FullRankingMetrics } | null = null;
  let sinceBest = 0;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const t0 = Date.now();
      model.train();
      const batches = lengthBuckets(sequences, (s) => s.inputs.length, o.batchSize, rng);
      let lossSum = 0;
      batches.forEach((batch, step) => {
        lossSum += trainStep(model, optimiser, batch, o.autocast, o.loss);
        o.onStep?.(step + 1, batches.length, epoch);
      });
      const entry: EpochLog = { epoch, loss: lossSum / batches.length, seconds: (Date.now() - t0) / 1000, best: false };
      if (evalSet.length > 0 && (epoch % o.evalEvery === 0 || epoch === o.epochs)) {
        entry.valid = fullRankingMetrics(ranker, evalSet);
        if (!best || entry.valid["ndcg@10"] > best.ndcg) {
          best?.state.forEach((t) => t.dispose());
          best = { epoch, ndcg: entry.valid["ndcg@10"], state: snapshot(model), valid: entry.valid };
          entry.best = true;
          sinceBest = 0;
        } else if (++sinceBest >= o.patience) {
          log.push(entry);
          o.onEpoch?.(entry);
          break;
        }
      }
      log.push(entry);
      o.onEpoch?.(entry);
    }
  } finally {
    optimiser.dispose();
  }
  if (best) {
    restore(model, best.state);
    best.state.forEach((t) => t.dispose());
  }
  model.eval();
  return { model, config: c, log, bestEpoch: best?.epoch ?? log.length, bestValid: best?.valid ?? null, seconds: (Date.now() - started) / 1000 };
}

/** One optimiser step on a batch; returns the mean loss. */
function trainStep(model: Sasrec, optimiser: AdamW, batch: readonly TrainSequence[], useAutocast: boolean, lossKind: SasrecLoss): number {
  return tidy(() => {
    const T = batchWidth(batch.map((s) => s.inputs), model.config.maxLen);
    const ids = padLeft(batch.map((s) => s.inputs), T, model.device);
    // Flat positions (b·T + t) of real targets, and the targets themselves, in the same order.
    const rows: number[] = [];
    const targets: number[] = [];
    batch.forEach((s, b) => {
      const offset = b * T + (T - s.targets.length);
      s.targets.forEach((item, t) => {
        rows.push(offset + t);
        targets.push(item);
      });
    });
    const loss = mixedPrecision(
      () => {
        const h = model.hidden(ids).reshape(-1, model.config.hidden).indexSelect(0, int64(rows, undefined, model.device));
        const t = int64(targets, undefined, model.device);
        return lossKind === "ce" ? crossEntropy(model.logits(h), t) : sampledBce(model, h, t);
      },
      { device: model.device, enabled: useAutocast },
    );
    optimiser.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), 5);
    optimiser.step();
    return loss.item();
  });
}

/**
 * −log σ(h·e_pos) − log σ(−h·e_neg) with one uniform negative per position, averaged. Written
 * as two-way cross-entropies over [score, 0] (CE([s, 0], 0) = −log σ(s)), which are computed
 * stably in fp32.
 */
function sampledBce(model: Sasrec, h: Tensor, targets: Tensor): Tensor {
  const M = h.size(0);
  const negatives = randint(0, model.config.numItems, [M], { device: model.device });
  // [M, 2] logits: the item's score against a constant 0.
  const pair = (items: Tensor) => {
    const s = h.mul(embedding(model.itemWeights, items)).sum(-1, true).to("float32");
    return cat([s, zeros([M, 1], { device: model.device })], 1);
  };
  const pos = crossEntropy(pair(targets), zeros([M], { dtype: "int64", device: model.device }));
  const neg = crossEntropy(pair(negatives), ones([M], { dtype: "int64", device: model.device }));
  return pos.add(neg);
}

/** Up to `n` examples, a seeded sample (stable across epochs, so evaluations compare). */
export function sampleExamples(examples: readonly Example[], n: number, seed: number): Example[] {
  if (examples.length <= n) return examples.slice();
  return new Rng(seed ^ 0x5a5a).sample(examples, n);
}

function snapshot(model: Sasrec): Tensor[] {
  return noGrad(() => model.parameters().map((p) => p.clone().keep()));
}

function restore(model: Sasrec, state: Tensor[]): void {
  noGrad(() => model.parameters().forEach((p, i) => p.copy_(state[i]!)));
}

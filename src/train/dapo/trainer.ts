/**
 * DAPO for re-ranking (GR2's RL stage). One step:
 *
 *   1. generation   G samples for each of `promptsPerStep` prompts (batched, KV cache,
 *                   optionally under the permutation constraint), at temperature T;
 *   2. scoring      each sample is parsed and scored by the verifiable reward;
 *   3. filtering    dynamic sampling keeps groups whose outcome varies, refilling from further
 *                   prompts up to `maxGenBatches` generation batches;
 *   4. optimisation the old policy's token log-probs come from one no-grad forward pass (as
 *                   verl does), then `epochs` × `miniBatches` clipped, token-level updates.
 *
 * Prompts for a step are chosen from (seed, step) alone and checkpoints hold parameters, AdamW
 * moments and the RNG, so a resumed run continues the same sequence of prompts and samples.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { AdamW, clipGradNorm, int64, noGrad, tensor, tidy, type Tensor } from "../../torch/index.js";
import type { DecoderLM } from "../../lm/model.js";
import { generate, type LogitConstraint } from "../../lm/generate.js";
import { Progress } from "../../util/progress.js";
import { checkpointClock, latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../checkpoint.js";
import { parameterGroups, truncateLog } from "../loop.js";
import { hash32 } from "../corpus.js";
import { DEFAULT_REWARD, type RewardConfig } from "../../reward/rank.js";
import { rankRe, rewardByName, type RewardName } from "../../reward/registry.js";
import { monitor, type RolloutOutcome } from "../../reward/monitors.js";
import { advantageAgainst, dapoPolicyLoss, DAPO_CLIP, firstErrorAdvantages, groupAdvantages, groupsWithSignal, k3KL, overlongPenalty, reverseKL, type ClipConfig } from "./loss.js";

/** One re-ranking prompt the policy answers. */
export interface RerankTask {
  promptIds: number[];
  /** 1-based position of the target in the incoming order. */
  rankPre: number;
  listSize: number;
  /** Relevance grade per incoming candidate, for lists with several positives (absent = the one target). */
  relevance?: number[];
  /** Incoming index → position shown in the prompt (when candidates were shuffled). */
  shownPosition?: number[];
  /** Parses a response into the model's order (incoming indices, best first) or null. */
  score(responseIds: number[]): { order: number[] | null };
  /** For a response that does not parse: the index of the token where it left the answer grammar, or null if unknown. */
  firstInvalidToken?(responseIds: number[]): number | null;
}

/** Builds the decoding constraint for one rollout batch, given each row's task (optional). */
export type ConstraintBuilder = (rows: readonly RerankTask[]) => Promise<LogitConstraint>;

export interface DapoConfig {
  steps: number;
  promptsPerStep: number;
  /** G: samples per prompt. */
  groupSize: number;
  maxNewTokens: number;
  temperature: number;
  lr: number;
  weightDecay: number;
  gradClip: number;
  clip: ClipConfig;
  /** Optimisation passes over each rollout batch, and mini-batches per pass. */
  epochs: number;
  miniBatches: number;
  /** A reward registered in src/reward/registry.ts. */
  reward: RewardName;
  rewardConfig: RewardConfig;
  /** Dynamic sampling: what must vary within a group to keep it. */
  filterMetric: "rank_re" | "reward" | "none";
  /** Cap on generation batches per step while refilling filtered groups. */
  maxGenBatches: number;
  /** Overlong shaping: buffer length (tokens before maxNewTokens where the penalty ramps) and factor. */
  overlongBuffer: number;
  overlongFactor: number;
  /** Coefficient of the k3 KL to the frozen reference (0 = off, DAPO's default). */
  klCoef: number;
  /**
   * On-policy distillation (technical report §OPD, Eq. 4): weight of the per-token reverse KL
   * from the policy to `DapoRunOptions.teacher` on the policy's own samples (0 = off). With it
   * on, every group is optimised, also those whose rewards do not vary (dynamic sampling would
   * drop them): the teacher's distribution gives them gradient.
   */
  distillCoef: number;
  /** `exact`: the KL over the whole vocabulary at each position (`reverseKL`); `k3`: exp(Δ) − Δ − 1 on the sampled token. */
  distillEstimator: "exact" | "k3";
  /**
   * Where an invalid answer's advantage applies. `sequence` (the paper's): every token of the
   * answer, like any other sample. `first_error`: only the token where the answer left the
   * grammar (`RerankTask.firstInvalidToken`: the first wrong code of an unknown SID, the code
   * that can only repeat a used candidate), where the verifier can say so; otherwise every
   * token. An answer that copies nine SIDs right and the tenth wrong is not evidence against
   * the nine copies, and pushing them all down teaches the copy less than it could.
   */
  formatCredit: "sequence" | "first_error";
  /** The rollouts' prompt forward (generate()'s `prefill`). The old and new log-probabilities are recomputed in fp32 either way. */
  prefill: "fp32" | "bf16";
  checkpointEvery: number;
  /** Also checkpoint once this many seconds have passed since the last save (default CHECKPOINT_SECONDS). */
  checkpointSeconds?: number;
  seed: number;
}

export const DAPO_DEFAULTS: Omit<DapoConfig, "steps" | "maxNewTokens"> = {
  promptsPerStep: 8,
  groupSize: 8,
  temperature: 1,
  lr: 1e-6,
  weightDecay: 0.0,
  gradClip: 1,
  clip: DAPO_CLIP,
  epochs: 1,
  miniBatches: 2,
  reward: "conditional",
  rewardConfig: DEFAULT_REWARD,
  filterMetric: "rank_re",
  maxGenBatches: 3,
  overlongBuffer: 0,
  overlongFactor: 1,
  klCoef: 0,
  distillCoef: 0,
  distillEstimator: "exact",
  formatCredit: "sequence",
  prefill: "fp32",
  checkpointEvery: 10,
  seed: 0,
};

export interface DapoStepLog {
  step: number;
  reward_mean: number;
  reward_std: number;
  r_rank: number;
  valid_rate: number;
  identity_rate: number;
  identity_rate_nonoptimal: number;
  top1_position_hist: number[];
  entropy: number;
  clip_frac_low: number;
  clip_frac_high: number;
  response_length: number;
  kept_group_fraction: number;
  /**
   * The advantage a copy of the incoming order would get, averaged over this step's groups whose
   * list has its target below first and whose rewards vary (`advantageAgainst`); null when there
   * is no such group. Positive: the reward pays a copy more than the policy's samples, and the
   * update pulls toward copying (the reward ablation's finding, measured at every step).
   */
  copy_advantage: number | null;
  /** On-policy distillation: mean per-token reverse KL to the teacher (0 when off). */
  distill_kl: number;
  loss: number;
  tokens_per_s: number;
  seconds_generation: number;
  seconds_scoring: number;
  seconds_optimisation: number;
}

interface Sample {
  task: RerankTask;
  response: number[];
  reward: number;
  rankRe: number | null;
  outcome: RolloutOutcome;
  /** For an invalid answer under `formatCredit: "first_error"`: its first token outside the grammar. */
  errorAt: number | null;
}

export interface DapoRunOptions {
  /** Frozen reference policy for the optional k3 KL term. */
  reference?: DecoderLM;
  /** Frozen teacher for on-policy distillation (`distillCoef`); it must share the policy's tokenizer. */
  teacher?: DecoderLM;
  resume?: boolean;
  label?: string;
  pad?: number;
  stopTokens?: number[];
  constraint?: ConstraintBuilder;
}

export async function trainDapo(policy: DecoderLM, tasks: readonly RerankTask[], runDir: string, cfg: DapoConfig, o: DapoRunOptions = {}): Promise<DapoStepLog[]> {
  if (tasks.length === 0) throw new Error("DAPO needs at least one prompt");
  const distill = cfg.distillCoef > 0;
  if (distill && !o.teacher) throw new Error("DAPO: distillCoef > 0 needs a teacher model (on-policy distillation)");
  if (o.teacher && o.teacher.config.vocabSize !== policy.config.vocabSize) {
    throw new Error(`on-policy distillation: the teacher's vocabulary has ${o.teacher.config.vocabSize} tokens, the student's ${policy.config.vocabSize}; they must share one tokenizer`);
  }
  mkdirSync(runDir, { recursive: true });
  const opt = new AdamW(parameterGroups(policy, { weightDecay: cfg.weightDecay }), { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const logPath = join(runDir, "metrics.jsonl");
  let start = 0;
  const ckpt = o.resume === false ? null : latestCheckpoint(runDir);
  if (ckpt) start = loadCheckpoint(ckpt, policy, opt).step;
  truncateLog(logPath, start);
  const progress = new Progress(o.label ?? "dapo", cfg.steps);
  const logs: DapoStepLog[] = [];
  const clock = checkpointClock({ every: cfg.checkpointEvery, steps: cfg.steps, seconds: cfg.checkpointSeconds });
  try {
    for (let step = start; step < cfg.steps; step++) {
      const t0 = performance.now();
      // ---- 1-3. generate, score, filter (refilling up to maxGenBatches) ----
      const kept: Sample[][] = [];
      let tGen = 0;
      let tScore = 0;
      let groupsSeen = 0;
      const all: Sample[] = [];
      const copyAdvantages: number[] = [];
      for (let batch = 0; batch < cfg.maxGenBatches && kept.length < cfg.promptsPerStep; batch++) {
        const chosen = Array.from({ length: cfg.promptsPerStep }, (_, i) => tasks[hash32(cfg.seed, step, batch, i) % tasks.length]!);
        const g0 = performance.now();
        const groups = await rollout(policy, chosen, cfg, o);
        const g1 = performance.now();
        for (const group of groups) score(group, cfg);
        tScore += performance.now() - g1;
        tGen += g1 - g0;
        groupsSeen += groups.length;
        for (const group of groups) {
          all.push(...group);
          const a = copyAdvantage(group, cfg);
          if (a !== null) copyAdvantages.push(a);
          const metric = group.map((s) => (cfg.filterMetric === "rank_re" ? (s.rankRe ?? -1) : s.reward));
          if (distill || cfg.filterMetric === "none" || groupsWithSignal(metric, cfg.groupSize).length > 0) kept.push(group);
        }
      }
      const batchGroups = kept.slice(0, cfg.promptsPerStep);
      // ---- 4. optimise ----
      const o0 = performance.now();
      const stats = batchGroups.length > 0 ? optimise(policy, opt, batchGroups, cfg, o.reference, o.teacher) : { loss: 0, entropy: 0, clipLow: 0, clipHigh: 0, tokens: 0, distillKL: 0 };
      const tOpt = performance.now() - o0;
      const rewards = all.map((s) => s.reward);
      const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
      const mon = monitor(all.map((s) => s.outcome), all[0]!.task.listSize);
      const seconds = (performance.now() - t0) / 1000;
      const entry: DapoStepLog = {
        step: step + 1,
        reward_mean: mean,
        reward_std: Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / rewards.length),
        r_rank: mean0(all.filter((s) => s.rankRe !== null).map((s) => (s.task.rankPre - s.rankRe!) / s.task.listSize)),
        valid_rate: mon.valid_rate,
        identity_rate: mon.identity_rate,
        identity_rate_nonoptimal: mon.identity_rate_nonoptimal,
        top1_position_hist: mon.top1_position_hist,
        entropy: stats.entropy,
        clip_frac_low: stats.clipLow,
        clip_frac_high: stats.clipHigh,
        response_length: mean0(all.map((s) => s.response.length)),
        kept_group_fraction: groupsSeen ? kept.length / groupsSeen : 0,
        copy_advantage: copyAdvantages.length ? mean0(copyAdvantages) : null,
        loss: stats.loss,
        distill_kl: stats.distillKL,
        tokens_per_s: (all.reduce((a, s) => a + s.response.length, 0) + stats.tokens) / seconds,
        seconds_generation: tGen / 1000,
        seconds_scoring: tScore / 1000,
        seconds_optimisation: tOpt / 1000,
      };
      logs.push(entry);
      appendFileSync(logPath, JSON.stringify(entry) + "\n");
      progress.update(step + 1, `reward ${mean.toFixed(3)} valid ${(mon.valid_rate * 100).toFixed(0)}% copy ${(mon.identity_rate * 100).toFixed(0)}%`);
      if (clock.due(step + 1)) {
        saveCheckpoint(runDir, policy, opt, { step: step + 1, optimizerSteps: opt.stepCount, lr: opt.lr, extra: {} });
        clock.saved();
      }
    }
  } finally {
    opt.dispose();
    policy.eval();
  }
  return logs;
}

/** G samples for each task, all in one generate() call. */
async function rollout(policy: DecoderLM, chosen: readonly RerankTask[], cfg: DapoConfig, o: DapoRunOptions): Promise<Sample[][]> {
  policy.eval();
  const rows = chosen.flatMap((task) => new Array<RerankTask>(cfg.groupSize).fill(task));
  const constraint = o.constraint ? await o.constraint(rows) : undefined;
  const out = generate(policy, rows.map((t) => t.promptIds), { maxNewTokens: cfg.maxNewTokens, temperature: cfg.temperature, padToken: o.pad ?? 0, stopTokens: o.stopTokens, constraint, prefill: cfg.prefill });
  return chosen.map((task, i) =>
    Array.from({ length: cfg.groupSize }, (_, g) => ({ task, response: out.tokens[i * cfg.groupSize + g]!, reward: 0, rankRe: null, outcome: { order: null }, errorAt: null })),
  );
}

function score(group: Sample[], cfg: DapoConfig): void {
  const rewardOf = rewardByName(cfg.reward);
  for (const s of group) {
    const { order } = s.task.score(s.response);
    s.rankRe = rankRe(order, s.task.rankPre);
    s.errorAt = !order && cfg.formatCredit === "first_error" ? (s.task.firstInvalidToken?.(s.response) ?? null) : null;
    s.outcome = { order, shownPosition: s.task.shownPosition, rankPre: s.task.rankPre };
    s.reward = rewardOf({ order, rankPre: s.task.rankPre, listSize: s.task.listSize, relevance: s.task.relevance }, cfg.rewardConfig);
    if (cfg.overlongBuffer > 0) s.reward += overlongPenalty(s.response.length, cfg.maxNewTokens, cfg.overlongBuffer, cfg.overlongFactor);
  }
}

/** `advantageAgainst` for the copy of the incoming order, on a list whose target is not first; else null. */
function copyAdvantage(group: readonly Sample[], cfg: DapoConfig): number | null {
  const task = group[0]!.task;
  if (task.rankPre <= 1) return null;
  const copy = Array.from({ length: task.listSize }, (_, i) => i);
  const R_copy = rewardByName(cfg.reward)({ order: copy, rankPre: task.rankPre, listSize: task.listSize, relevance: task.relevance }, cfg.rewardConfig);
  return advantageAgainst(R_copy, group.map((s) => s.reward));
}

interface OptStats {
  /** Per-token reverse KL to the teacher over the rollout batch (0 without distillation). */
  distillKL: number;
  loss: number;
  entropy: number;
  clipLow: number;
  clipHigh: number;
  tokens: number;
}

/** Token log-probs of each response under `model`, with the [N, L] response mask and entropy. */
/** `withEntropy` false skips the entropy (the teacher's and old policy's passes do not report it). */
function responseLogProbs(model: DecoderLM, samples: readonly Sample[], temperature: number, withEntropy = true): { logp: Tensor; logProbs: Tensor; mask: Tensor; entropy: Tensor | null } {
  const P = Math.max(...samples.map((s) => s.task.promptIds.length));
  const L = Math.max(1, ...samples.map((s) => s.response.length));
  const N = samples.length;
  // Right-aligned prompts would need a key mask; left-align prompt+response and pad the tail instead
  // (causal attention never looks at the tail), reading response logits at each row's offsets.
  const T = P + L;
  const ids = new Array<number>(N * T).fill(0);
  const gatherIdx = new Array<number>(N * L).fill(0);
  const targets = new Array<number>(N * L).fill(0);
  const mask = new Array<number>(N * L).fill(0);
  samples.forEach((s, n) => {
    const seq = [...s.task.promptIds, ...s.response];
    seq.forEach((t, j) => (ids[n * T + j] = t));
    s.response.forEach((t, j) => {
      gatherIdx[n * L + j] = s.task.promptIds.length - 1 + j; // the logits that predicted response token j
      targets[n * L + j] = t;
      mask[n * L + j] = 1;
    });
  });
  const logProbs = model.logitsAt(int64(ids, [N, T], model.device), int64(gatherIdx, [N, L], model.device)).div(temperature).logSoftmax(-1); // [N, L, V]
  const logp = logProbs.gather(2, int64(targets, [N, L, 1], model.device)).squeeze(2);
  const maskT = tensor(mask, [N, L], { device: model.device });
  const entropy = withEntropy ? noGrad(() => logProbs.exp().mul(logProbs).sum(-1).neg().mul(maskT).sum().div(Math.max(1, maskT.sum().item()))) : null;
  return { logp, logProbs, mask: maskT, entropy };
}

function optimise(policy: DecoderLM, opt: AdamW, groups: Sample[][], cfg: DapoConfig, reference?: DecoderLM, teacher?: DecoderLM): OptStats {
  const samples = groups.flat();
  const advantages = groupAdvantages(samples.map((s) => s.reward), cfg.groupSize);
  const totalTokens = Math.max(1, samples.reduce((a, s) => a + s.response.length, 0));
  // Old policy log-probs: the policy before this step's updates.
  const chunks = splitEvenly(samples.map((_, i) => i), cfg.miniBatches);
  const oldLogp = chunks.map((idx) => noGrad(() => tidy(() => responseLogProbs(policy, idx.map((i) => samples[i]!), cfg.temperature, false).logp.keep())));
  const refLogp = reference ? chunks.map((idx) => noGrad(() => tidy(() => responseLogProbs(reference, idx.map((i) => samples[i]!), cfg.temperature, false).logp.keep()))) : null;
  let loss = 0;
  let entropy = 0;
  let clipLow = 0;
  let clipHigh = 0;
  let distillKL = 0;
  policy.train();
  try {
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      chunks.forEach((idx, c) => {
        tidy(() => {
          const batch = idx.map((i) => samples[i]!);
          const { logp, logProbs, mask, entropy: ent } = responseLogProbs(policy, batch, cfg.temperature);
          const A = advantageTensor(batch, idx.map((i) => advantages[i]!), policy.device);
          // Token-level normalisation over the whole rollout batch (every mini-batch shares it).
          const r = dapoPolicyLoss(logp, oldLogp[c]!, A, mask, cfg.clip, totalTokens);
          let total = r.loss;
          if (refLogp && cfg.klCoef > 0) total = total.add(k3KL(logp, refLogp[c]!).mul(mask).sum().div(totalTokens).mul(cfg.klCoef));
          if (teacher && cfg.distillCoef > 0) {
            // The teacher reads the same prompt and sample; it is never updated.
            const t = noGrad(() => responseLogProbs(teacher, batch, cfg.temperature, false));
            const kl = cfg.distillEstimator === "exact" ? reverseKL(logProbs, t.logProbs) : k3KL(logp, t.logp);
            const klSum = kl.mul(mask).sum().div(totalTokens);
            distillKL += klSum.item() / cfg.epochs;
            total = total.add(klSum.mul(cfg.distillCoef));
          }
          total.backward();
          clipGradNorm(opt.params, cfg.gradClip);
          opt.step();
          opt.zeroGrad();
          loss += r.loss.item();
          entropy += ent!.item() / chunks.length / cfg.epochs;
          clipLow += r.clipFracLow;
          clipHigh += r.clipFracHigh;
        });
      });
    }
  } finally {
    for (const t of [...oldLogp, ...(refLogp ?? [])]) t.dispose();
    policy.eval();
  }
  return { loss: loss / cfg.epochs, entropy, clipLow: clipLow / cfg.epochs, clipHigh: clipHigh / cfg.epochs, tokens: totalTokens * cfg.epochs, distillKL };
}

/** Â for a mini-batch: [n], or [n, L] when some invalid answer's credit goes to its first error token. */
function advantageTensor(batch: readonly Sample[], A: readonly number[], device: string): Tensor {
  const lengths = batch.map((s) => s.response.length);
  const perToken = firstErrorAdvantages(A, lengths, batch.map((s) => s.errorAt));
  return perToken ? tensor(perToken, [batch.length, Math.max(1, ...lengths)], { device }) : tensor([...A], [batch.length], { device });
}

function splitEvenly<T>(xs: T[], parts: number): T[][] {
  const n = Math.max(1, Math.min(parts, xs.length));
  return Array.from({ length: n }, (_, i) => xs.slice(Math.floor((i * xs.length) / n), Math.floor(((i + 1) * xs.length) / n)));
}

const mean0 = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * Stage budgets per preset (docs/architecture.md, Presets). `tiny` is for tests and CI (seconds per stage),
 * `demo` for `npm run demo` on a laptop CPU (target ≤ 10 minutes for the whole pipeline; see docs/benchmarks.md for the measured time), `beauty`
 * for Amazon Beauty benchmarks on 2 cores (hours).
 */
import type { RankerKind } from "../rank/checkpoint.js";
import type { SasrecConfig } from "../rank/sasrec.js";
import type { SasrecTrainOptions } from "../rank/sasrec-train.js";
import { OUTPUT_FORMATS, type OutputFormat } from "../prompt/output-format.js";
import { isDirectPolicy, type PromptSettings } from "../prompt/prompt-file.js";
import { readManifest } from "../train/run.js";
import type { PresetName } from "../lm/presets.js";
import type { PretrainOptions } from "../train/pretrain.js";
import type { MidtrainDefaults } from "../train/midtrain.js";
import type { DapoConfig } from "../train/dapo/trainer.js";
import type { TraceMode } from "../teacher/teacher.js";
import { RERANK_MIXTURE } from "../train/tasks/mixture.js";
import type { EvidenceSet } from "../rank/evidence/features.js";
import type { CompressTrainConfig } from "../train/compress.js";

export interface PipelinePreset {
  codebookSize: number;
  ranker: RankerKind;
  sasrec: Partial<Omit<SasrecConfig, "numItems">>;
  sasrecTrain: SasrecTrainOptions;
  pretrain: Partial<Pick<PretrainOptions, "steps" | "batch" | "seqLen" | "lr" | "precision" | "layers">>;
  midtrain: Partial<Pick<MidtrainDefaults, "steps" | "batch" | "seqLen" | "lr" | "embedWarmupSteps" | "evalUsers" | "mixture">>;
  traceMode: TraceMode;
  /**
   * Plackett–Luce temperature of the evidence teacher over its scorer's logits (0: the scorer's
   * own order). Rejection sampling keeps a draw whose top-1 is the target, so a lower temperature
   * keeps more traces that follow the evidence (at 1, a single draw scored R@1 0.25 on Beauty,
   * below the ranker); unfiltered traces at 0 are the scorer's answers as they are.
   */
  teacherTemperature: number;
  /** Candidates the evidence teacher explains in its rationale (short rationales suit small models). */
  explain: number;
  /**
   * Picks the evidence teacher (and the reading stage) order by the fitted scorer before the
   * other candidates follow in the order shown (rank/evidence/scorer.ts answerOrder: copyable,
   * and on the demo's test lists 5 keeps the whole order's R@1, R@5 and NDCG@5).
   */
  teacherHead: number;
  /** Facts the evidence teacher states per item (keeps answers within maxNewTokens). */
  maxFacts: number;
  /**
   * The answer format (output-format.ts). Every preset uses `labels`: the embedded models copy
   * a ranking of ten letters without error, where ten SIDs left 30–100% of their answers
   * unparseable (docs/benchmarks.md); the rationale still cites items by SID.
   */
  format: OutputFormat;
  maxPromptTokens: number;
  /** Most recent history items in the re-ranking prompt. */
  maxHistory: number;
  maxRationaleTokens: number;
  maxNewTokens: number;
  sft: { steps: number; batch: number; lr: number; precision: "fp32" | "bf16" };
  /**
   * The evidence-reading stage (`read`, after mid-training): SFT on every learning list in the
   * direct policy's SIDs-only prompt, answered with the evidence scorer's first picks. The
   * direct policy starts from it, and the reasoning SFT when `sftFrom` is "read" (a reading of
   * whole scorer orders left a reasoning student at 0.6% valid; first-five answers at 97%).
   * `null` (or `--evidence none`) skips it.
   */
  read: PipelinePreset["sft"] | null;
  /** Copies of each reading list whose head the scorer moves (evidenceReadingExamples' movedRepeat). */
  readMovedRepeat: number;
  /**
   * Where the reasoning SFT starts: the mid-trained model, or the reading model (which already
   * follows the evidence in the SIDs-only prompt; falls back to `mid` when there is no reading stage).
   */
  sftFrom: "mid" | "read";
  /** Copies of each reasoning trace that moves the incoming head in the reasoning SFT (default 1; SftStageOptions.movedRepeat). */
  sftMovedRepeat?: number;
  /**
   * The reasoning stages' prompt (traces, SFT, RL, evaluation): `full` (item text, evidence
   * clauses, the paper's steps; ~1,000 tokens) or `brief` (the reading stage's SIDs-only prompt
   * with a one-line rationale before the ranking; ~250 tokens), which a reasoning SFT from the
   * reading model already knows how to read. Default `full`.
   */
  reasoningLayout?: "full" | "brief";
  /**
   * The direct policy's prompt, and the reading stage's (the direct policy starts from the
   * reading model): `sids` (the SIDs-only prompt with compact evidence, default) or `full` (the
   * reasoning stages' full prompt, answered with the ranking alone). `full` is what measures the
   * context compressor against the paper's prompt with a policy that re-ranks (the small
   * reasoning students copy in the full prompt; docs/benchmarks.md, session 20).
   */
  directLayout?: "sids" | "full";
  /** The language-model stages evaluated on the test lists (default all). */
  evaluate?: ("sft" | "rl" | "direct")[];
  /**
   * The language-model policies the run trains (default both): `reasoning` (SFT on the
   * teacher's traces, then DAPO) and `direct` (the reading stage, then DAPO without a rationale).
   * A direct-only run skips the reasoning stages it does not need, the costliest in the full
   * prompt (a 1,350-step full-layout SFT is ~50 min on 2 cores); it needs the reading stage,
   * since without one the direct policy starts from the reasoning RL model.
   */
  policies?: ("reasoning" | "direct")[];
  dapo: Partial<DapoConfig> & Pick<DapoConfig, "steps" | "maxNewTokens">;
  /**
   * How DAPO samples its rollouts (both RL passes). `constrained`: the ranking line is forced to
   * a valid permutation, so R_fmt is always 1 and RL learns ranking only — what a policy that
   * writes no valid list yet needs (the demo's SFT model in the compact format: 0%; every free
   * rollout would score the invalid penalty, no group would vary, and nothing would be learned).
   * `free`: the policy samples unconstrained and invalid answers take the invalid penalty, so RL
   * also teaches the format: from a compact-format SFT model at 69% valid, 30 free DAPO steps
   * reached 80% (docs/benchmarks.md). In the labels format SFT models write valid answers
   * anyway, and the two agree.
   * Evaluation and serving decode constrained either way.
   */
  rlRollouts: "constrained" | "free";
  /**
   * The direct policy (technical report): from the RL model, SFT on the teacher's rankings
   * without reasoning, then an RL pass without chain of thought, both on the `sids` prompt.
   * `null` skips both stages.
   */
  direct: { maxPromptTokens: number; maxNewTokens: number; sft: PipelinePreset["sft"]; dapo: Partial<DapoConfig> & Pick<DapoConfig, "steps" | "maxNewTokens"> } | null;
  /**
   * Lists to learn from inside the train prefixes (src/rank/learning-lists.ts): up to
   * `positionsPerUser` positions of every learning user, each scored by a ranker that never
   * trained on the list's target (a time cut, or cross-fitting over `folds` user folds), so the
   * lists are as hard as the test lists. SFT traces, the evidence scorer and RL learn from them
   * beside the valid lists; no evaluation uses them. `null`: valid lists only.
   */
  trainLists: { method: "cut" | "folds"; folds?: number; positionsPerUser: number } | null;
  /**
   * Collaborative evidence on every prompt's candidate lines (src/rank/evidence/), and so what
   * the evidence scorer, the teacher that ranks by it, and its baseline row see.
   */
  evidence: EvidenceSet;
  /** Valid lists the re-ranker learns from, at most (0 = all but the held-out slice). */
  learnUsers: number;
  /** Test lists evaluated (0 = all). */
  evalUsers: number;
  /**
   * Test lists the reasoning stages (SFT, RL) are evaluated on, a seeded subset of those
   * (0 or absent = all): a reasoning decode costs ~0.5 s a list on 2 cores, the direct policy's
   * ~0.05 s. Their paired intervals are then computed on that subset.
   */
  reasoningEvalUsers?: number;
  evalBatch: number;
  /**
   * Several graded positives per learning list for DAPO (`src/rank/graded.ts`): candidates bought
   * within this many interactions after the target are positives of grade 1. Absent or 0: the
   * target alone. Only the list rewards (`--rl-reward auc|ndcg`) read the grades.
   */
  gradedWindow?: number;
  /**
   * Test lists with several positives (`testWindow`, src/data/split.ts): each user's last W − 1
   * items are set aside before anything is trained, and a test list's positives are the user's
   * next W items that the upstream ranker retrieved (graded NDCG@5 beside the target's metrics).
   * Absent or 1: leave-one-out.
   */
  testWindow?: number;
  /**
   * The context every re-ranking prompt shows (technical report §5.1): `full` history, or
   * `compressed` by the context compressor (src/prompt/compress.ts), trained by RL with the
   * offline evidence judge right after mid-training (the `compress` stage) and used by every
   * later stage, the evaluation and serving. Default `full`.
   */
  context?: "full" | "compressed";
  /** The compressor's RL budget and reward (src/train/compress.ts COMPRESS_DEFAULTS). */
  compress?: Partial<Omit<CompressTrainConfig, "maxHistory" | "seed">>;
}

export const PIPELINE_PRESETS: Record<PresetName, PipelinePreset> = {
  tiny: {
    codebookSize: 32,
    ranker: "item-knn",
    sasrec: {},
    sasrecTrain: {},
    pretrain: { steps: 20 },
    midtrain: { steps: 20, embedWarmupSteps: 4, evalUsers: 0 },
    traceMode: "targeted",
    teacherTemperature: 0.5,
    explain: 1,
    teacherHead: 5,
    maxFacts: 2,
    format: "labels",
    maxPromptTokens: 1500,
    maxHistory: 10,
    maxRationaleTokens: 160,
    maxNewTokens: 240,
    sft: { steps: 20, batch: 4, lr: 2e-3, precision: "fp32" },
    read: { steps: 10, batch: 8, lr: 2e-3, precision: "fp32" },
    readMovedRepeat: 3,
    sftFrom: "mid",
    dapo: { steps: 3, promptsPerStep: 2, groupSize: 4, maxNewTokens: 240, lr: 1e-4, checkpointEvery: 3 },
    rlRollouts: "constrained",
    direct: {
      maxPromptTokens: 400,
      maxNewTokens: 80,
      sft: { steps: 10, batch: 4, lr: 2e-3, precision: "fp32" },
      dapo: { steps: 2, promptsPerStep: 2, groupSize: 4, maxNewTokens: 80, lr: 1e-4, checkpointEvery: 2 },
    },
    trainLists: { method: "folds", folds: 2, positionsPerUser: 2 },
    evidence: "all",
    learnUsers: 0,
    evalUsers: 40,
    evalBatch: 20,
  },
  demo: {
    codebookSize: 64,
    ranker: "sasrec",
    sasrec: { hidden: 64, layers: 2, dropout: 0.3 },
    sasrecTrain: { epochs: 20, batchSize: 128, lr: 1e-3 },
    pretrain: { steps: 120, batch: 16, seqLen: 128 },
    midtrain: { steps: 500, batch: 8, seqLen: 256, embedWarmupSteps: 30, evalUsers: 0, mixture: RERANK_MIXTURE },
    // The scorer's own answers on every learning list (its top-1 is right more often than the
    // incoming head on held-out lists). Rejection traces move the head about as often (24% against
    // 22%) but where the target happened to lie, which the prompt does not show; the unfiltered
    // ones move it where the evidence says, as the reading stage does, and the reasoning student
    // learns that (RL +0.000 R@1 against +0.015 to +0.029; docs/benchmarks.md, session 15).
    traceMode: "unfiltered",
    teacherTemperature: 0,
    explain: 1,
    teacherHead: 5,
    maxFacts: 1,
    format: "labels",
    maxPromptTokens: 1024,
    maxHistory: 8,
    maxRationaleTokens: 160,
    maxNewTokens: 240,
    // 450 steps with the head-moving traces thrice: the reasoning student moves heads after the
    // rationale as the reading one does after "Ranking:"; 200 steps still kept every head
    // (session 15), and 300 were a coin toss: +0.015 and +0.029 R@1 in session 15, −0.029 after
    // session 17's kernel changes, where 450 gave +0.023 (lr 5e-4 at 300: −0.008;
    // docs/benchmarks.md, session 17).
    sft: { steps: 450, batch: 8, lr: 1e-3, precision: "bf16" },
    sftMovedRepeat: 3,
    // The head-moving lists thrice. 900 steps at 1e-3: +0.043 R@1 on the demo's test lists, 99%
    // valid; 300 steps kept the incoming head (+0.000 to +0.013). 600 steps at 2e-3: direct
    // +0.033 R@1 and 99.4% valid, and the reasoning student after it +0.029 (docs/benchmarks.md,
    // session 15), in two thirds of the time.
    read: { steps: 600, batch: 16, lr: 2e-3, precision: "bf16" },
    readMovedRepeat: 3,
    // From the reading model: 97% valid reasoning answers and NDCG@5 +0.015 [+0.002, +0.031] on
    // 200 test lists after RL, against 3.5% and −0.014 from the mid-trained model (docs/benchmarks.md).
    sftFrom: "read",
    // The reading stage's prompt with a one-line rationale: SFT 188 → ~45 s, RL 161 → ~35 s and
    // the same reasoning result as the full prompt (R@1 +0.000 on 200 lists, 95–100% valid;
    // docs/benchmarks.md, session 13).
    reasoningLayout: "brief",
    // The reasoning SFT model is not evaluated in the demo; RL is, on every test list (a brief
    // reasoning decode costs ~0.1 s a list on 2 cores; on a 200-list subset even the evidence
    // scorer's +0.06 R@1 had an interval reaching below zero).
    evaluate: ["rl", "direct"],
    dapo: { steps: 4, promptsPerStep: 4, groupSize: 4, maxNewTokens: 240, lr: 2e-5, checkpointEvery: 3, prefill: "bf16" },
    rlRollouts: "constrained",
    direct: {
      maxPromptTokens: 400,
      maxNewTokens: 80,
      sft: { steps: 60, batch: 16, lr: 1e-3, precision: "bf16" },
      dapo: { steps: 6, promptsPerStep: 8, groupSize: 4, maxNewTokens: 80, lr: 2e-5, checkpointEvery: 3, prefill: "bf16" },
    },
    trainLists: { method: "cut", positionsPerUser: 3 },
    evidence: "all",
    learnUsers: 0,
    evalUsers: 0,
    // Smaller decode batches are faster here and hold less: on 300 test lists (direct + brief
    // reasoning) batch 16 took 32 s at a 953 MB peak, 25: 34 s / 1,222 MB, 50: 56 s / 2,111 MB
    // (docs/benchmarks.md, session 15).
    evalBatch: 16,
  },
  beauty: {
    codebookSize: 256,
    ranker: "sasrec",
    sasrec: {},
    sasrecTrain: {},
    pretrain: {},
    midtrain: { mixture: RERANK_MIXTURE },
    traceMode: "unfiltered", // as in the demo preset (rejection traces: RL −0.005 R@1 on Beauty)
    teacherTemperature: 0,
    explain: 3,
    teacherHead: 5,
    maxFacts: 3,
    format: "labels",
    maxPromptTokens: 1536,
    maxHistory: 20,
    maxRationaleTokens: 256,
    maxNewTokens: 360,
    sft: { steps: 2000, batch: 8, lr: 3e-4, precision: "bf16" },
    read: { steps: 3000, batch: 16, lr: 3e-4, precision: "bf16" },
    readMovedRepeat: 3,
    sftFrom: "read", // as in the demo preset
    dapo: { steps: 200, promptsPerStep: 8, groupSize: 8, maxNewTokens: 360, lr: 1e-5, checkpointEvery: 10, prefill: "bf16" },
    rlRollouts: "constrained",
    direct: {
      maxPromptTokens: 512,
      maxNewTokens: 100,
      sft: { steps: 500, batch: 16, lr: 3e-4, precision: "bf16" },
      dapo: { steps: 100, promptsPerStep: 8, groupSize: 8, maxNewTokens: 100, lr: 1e-5, checkpointEvery: 10, prefill: "bf16" },
    },
    trainLists: { method: "cut", positionsPerUser: 10 },
    evidence: "all",
    learnUsers: 0,
    evalUsers: 0,
    evalBatch: 64,
  },
};

/**
 * How a preset prompts and decodes the re-ranker: the settings DAPO rollouts and evaluation
 * must share, so a model is evaluated on the prompts it was trained with.
 */
export function rerankSettings(P: PipelinePreset) {
  // Prompts are prefilled in the precision the preset trains in.
  return { format: P.format, layout: P.reasoningLayout ?? "full", maxPromptTokens: P.maxPromptTokens, maxHistory: P.maxHistory, maxRationaleTokens: P.maxRationaleTokens, constrained: true, prefill: P.sft.precision } as const;
}

/** The same for the direct policy: its prompt (`sids` unless `directLayout` says `full`) and no rationale. */
export function directSettings(P: PipelinePreset) {
  const layout = P.directLayout ?? "sids";
  // The direct preset's budget is sized for the SIDs-only prompt; the full one needs the reasoning stages'.
  const maxPromptTokens = layout === "sids" ? (P.direct?.maxPromptTokens ?? P.maxPromptTokens) : P.maxPromptTokens;
  return { ...rerankSettings(P), layout, maxPromptTokens, maxRationaleTokens: 0 } as const;
}

/**
 * The prompt settings of a model as it was trained (its `gr2_prompt.json`: answer format, layout,
 * history length), the rest from the preset: stages that prompt an already-trained model
 * (`gr2 distill`, `gr2 ablate rewards`) must not fall back to the preset's layout.
 */
export function settingsAsTrained(P: PipelinePreset, trained: PromptSettings) {
  const base = isDirectPolicy(trained)
    ? directSettings({ ...P, directLayout: trained.layout === "full" ? "full" : "sids" })
    : rerankSettings({ ...P, reasoningLayout: trained.layout === "sids" ? "full" : trained.layout });
  return { ...base, format: trained.format, ...(trained.maxHistory !== undefined ? { maxHistory: trained.maxHistory } : {}), ...(trained.maxPromptTokens !== undefined ? { maxPromptTokens: trained.maxPromptTokens } : {}) };
}

/**
 * The answer format a run folder's traces were written in (its language models learned it from
 * them), or undefined before the traces stage (or for runs that did not record it).
 */
export function runAnswerFormat(runDir: string): OutputFormat | undefined {
  const format = readManifest(runDir).stages.traces?.config?.format;
  return OUTPUT_FORMATS.includes(format as OutputFormat) ? (format as OutputFormat) : undefined;
}

/**
 * `gr2 ablate rewards`: the paper's reward ablation. From the same SFT checkpoint and with the
 * same budget, DAPO runs once with the naive reward (R_rank + α·R_fmt, always) and once with
 * the conditional one; every `evalEvery` steps both policies re-rank the same evaluation lists.
 * The finding to test: the naive reward drifts toward copying the incoming order (its copy
 * rate climbs), the conditional one does not.
 *
 * Needs a run folder in which `gr2 pipeline` (or the stage commands) finished the SIDs,
 * candidate lists and SFT.
 */
import { join } from "node:path";
import type { Dataset } from "../data/types.js";
import { leaveOneOut } from "../data/split.js";
import { readSidMap } from "../sid/sidmap.js";
import { readCandidateLists } from "../rank/candidates.js";
import { holdOutUsers } from "../rank/baselines/listwise-train.js";
import { runEvidenceSet, runPromptContext, runScorerWeights } from "./context.js";
import { loadHFModel, loadHFTokenizer } from "../lm/hf.js";
import { rerankWithModel } from "../eval/llm-rerank.js";
import { perUserMetrics, mean } from "../rank/metrics.js";
import { runRl } from "../train/dapo/stage.js";
import { DAPO_DEFAULTS } from "../train/dapo/trainer.js";
import { ablationStage, requireStage } from "../train/run.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { Rng } from "../util/rng.js";
import type { RewardName } from "../reward/registry.js";
import type { PresetName } from "../lm/presets.js";
import { PIPELINE_PRESETS, rerankSettings, runAnswerFormat, settingsAsTrained } from "./presets.js";
import { readPromptSettings } from "../prompt/prompt-file.js";

export interface AblateRewardsOptions {
  dataset: Dataset;
  runDir: string;
  preset: PresetName;
  steps: number;
  evalEvery: number;
  /** Evaluation lists (held-out valid users: model selection data, never the test lists). */
  evalUsers: number;
  /** The reasoning prompt's token budget (default: the SFT model's gr2_prompt.json, else the preset's). */
  maxPromptTokens?: number;
  device: string;
  seed: number;
  /** Rewards to compare, by registered name (default: the paper's naive vs conditional). */
  rewards?: readonly RewardName[];
  log?: (line: string) => void;
}

export interface AblationPoint {
  reward: RewardName;
  step: number;
  "recall@1": number;
  "ndcg@5": number;
  identity_rate: number;
  /** Copies among lists whose target is not first (src/reward/monitors.ts). */
  identity_rate_nonoptimal: number;
  /**
   * Mean `copy_advantage` of the DAPO steps since the previous point (null at step 0): the
   * advantage a copy of the incoming order would get in the training groups whose target is not
   * first. Its sign says which way the reward pulls, before the copy rate shows it.
   */
  copy_advantage: number | null;
}

export async function ablateRewards(o: AblateRewardsOptions): Promise<{ points: AblationPoint[]; reportPath: string }> {
  // The SFT model is prompted as it was trained (its gr2_prompt.json: answer format and prompt
  // layout), whatever the preset says: a `--reasoning-layout full` run of the demo preset must
  // not be ablated in the brief prompt.
  const sft = join(o.runDir, requireStage(o.runDir, "sft").outputs.model!);
  const preset = PIPELINE_PRESETS[o.preset];
  const P = { ...preset, maxPromptTokens: o.maxPromptTokens ?? preset.maxPromptTokens };
  const trained = readPromptSettings(sft);
  // The budget: --max-prompt-tokens when given, else the one the model was trained with, else the preset's.
  const settings = trained ? settingsAsTrained(P, { ...trained, ...(o.maxPromptTokens !== undefined ? { maxPromptTokens: o.maxPromptTokens } : {}) }) : rerankSettings({ ...P, format: runAnswerFormat(o.runDir) ?? P.format });
  const items = o.dataset.catalogue.items;
  const split = leaveOneOut(o.dataset.interactions, { skipShortUsers: true });
  const sidMap = await readSidMap(join(o.runDir, "sids", "sid_map.json"));
  const valid = readCandidateLists(join(o.runDir, "candidates", "valid.jsonl"), items.map((i) => i.id));
  const { train, heldOut } = holdOutUsers(valid, 0.1, o.seed);
  const evalLists = heldOut.length > o.evalUsers ? Array.from(new Rng(o.seed).sample(heldOut.length, o.evalUsers)).sort((a, b) => a - b).map((i) => heldOut[i]!) : heldOut;
  const context = runPromptContext(o.dataset, sidMap, split, runEvidenceSet(o.runDir), runScorerWeights(o.runDir));
  const tokenizer = loadHFTokenizer(sft);
  const points: AblationPoint[] = [];
  const evaluate = async (reward: AblationPoint["reward"], step: number, dir: string, copyAdvantage: number | null) => {
    const model = loadHFModel(dir, o.device);
    const r = await rerankWithModel(model, tokenizer, context, evalLists, { ...settings, batch: P.evalBatch, maxNewTokens: P.maxNewTokens, label: `${reward} @${step}` });
    model.dispose();
    const m = perUserMetrics(r.ranks, ["recall@1", "ndcg@5"] as const);
    const point: AblationPoint = { reward, step, "recall@1": mean(m["recall@1"]), "ndcg@5": mean(m["ndcg@5"]), identity_rate: r.identityRate, identity_rate_nonoptimal: r.identityRateNonoptimal, copy_advantage: copyAdvantage };
    points.push(point);
    o.log?.(`${reward} step ${step}: R@1 ${point["recall@1"].toFixed(4)} NDCG@5 ${point["ndcg@5"].toFixed(4)} copy ${(point.identity_rate * 100).toFixed(1)}% (target not first: ${(point.identity_rate_nonoptimal * 100).toFixed(1)}%)${copyAdvantage === null ? "" : `, copy's advantage in training ${signed(copyAdvantage)}`}`);
  };
  for (const reward of o.rewards ?? (["naive", "conditional"] as const)) {
    await evaluate(reward, 0, sft, null);
    for (let step = o.evalEvery; step <= o.steps; step += o.evalEvery) {
      // Each call extends the same run by evalEvery steps (DAPO resumes from its checkpoint).
      const r = await runRl({
        runDir: o.runDir,
        stage: ablationStage(reward),
        from: sft,
        lists: train,
        context,
        ...settings,
        shuffle: false,
        dapo: { ...DAPO_DEFAULTS, ...P.dapo, reward, steps: step, checkpointEvery: o.evalEvery, seed: o.seed },
        device: o.device,
      });
      const seen = r.log.flatMap((l) => (l.copy_advantage === null ? [] : [l.copy_advantage]));
      await evaluate(reward, step, r.modelDir, seen.length ? mean(seen) : null);
    }
  }
  const reportPath = join(o.runDir, "ablate-rewards", "report.md");
  writeJsonAtomic(join(o.runDir, "ablate-rewards", "report.json"), { preset: o.preset, evalLists: evalLists.length, points });
  writeFileAtomic(reportPath, markdown(points, evalLists.length));
  return { points, reportPath };
}

const signed = (x: number): string => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;

function markdown(points: readonly AblationPoint[], lists: number): string {
  const rows = points.map((p) => `| ${p.reward} | ${p.step} | ${p["recall@1"].toFixed(4)} | ${p["ndcg@5"].toFixed(4)} | ${(p.identity_rate * 100).toFixed(1)}% | ${(p.identity_rate_nonoptimal * 100).toFixed(1)}% | ${p.copy_advantage === null ? "" : signed(p.copy_advantage)} |`);
  return [
    `# Reward ablation: ${[...new Set(points.map((p) => p.reward))].join(" vs ")}`,
    "",
    `Same SFT start, same DAPO budget; ${lists} held-out valid lists re-ranked with constrained greedy decoding at each point.`,
    "The paper's finding: the naive reward drifts toward copying the incoming order; the conditional one does not.",
    "The last column is the advantage a copy would have had in the training groups since the previous point (lists whose target is not first):",
    "positive, the reward pays a copy more than the policy's own samples and pulls toward copying; negative, away from it.",
    "",
    "| reward | step | R@1 | NDCG@5 | copy rate | copy rate, target not first | copy's advantage in training |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
  ].join("\n");
}


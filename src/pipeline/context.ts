/**
 * The prompt context of a run: the catalogue, its SIDs, complement hints and the evidence the
 * run's prompts show, all from the train split. One place, so that the pipeline's stages and
 * `gr2 ablate rewards` prompt a model exactly as it was trained.
 */
import type { Dataset, Split } from "../data/types.js";
import { evidenceSource, EVIDENCE_SETS, type EvidenceSet } from "../rank/evidence/features.js";
import { datasetPromptContext } from "../prompt/rerank-prompt.js";
import { readManifest } from "../train/run.js";
import { parseScorerWeights, type ScorerWeights } from "../rank/evidence/scorer.js";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SidMap } from "../sid/sidmap.js";
import type { CandidateList } from "../rank/candidates.js";
import { holdOutUsers } from "../rank/baselines/listwise-train.js";
import { Rng } from "../util/rng.js";

export function runPromptContext(ds: Dataset, sidMap: SidMap, split: Split, set: EvidenceSet, scorer?: ScorerWeights) {
  const source = evidenceSource(ds.catalogue.items, split.train, ds.interactions.userIds);
  return { ...datasetPromptContext(ds, (i) => sidMap.sidOf(i), split.train), evidence: { source, set, ...(scorer ? { scorer } : {}) } };
}

/** The path of a run's fitted evidence scorer (the pipeline's `evidence` stage). */
export const scorerPathOf = (runDir: string): string => join(runDir, "evidence", "scorer.json");

/** A run's evidence scorer weights, or undefined when the run has none. */
export function runScorerWeights(runDir: string): ScorerWeights | undefined {
  const path = scorerPathOf(runDir);
  return existsSync(path) ? parseScorerWeights(JSON.parse(readFileSync(path, "utf8")), path) : undefined;
}

/** The evidence set a run's prompts showed ("none" for runs from before evidence existed). */
export function runEvidenceSet(runDir: string): EvidenceSet {
  const set = readManifest(runDir).stages.evidence?.config?.set;
  return EVIDENCE_SETS.includes(set as EvidenceSet) ? (set as EvidenceSet) : "none";
}

/**
 * The lists a run's re-ranker learns from and the slice held out for model selection: the valid
 * lists of 90% of users and the train-prefix lists of those same users (never the held-out
 * users'), sampled to `learnUsers` (0 = all). The pipeline, `gr2 distill` and the ablations
 * agree on them, so no stage learns from another's held-out or test lists.
 */
export function reRankerLists(valid: readonly CandidateList[], train: readonly CandidateList[], learnUsers: number, seed: number) {
  const { train: learnValid, heldOut: heldOutValid } = holdOutUsers(valid, 0.1, seed);
  const heldOutUsers = new Set(heldOutValid.map((l) => l.user));
  const learnLists = sample([...learnValid, ...train.filter((l) => !heldOutUsers.has(l.user))], learnUsers, seed);
  return { learnLists, heldOutValid };
}

/** A seeded sample of n lists in their original order (all when n ≤ 0 or n ≥ the count). */
export function sample<T>(xs: readonly T[], n: number, seed: number): T[] {
  if (n <= 0 || n >= xs.length) return [...xs];
  return Array.from(new Rng(seed).sample(xs.length, n)).sort((a, b) => a - b).map((i) => xs[i]!);
}

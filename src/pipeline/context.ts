/**
 * The prompt context of a run: the catalogue, its SIDs, complement hints and the evidence the
 * run's prompts show, all from the train split. One place, so that the pipeline's stages and
 * `gr2 ablate rewards` prompt a model exactly as it was trained.
 */
import type { Dataset, Split } from "../data/types.js";
import { evidenceSource, EVIDENCE_SETS, type EvidenceSet } from "../rank/evidence/features.js";
import { datasetPromptContext } from "../prompt/rerank-prompt.js";
import { readManifest } from "../train/run.js";
import type { SidMap } from "../sid/sidmap.js";

export function runPromptContext(ds: Dataset, sidMap: SidMap, split: Split, set: EvidenceSet) {
  const source = evidenceSource(ds.catalogue.items, split.train, ds.interactions.userIds);
  return { ...datasetPromptContext(ds, (i) => sidMap.sidOf(i), split.train), evidence: { source, set } };
}

/** The evidence set a run's prompts showed ("none" for runs from before evidence existed). */
export function runEvidenceSet(runDir: string): EvidenceSet {
  const set = readManifest(runDir).stages.evidence?.config?.set;
  return EVIDENCE_SETS.includes(set as EvidenceSet) ? (set as EvidenceSet) : "none";
}

/**
 * The run folder: `runs/<name>/` holds every stage's artefacts and one manifest,
 * `run.json`, that says which stages finished, where their outputs are and what they
 * measured. Any stage can then be re-run alone, resumed, or fed from outside by pointing the
 * manifest at the user's own files.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "../util/atomic.js";

export interface StageRecord {
  status: "running" | "done";
  /** Paths relative to the run folder. */
  outputs: Record<string, string>;
  metrics: Record<string, unknown>;
  config: Record<string, unknown>;
  finishedAt?: string;
}

export interface RunManifest {
  version: 1;
  stages: Record<string, StageRecord>;
}

/**
 * The reward ablation's stages (`gr2 ablate rewards`): experiments on a run, not its product, so
 * serving never picks their models.
 */
export const ablationStage = (reward: string): string => `ablate-${reward}`;
export const isAblationStage = (stage: string): boolean => stage.startsWith("ablate-");

export function readManifest(runDir: string): RunManifest {
  const path = join(runDir, "run.json");
  if (!existsSync(path)) return { version: 1, stages: {} };
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunManifest;
  } catch (e) {
    throw new Error(`${path}: not a valid run manifest (${(e as Error).message})`);
  }
}

export function recordStage(runDir: string, stage: string, record: StageRecord): void {
  const m = readManifest(runDir);
  m.stages[stage] = { ...record, ...(record.status === "done" ? { finishedAt: new Date().toISOString() } : {}) };
  writeJsonAtomic(join(runDir, "run.json"), m);
}

/** The finished stage's record, or an error naming the stage to run first. */
export function requireStage(runDir: string, stage: string): StageRecord {
  const s = readManifest(runDir).stages[stage];
  if (!s || s.status !== "done") throw new Error(`${join(runDir, "run.json")}: stage "${stage}" has not finished; run \`gr2 ${stage}\` first`);
  return s;
}

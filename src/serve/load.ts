/**
 * What `--model DIR` names: a run folder (its `run.json` lists finished stages; the newest one
 * with a model is served) or a Hugging Face model folder (config.json + weights + tokenizer).
 * A run's direct policy (a stage trained on the `sids` prompt layout without reasoning) is
 * not that model: it is returned beside it (`direct`), for direct-mode requests. How to prompt
 * the model comes from its folder's gr2_prompt.json when it has one, else the run's manifest.
 * The SID map comes from `--sids`, else the stage's recorded `sid_map` output, else the run's
 * `sids/sid_map.json` (what `gr2 pipeline` writes), else a `sid_map.json` inside the model
 * folder (mid-training writes one there). The reward ablation's stages (`ablate-naive`,
 * `ablate-conditional`) are experiments on the run, not its product, and are never served.
 */
import { existsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { OUTPUT_FORMATS, type OutputFormat } from "../prompt/output-format.js";
import { PROMPT_LAYOUTS, type PromptLayout } from "../prompt/rerank-prompt.js";
import type { StageRecord } from "../train/run.js";
import { isDirectPolicy, readPromptSettings } from "../prompt/prompt-file.js";
import type { CompressorWeights } from "../prompt/compress.js";
import type { ScorerWeights } from "../rank/evidence/scorer.js";
import type { EvidenceSet } from "../rank/evidence/features.js";
import { isAblationStage, readManifest } from "../train/run.js";

/** Later stages first: when finish times tie (or are missing), the later stage wins. */
const STAGE_ORDER = ["opd", "rl", "dapo", "sft", "midtrain", "import", "pretrain"];

export interface ResolvedModel {
  /** The HF folder to load. */
  modelDir: string;
  /** The run folder and stage, when DIR was a run. */
  runDir?: string;
  stage?: string;
  /** A SID map found next to the model (undefined: none found). */
  sidMapPath?: string;
  /** A default served-model name: the run's (or folder's) name. */
  name: string;
  /** How the run prompted the model (newest stage that recorded it), so serving matches training. */
  prompt?: { format?: OutputFormat; maxHistory?: number; layout?: PromptLayout; direct?: boolean; maxPromptTokens?: number; evidence?: EvidenceSet; scorer?: ScorerWeights; compressor?: CompressorWeights };
  /** The run's direct policy, when it has one (served for direct-mode requests). */
  direct?: ResolvedModel;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

/** The SID map file of a `--sids` value: the file itself, or `sid_map.json` in a folder. */
export function sidMapFile(path: string): string {
  return isDir(path) ? join(path, "sid_map.json") : path;
}

export function resolveModel(dir: string, sids?: string): ResolvedModel {
  const abs = resolve(dir);
  if (!isDir(abs)) throw new Error(`--model ${dir}: no such folder`);
  let out: ResolvedModel;
  if (existsSync(join(abs, "run.json"))) {
    const stages = readManifest(abs).stages;
    const finished = Object.entries(stages).filter(([name, s]) => s.status === "done" && typeof s.outputs?.model === "string" && !isAblationStage(name));
    if (finished.length === 0) throw new Error(`${join(abs, "run.json")}: no finished stage has a model to serve`);
    const rank = (name: string) => {
      const i = STAGE_ORDER.indexOf(name);
      return i < 0 ? STAGE_ORDER.length : i;
    };
    finished.sort(([a, sa], [b, sb]) => {
      const ta = Date.parse(sa.finishedAt ?? "") || 0;
      const tb = Date.parse(sb.finishedAt ?? "") || 0;
      return tb - ta || rank(a) - rank(b);
    });
    // How each stage's model was prompted: its folder's gr2_prompt.json (what these weights
    // learned) first, else the run's manifest.
    const saved = new Map(finished.map(([name, r]) => [name, readPromptSettings(join(abs, r.outputs.model!))]));
    const directStage = ([name, r]: [string, StageRecord]) => {
      const s = saved.get(name);
      return s ? isDirectPolicy(s) : layoutOf(r) === "sids";
    };
    const main = finished.filter((e) => !directStage(e));
    const direct = finished.filter((e) => directStage(e));
    const fromRun = (list: [string, StageRecord][]): ResolvedModel => {
      const [stage, record] = list[0]!;
      const modelDir = join(abs, record.outputs.model!);
      // The stage's own map, else the run's: `gr2 pipeline` keeps one in sids/ for all stages.
      const recorded = [record.outputs.sid_map ? join(abs, record.outputs.sid_map) : "", join(abs, "sids", "sid_map.json")].find((f) => f && existsSync(f));
      const promptConfig = list.map(([, r]) => r.config ?? {}).find((c) => OUTPUT_FORMATS.includes(c.format as OutputFormat));
      const layout = layoutOf(record);
      const prompt: ResolvedModel["prompt"] = saved.get(stage) ?? {
        ...(promptConfig ? { format: promptConfig.format as OutputFormat } : {}),
        ...(typeof promptConfig?.maxHistory === "number" ? { maxHistory: promptConfig.maxHistory } : {}),
        ...(layout ? { layout } : {}),
      };
      return { modelDir, runDir: abs, stage, name: basename(abs), sidMapPath: recorded, ...(Object.keys(prompt).length > 0 ? { prompt } : {}) };
    };
    out = fromRun(main.length > 0 ? main : direct);
    if (main.length > 0 && direct.length > 0) out.direct = fromRun(direct);
  } else {
    const prompt = readPromptSettings(abs);
    out = { modelDir: abs, name: basename(abs), ...(prompt ? { prompt } : {}) };
  }
  for (const m of [out, ...(out.direct ? [out.direct] : [])]) {
    if (existsSync(join(m.modelDir, "config.json"))) continue;
    throw new Error(m.stage ? `${join(abs, "run.json")}: stage "${m.stage}" finished with model ${m.modelDir}, which has no config.json (moved or deleted?)` : `${m.modelDir}: no config.json (is this a Hugging Face model folder or a GR2 run folder?)`);
  }
  if (sids !== undefined) {
    const file = sidMapFile(sids);
    if (!existsSync(file)) throw new Error(`--sids ${sids}: no such file`);
    out.sidMapPath = file;
  } else if (!out.sidMapPath && existsSync(join(out.modelDir, "sid_map.json"))) {
    out.sidMapPath = join(out.modelDir, "sid_map.json");
  }
  return out;
}

function layoutOf(r: StageRecord): PromptLayout | undefined {
  const l = r.config?.layout;
  return PROMPT_LAYOUTS.includes(l as PromptLayout) ? (l as PromptLayout) : undefined;
}

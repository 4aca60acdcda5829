/**
 * How a model was prompted, kept beside its weights (`gr2_prompt.json` in the model folder), so
 * that the folder on its own — exported, copied, served without its run — is prompted as it
 * was trained: a direct policy shown the full prompt, or a compact-format model asked for JSON,
 * would answer off-distribution without an error anywhere.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeJsonAtomic } from "../util/atomic.js";
import { OUTPUT_FORMATS, type OutputFormat } from "./output-format.js";
import { PROMPT_LAYOUTS, type PromptLayout } from "./rerank-prompt.js";
import { EVIDENCE_SETS, showsRank, type EvidenceSet } from "../rank/evidence/features.js";
import { parseScorerWeights, type ScorerWeights } from "../rank/evidence/scorer.js";
import { parseCompressorWeights, type CompressorWeights } from "./compress.js";

export const PROMPT_FILE = "gr2_prompt.json";

export interface PromptSettings {
  format: OutputFormat;
  layout: PromptLayout;
  /**
   * The model answers with the ranking alone (a direct policy). The `sids` layout is always
   * direct; a `full`-layout model is direct only when this says so (`--direct-layout full`).
   */
  direct?: boolean;
  /** Most recent history items shown (absent: unknown). */
  maxHistory?: number;
  /**
   * The prompt's token budget in training (absent: none): a longer prompt lost history items,
   * then title words, to fit it, and serving cuts the same way so the model sees what it learned on.
   */
  maxPromptTokens?: number;
  /** The evidence shown on candidate lines (absent: none); serving needs the catalogue's statistics for it. */
  evidence?: EvidenceSet;
  /** The evidence scorer's weights, for the `ranked` set (the ranks shown are computed with them). */
  scorer?: ScorerWeights;
  /** The context compressor's policy, when the model was trained on compressed histories (compress.ts). */
  compressor?: CompressorWeights;
}

export function writePromptSettings(modelDir: string, s: PromptSettings): void {
  const ranked = s.evidence !== undefined && showsRank(s.evidence);
  if (ranked && !s.scorer) throw new Error(`${modelDir}: a model prompted with the "ranked" evidence set needs the evidence scorer's weights beside it`);
  writeJsonAtomic(join(modelDir, PROMPT_FILE), {
    format: s.format,
    layout: s.layout,
    ...(s.direct && s.layout !== "sids" ? { direct: true } : {}),
    ...(s.maxHistory !== undefined ? { maxHistory: s.maxHistory } : {}),
    ...(s.maxPromptTokens !== undefined ? { maxPromptTokens: s.maxPromptTokens } : {}),
    ...(s.evidence && s.evidence !== "none" ? { evidence: s.evidence } : {}),
    ...(ranked ? { scorer: s.scorer } : {}),
    ...(s.compressor ? { compressor: s.compressor } : {}),
  });
}

/** The folder's settings, or undefined when it has none; a malformed file is an error naming the field. */
/** Whether a model answers without reasoning: the `sids` layout, or a `direct` mark. */
export const isDirectPolicy = (s: { layout?: PromptLayout; direct?: boolean } | undefined): boolean => s !== undefined && (s.layout === "sids" || s.direct === true);

export function readPromptSettings(modelDir: string): PromptSettings | undefined {
  const path = join(modelDir, PROMPT_FILE);
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error(`${path}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  if (!OUTPUT_FORMATS.includes(o.format as OutputFormat)) throw new Error(`${path}: "format" must be one of ${OUTPUT_FORMATS.join(", ")}, got ${JSON.stringify(o.format)}`);
  if (!PROMPT_LAYOUTS.includes(o.layout as PromptLayout)) throw new Error(`${path}: "layout" must be one of ${PROMPT_LAYOUTS.join(", ")}, got ${JSON.stringify(o.layout)}`);
  if (o.direct !== undefined && typeof o.direct !== "boolean") throw new Error(`${path}: "direct" must be true or false, got ${JSON.stringify(o.direct)}`);
  if (o.maxHistory !== undefined && !(Number.isInteger(o.maxHistory) && (o.maxHistory as number) >= 0)) throw new Error(`${path}: "maxHistory" must be an integer ≥ 0, got ${JSON.stringify(o.maxHistory)}`);
  if (o.maxPromptTokens !== undefined && !(Number.isInteger(o.maxPromptTokens) && (o.maxPromptTokens as number) >= 1)) throw new Error(`${path}: "maxPromptTokens" must be an integer ≥ 1, got ${JSON.stringify(o.maxPromptTokens)}`);
  if (o.evidence !== undefined && !EVIDENCE_SETS.includes(o.evidence as EvidenceSet)) throw new Error(`${path}: "evidence" must be one of ${EVIDENCE_SETS.join(", ")}, got ${JSON.stringify(o.evidence)}`);
  if (o.evidence !== undefined && showsRank(o.evidence as EvidenceSet) && o.scorer === undefined) throw new Error(`${path}: the "ranked" evidence set needs "scorer" (the evidence scorer's weights)`);
  return {
    format: o.format as OutputFormat,
    layout: o.layout as PromptLayout,
    ...(o.direct === true && o.layout !== "sids" ? { direct: true } : {}),
    ...(o.maxHistory !== undefined ? { maxHistory: o.maxHistory as number } : {}),
    ...(o.maxPromptTokens !== undefined ? { maxPromptTokens: o.maxPromptTokens as number } : {}),
    ...(o.evidence !== undefined && o.evidence !== "none" ? { evidence: o.evidence as EvidenceSet } : {}),
    ...(o.scorer !== undefined ? { scorer: parseScorerWeights(o.scorer, path, "scorer") } : {}),
    ...(o.compressor !== undefined ? { compressor: parseCompressorWeights(o.compressor, `${path}: "compressor"`) } : {}),
  };
}

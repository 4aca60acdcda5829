/**
 * Finding and reading what the viewer joins from a run folder: the trace files (the pipeline's
 * `traces` stage and any `gr2 traces generate` stage, `traces-<mode>`), the candidate files
 * (they carry each list's history, so no dataset is needed for it) and the SID map (to name
 * SIDs the reasoning cites that are not candidates, e.g. history items).
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { readSidMap } from "../sid/sidmap.js";
import { readJsonLines } from "../teacher/trace-file.js";
import { readManifest, type RunManifest } from "../train/run.js";
import type { ModelOutput } from "./view-model.js";
import { listKey } from "../rank/candidates.js";

const inRun = (runDir: string, p: string): string => (isAbsolute(p) ? p : join(runDir, p));

const traceStages = (m: RunManifest): string[] =>
  Object.keys(m.stages)
    .filter((s) => s === "traces" || s.startsWith("traces-"))
    .sort((a, b) => (a === "traces" ? -1 : b === "traces" ? 1 : a.localeCompare(b)));

/** The run's trace files, the pipeline's first; an error says what to pass when there is none. */
export function findTraceFiles(runDir: string): string[] {
  const m = readManifest(runDir);
  const files = traceStages(m)
    .map((s) => m.stages[s]!.outputs.traces)
    .filter((p): p is string => typeof p === "string")
    .map((p) => resolve(inRun(runDir, p)));
  const unique = [...new Set(files)].filter((f) => existsSync(f));
  if (unique.length === 0) throw new Error(`${join(runDir, "run.json")}: no finished traces stage with an existing trace file; pass --file TRACES.jsonl`);
  return unique;
}

/** Candidate files named by the run: the prerank stage's outputs and the traces stages' configs. */
function candidateFiles(runDir: string): string[] {
  const m = readManifest(runDir);
  const files: string[] = [];
  for (const [name, s] of Object.entries(m.stages)) {
    if (name === "prerank") files.push(...Object.values(s.outputs));
    if (traceStages(m).includes(name) && typeof s.config?.candidates === "string") files.push(s.config.candidates);
  }
  return [...new Set(files.map((f) => resolve(inRun(runDir, f))))].filter((f) => existsSync(f));
}

/**
 * `split\0user` → history item ids, from the run's candidate files. Lines are read loosely
 * (only user, split and history): the files were checked when the lists were built, and a
 * viewer should show what it can rather than refuse a whole run over one odd line.
 */
export function readHistories(runDir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of candidateFiles(runDir)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const o = JSON.parse(line) as { user?: unknown; split?: unknown; history?: unknown };
        if (Array.isArray(o.history) && o.user !== undefined && typeof o.split === "string") out.set(listKey(o.split, String(o.user)), o.history.map(String));
      } catch {
        // A torn or foreign line: that user is simply shown without history.
      }
    }
  }
  return out;
}

/** SID ↔ item id from the run's `sids` stage, or empty maps when the run has none. */
export async function readSidLookups(runDir: string): Promise<{ sidToId: Map<string, string>; idToSid: Map<string, string> }> {
  const p = readManifest(runDir).stages.sids?.outputs.sid_map;
  const sidToId = new Map<string, string>();
  const idToSid = new Map<string, string>();
  if (typeof p !== "string" || !existsSync(inRun(runDir, p))) return { sidToId, idToSid };
  const map = await readSidMap(inRun(runDir, p));
  map.ids.forEach((id, i) => {
    const sid = map.sidOf(i);
    sidToId.set(sid, id);
    idToSid.set(id, sid);
  });
  return { sidToId, idToSid };
}

/** The model-outputs file: `{user, split, ranking | text}` per line, keyed by list. */
export function readModelOutputs(path: string): Map<string, ModelOutput> {
  if (!existsSync(path)) throw new Error(`${path}: no such outputs file`);
  const out = new Map<string, ModelOutput>();
  readJsonLines<Record<string, unknown>>(path).records.forEach((o, n) => {
    if (o.user === undefined || typeof o.split !== "string") throw new Error(`${path}: record ${n + 1} needs "user" and "split"`);
    const ranking = Array.isArray(o.ranking) ? (o.ranking as number[]) : undefined;
    const text = typeof o.text === "string" ? o.text : undefined;
    out.set(listKey(o.split, String(o.user)), { user: String(o.user), split: o.split, ranking, text });
  });
  return out;
}

/**
 * Everything one viewer session shows, loaded once at start: the run's traces joined with
 * titles, histories, SIDs and the model's outputs (see view-model.ts), plus the summary.
 * Loaded eagerly because the API filters and pages in memory; a Beauty-scale run is ~20k
 * lists, well within reach.
 */
import { basename, resolve } from "node:path";
import type { Item } from "../data/types.js";
import { leaveOneOut } from "../data/split.js";
import type { Interactions } from "../data/types.js";
import { readJsonLines } from "../teacher/trace-file.js";
import type { TraceRecord } from "../teacher/traces.js";
import { findTraceFiles, readHistories, readModelOutputs, readSidLookups } from "./run-files.js";
import { listKey } from "../rank/candidates.js";
import { buildTraceView, matches, summarize, type Filter, type Lookups, type Summary, type TraceView } from "./view-model.js";

export interface ViewerDataOptions {
  runDir: string;
  /** Trace files to show instead of the run's own. */
  files?: string[];
  /** The dataset's items (for titles) and interactions (history when the run has no candidate files). */
  items?: readonly Item[];
  interactions?: Interactions;
  /** The model-outputs JSONL. */
  outputs?: string;
}

export interface ViewerData {
  summary: Summary;
  traces: TraceView[];
}

/** Histories from the dataset's leave-one-out split, for runs without candidate files. */
function datasetHistories(items: readonly Item[], interactions: Interactions): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const split = leaveOneOut(interactions, { skipShortUsers: true });
  for (const s of ["valid", "test"] as const) {
    for (const ex of split[s]) out.set(listKey(s, interactions.userIds[ex.user]!), ex.history.map((i) => items[i]!.id));
  }
  return out;
}

export async function loadViewerData(o: ViewerDataOptions): Promise<ViewerData> {
  const files = (o.files && o.files.length > 0 ? o.files : findTraceFiles(o.runDir)).map((f) => resolve(f));
  const histories = readHistories(o.runDir);
  if (o.items && o.interactions) {
    // The run's own candidate files win: they are exactly what the lists were built from.
    for (const [k, v] of datasetHistories(o.items, o.interactions)) if (!histories.has(k)) histories.set(k, v);
  }
  const look: Lookups = {
    titles: new Map((o.items ?? []).map((it) => [it.id, it.title])),
    histories,
    ...(await readSidLookups(o.runDir)),
  };
  const outputs = o.outputs ? readModelOutputs(o.outputs) : undefined;
  const used = new Set<string>();
  const traces: TraceView[] = [];
  files.forEach((file, i) => {
    for (const r of readJsonLines<TraceRecord>(file).records) {
      const key = listKey(r.split, r.user);
      const model = outputs?.get(key);
      if (model) used.add(key);
      traces.push(buildTraceView(r, i, basename(file), look, model));
    }
  });
  const summary = summarize(basename(resolve(o.runDir)), files, traces, {
    hasTitles: look.titles.size > 0,
    hasModel: outputs !== undefined,
    unmatchedOutputs: outputs ? [...outputs.keys()].filter((k) => !used.has(k)).length : 0,
  });
  return { summary, traces };
}

/** One page of the traces that pass `filter`. */
export function pageOf(data: ViewerData, filter: Filter, offset: number, limit: number): { total: number; offset: number; limit: number; traces: TraceView[] } {
  const all = data.traces.filter((t) => matches(t, filter, data.summary.has_model));
  return { total: all.length, offset, limit, traces: all.slice(offset, offset + limit) };
}

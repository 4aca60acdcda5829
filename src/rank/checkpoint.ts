/**
 * Upstream-ranker checkpoints: a folder with `ranker.json` (what kind, its configuration, what
 * it was trained on, its metrics) and `model.safetensors` (its tensors). Every kind stores its
 * fitted state, so loading needs no data:
 *
 * | kind         | tensors                                                                |
 * |--------------|------------------------------------------------------------------------|
 * | `sasrec`     | the model's parameters, by name (`item_emb.weight`, `blocks.0.qkv.weight` …) |
 * | `popularity` | `counts` [items] f32                                                   |
 * | `item-knn`   | `counts` [items] f32, `neighbour_index` [items, M] i32 (-1 = none), `neighbour_sim` [items, M] f32 |
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSafetensors, readSafetensors, saveSafetensors, tensor, tidy, type Tensor } from "../torch/index.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { ItemKnnRanker, ITEM_KNN_DEFAULTS, type ItemKnnOptions } from "./item-knn.js";
import { PopularityRanker } from "./popularity.js";
import type { Ranker } from "./ranker.js";
import { Sasrec, SasrecRanker, type SasrecConfig } from "./sasrec.js";

export const RANKER_KINDS = ["sasrec", "popularity", "item-knn"] as const;
export type RankerKind = (typeof RANKER_KINDS)[number];

export const RANKER_MANIFEST = "ranker.json";
export const RANKER_WEIGHTS = "model.safetensors";

/** ranker.json. `config` depends on the kind; the rest is provenance for reports. */
export interface RankerManifest {
  format: "gr2-ranker";
  version: 1;
  kind: RankerKind;
  numItems: number;
  config: SasrecConfig | Required<ItemKnnOptions> | Record<string, never>;
  /** Which data it was fitted on: always the train split (docs/architecture.md, Protocol). */
  trainedOn: { dataset: string; split: "train"; users: number; items: number };
  /** Free-form: training options, epochs, valid metrics, seconds. */
  training?: Record<string, unknown>;
  createdAt: string;
}

export function saveRanker(dir: string, ranker: Ranker, manifest: Omit<RankerManifest, "format" | "version" | "kind" | "numItems" | "config" | "createdAt">): RankerManifest {
  const kind = ranker.name as RankerKind;
  const full: RankerManifest = {
    format: "gr2-ranker",
    version: 1,
    kind,
    numItems: ranker.numItems,
    config: configOf(ranker),
    ...manifest,
    createdAt: new Date().toISOString(),
  };
  tidy(() => saveSafetensors(join(dir, RANKER_WEIGHTS), tensorsOf(ranker), { format: "gr2-ranker", kind }));
  // The manifest last: a folder with a manifest always has its weights.
  writeJsonAtomic(join(dir, RANKER_MANIFEST), full);
  return full;
}

export function readRankerManifest(dir: string): RankerManifest {
  const path = join(dir, RANKER_MANIFEST);
  if (!existsSync(path)) throw new Error(`${path}: not found (is ${dir} a ranker folder written by \`gr2 rank train\`?)`);
  let m: RankerManifest;
  try {
    m = JSON.parse(readFileSync(path, "utf8")) as RankerManifest;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== "gr2-ranker") throw new Error(`${path}: "format" is ${JSON.stringify(m.format)}, expected "gr2-ranker"`);
  if (!RANKER_KINDS.includes(m.kind)) throw new Error(`${path}: unknown ranker kind ${JSON.stringify(m.kind)} (expected ${RANKER_KINDS.join(", ")})`);
  return m;
}

/** Loads a ranker folder. SASRec weights go to `device`. */
export function loadRanker(dir: string, device = "cpu"): { ranker: Ranker; manifest: RankerManifest } {
  const manifest = readRankerManifest(dir);
  const weights = join(dir, RANKER_WEIGHTS);
  switch (manifest.kind) {
    case "sasrec": {
      const model = new Sasrec(manifest.config as SasrecConfig, device);
      tidy(() => model.loadStateDict(loadSafetensors(weights, device).tensors));
      model.eval();
      return { ranker: new SasrecRanker(model), manifest };
    }
    case "popularity":
      return { ranker: new PopularityRanker(readF32(weights, "counts")), manifest };
    case "item-knn": {
      const file = readSafetensors(weights);
      const idx = rawOf(file, weights, "neighbour_index", "int32");
      const sim = rawOf(file, weights, "neighbour_sim", "float32");
      const [n, m] = idx.shape as [number, number];
      const index: Int32Array[] = [];
      const sims: Float32Array[] = [];
      const idxData = new Int32Array(copyBytes(idx.bytes));
      const simData = new Float32Array(copyBytes(sim.bytes));
      for (let i = 0; i < n; i++) {
        const row = idxData.subarray(i * m, (i + 1) * m);
        const kept = row.indexOf(-1) < 0 ? m : row.indexOf(-1);
        index.push(row.slice(0, kept));
        sims.push(simData.slice(i * m, i * m + kept));
      }
      const options = { ...ITEM_KNN_DEFAULTS, ...(manifest.config as ItemKnnOptions) };
      return { ranker: new ItemKnnRanker(index, sims, readF32(weights, "counts"), options), manifest };
    }
  }
}

function configOf(ranker: Ranker): RankerManifest["config"] {
  if (ranker instanceof SasrecRanker) return ranker.model.config;
  if (ranker instanceof ItemKnnRanker) return ranker.options;
  if (ranker instanceof PopularityRanker) return {};
  throw new Error(`saveRanker: cannot save a ranker of kind "${ranker.name}" (known: ${RANKER_KINDS.join(", ")})`);
}

function tensorsOf(ranker: Ranker): Record<string, Tensor> {
  if (ranker instanceof SasrecRanker) return ranker.model.stateDict();
  if (ranker instanceof PopularityRanker) return { counts: tensor(ranker.counts) };
  if (ranker instanceof ItemKnnRanker) {
    const n = ranker.numItems;
    const m = Math.max(1, ...ranker.neighbourIndex.map((r) => r.length));
    const index = new Int32Array(n * m).fill(-1);
    const sims = new Float32Array(n * m);
    ranker.neighbourIndex.forEach((row, i) => {
      index.set(row, i * m);
      sims.set(ranker.neighbourSim[i]!, i * m);
    });
    return { counts: tensor(ranker.popularity), neighbour_index: tensor(index, [n, m]), neighbour_sim: tensor(sims, [n, m]) };
  }
  throw new Error(`saveRanker: cannot save a ranker of kind "${ranker.name}"`);
}

function rawOf(file: ReturnType<typeof readSafetensors>, path: string, name: string, dtype: string) {
  const raw = file.tensors.get(name);
  if (!raw) throw new Error(`${path}: tensor "${name}" is missing`);
  if (raw.dtype !== dtype) throw new Error(`${path}: tensor "${name}" is ${raw.dtype}, expected ${dtype}`);
  return raw;
}

function readF32(path: string, name: string): Float32Array {
  return new Float32Array(copyBytes(rawOf(readSafetensors(path), path, name, "float32").bytes));
}

/** An aligned copy (typed arrays need offsets aligned to their element size). */
function copyBytes(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

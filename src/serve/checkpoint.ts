/**
 * A small servable checkpoint made from nothing: the synthetic catalogue, a byte-level BPE
 * trained on its text with the SID tokens added, a randomly initialised decoder of a given
 * size, and a SID map giving every item a distinct code tuple (level a from its category, so
 * similar items share a prefix as RQ codes do). The serving benchmark and the serving tests
 * use it so that they run anywhere; the answers are random, the work per request is real.
 *
 * Written as a Hugging Face folder with `sid_map.json` inside, which `gr2 serve --model DIR`
 * picks up by itself.
 */
import { generateSynthetic } from "../data/synthetic.js";
import { itemText } from "../data/text.js";
import { Rng } from "../util/rng.js";
import { makeConfig, type LMConfig } from "../lm/config.js";
import { saveHFModel } from "../lm/hf.js";
import { DecoderLM } from "../lm/model.js";
import { MODEL_PRESETS, type PresetName } from "../lm/presets.js";
import { TextTokenizer } from "../lm/tokenizer.js";
import { codeTable } from "../sid/quantiser.js";
import { SidMap, writeSidMap } from "../sid/sidmap.js";
import { manualSeed } from "../torch/index.js";

export interface SyntheticCheckpointOptions {
  /** A preset's model size, or an explicit shape (tests use a very small one). */
  preset?: PresetName;
  model?: Partial<Pick<LMConfig, "hiddenSize" | "numLayers" | "numHeads" | "numKvHeads" | "intermediateSize" | "maxPositions">>;
  /** Synthetic catalogue (the same arguments as `--dataset synthetic`). */
  users?: number;
  items?: number;
  seed?: number;
  /** BPE vocabulary before SID tokens (default: the preset's, at most what the text supports). */
  vocabSize?: number;
  levels?: number;
  codebookSize?: number;
}

export interface SyntheticCheckpoint {
  dir: string;
  /** Catalogue item ids, by dense index (all of them have SIDs). */
  itemIds: string[];
  sids: SidMap;
  params: number;
  /** The `--dataset` flags that reproduce the catalogue (for titles in prompts). */
  dataset: { name: "synthetic"; users: number; items: number; seed: number };
}

export async function writeSyntheticCheckpoint(dir: string, o: SyntheticCheckpointOptions = {}): Promise<SyntheticCheckpoint> {
  const users = o.users ?? 200;
  const nItems = o.items ?? 300;
  const seed = o.seed ?? 42;
  const levels = o.levels ?? 4;
  const codebook = o.codebookSize ?? 256;
  const ds = generateSynthetic({ users, items: nItems, seed });
  const items = ds.catalogue.items;
  const preset = MODEL_PRESETS[o.preset ?? "tiny"];
  const tokenizer = TextTokenizer.train(items.map(itemText), { vocabSize: o.vocabSize ?? preset.vocabSize });
  tokenizer.addSidTokens({ levels, codebookSize: codebook });

  const rng = new Rng(seed);
  const cats = [...new Set(items.map((it) => it.categories.join(" > ")))];
  const table = codeTable(items.length, levels, codebook);
  const taken = new Set<string>();
  items.forEach((it, i) => {
    let codes: number[];
    let tries = 0;
    do {
      codes = [cats.indexOf(it.categories.join(" > ")) % codebook, ...Array.from({ length: levels - 1 }, () => rng.int(codebook))];
      if (++tries > 10_000) throw new Error(`synthetic checkpoint: no free SID for item ${i} (${levels} levels × ${codebook} codes are too few)`);
    } while (taken.has(codes.join(",")));
    taken.add(codes.join(","));
    table.codes.set(codes, i * levels);
  });
  const sids = new SidMap(items.map((it) => it.id), table, "synthetic");

  manualSeed(seed);
  const config = makeConfig({
    modelType: "qwen3",
    vocabSize: tokenizer.vocabSize,
    hiddenSize: o.model?.hiddenSize ?? preset.hiddenSize,
    numLayers: o.model?.numLayers ?? preset.numLayers,
    numHeads: o.model?.numHeads ?? preset.numHeads,
    numKvHeads: o.model?.numKvHeads ?? preset.numKvHeads,
    intermediateSize: o.model?.intermediateSize ?? preset.intermediateSize,
    maxPositions: o.model?.maxPositions ?? Math.max(preset.maxPositions, 4096),
    tieWordEmbeddings: true,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
  });
  const model = new DecoderLM(config);
  try {
    saveHFModel(dir, model, tokenizer);
    await writeSidMap(`${dir}/sid_map.json`, sids);
    return { dir, itemIds: items.map((it) => it.id), sids, params: model.numParams(), dataset: { name: "synthetic", users, items: nItems, seed } };
  } finally {
    model.dispose();
  }
}

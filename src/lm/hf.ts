/**
 * The Hugging Face folder layout: config.json + model.safetensors (or shards listed in
 * model.safetensors.index.json) + tokenizer.json (+ tokenizer_config.json with the chat
 * template). Models GR2 trains are saved this way so transformers/vLLM load them, and GR2
 * loads theirs (Llama, Qwen2, Qwen3) the same way, in any stored dtype (F32/BF16/F16).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSafetensors, saveSafetensors, tidy, type Tensor } from "../torch/index.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { fromHFConfig, toHFConfig } from "./config.js";
import { DecoderLM } from "./model.js";
import { TextTokenizer } from "./tokenizer.js";
import { mergeLoRA } from "../nn/lora.js";

const INDEX_FILE = "model.safetensors.index.json";

export interface SaveOptions {
  /** Split the weights into shards of at most this many bytes (HF's max_shard_size). */
  maxShardBytes?: number;
}

/**
 * Writes the model (LoRA adapters merged into a copy of the weights are NOT implied: call
 * mergeLoRA first, as `gr2 export` does) and optionally its tokenizer.
 */
export function saveHFModel(dir: string, model: DecoderLM, tokenizer?: TextTokenizer, o: SaveOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const named = model.stateDict();
  const loraNames = Object.keys(named).filter((n) => n.includes(".lora_"));
  if (loraNames.length) throw new Error(`saveHFModel: the model still has LoRA adapters (${loraNames[0]}, ...); merge them first (mergeLoRA)`);
  const shards = shard(named, o.maxShardBytes ?? Infinity);
  if (shards.length === 1) {
    saveSafetensors(join(dir, "model.safetensors"), shards[0]!, { format: "pt" });
  } else {
    const weightMap: Record<string, string> = {};
    let total = 0;
    shards.forEach((s, i) => {
      const file = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
      saveSafetensors(join(dir, file), s, { format: "pt" });
      for (const [name, t] of Object.entries(s)) {
        weightMap[name] = file;
        total += t.numel * 4;
      }
    });
    writeJsonAtomic(join(dir, INDEX_FILE), { metadata: { total_size: total }, weight_map: weightMap });
  }
  writeJsonAtomic(join(dir, "config.json"), toHFConfig(model.config));
  tokenizer?.save(dir);
}

function shard(named: Record<string, Tensor>, maxBytes: number): Record<string, Tensor>[] {
  const out: Record<string, Tensor>[] = [{}];
  let size = 0;
  for (const name of Object.keys(named).sort()) {
    const t = named[name]!;
    const bytes = t.numel * 4;
    if (size > 0 && size + bytes > maxBytes) {
      out.push({});
      size = 0;
    }
    out[out.length - 1]![name] = t;
    size += bytes;
  }
  return out;
}

/** The safetensors files of an HF folder: the single file, or the shards its index lists. */
export function weightFiles(dir: string): string[] {
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return [single];
  const index = join(dir, INDEX_FILE);
  if (!existsSync(index)) throw new Error(`${dir}: no model.safetensors or ${INDEX_FILE} (is this a Hugging Face model folder with safetensors weights?)`);
  let parsed: { weight_map?: Record<string, string> };
  try {
    parsed = JSON.parse(readFileSync(index, "utf8"));
  } catch (e) {
    throw new Error(`${index}: not valid JSON (${(e as Error).message})`);
  }
  if (!parsed.weight_map) throw new Error(`${index}: no "weight_map"`);
  const files = [...new Set(Object.values(parsed.weight_map))].map((f) => join(dir, f));
  for (const f of files) if (!existsSync(f)) throw new Error(`${index} lists ${f}, which does not exist`);
  return files;
}

/** Loads config.json + weights from an HF folder into a new model (fp32 parameters on `device`). */
export function loadHFModel(dir: string, device = "cpu"): DecoderLM {
  const cfgPath = join(dir, "config.json");
  if (!existsSync(cfgPath)) throw new Error(`${dir}: no config.json (is this a Hugging Face model folder?)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(cfgPath, "utf8"));
  } catch (e) {
    throw new Error(`${cfgPath}: not valid JSON (${(e as Error).message})`);
  }
  const config = fromHFConfig(raw, cfgPath);
  const files = weightFiles(dir);
  const model = new DecoderLM(config, device);
  try {
    const seen = new Set<string>();
    for (const file of files) {
      tidy(() => {
        const { tensors } = loadSafetensors(file, device);
        // Tied models may still ship lm_head.weight (a copy of the embeddings): ignore it.
        if (config.tieWordEmbeddings) delete tensors["lm_head.weight"];
        const unused = model.loadStateDict(tensors, { strict: false });
        if (unused.length) throw new Error(`${file}: tensors the ${config.modelType} model has no place for: ${unused.slice(0, 5).join(", ")}${unused.length > 5 ? ", ..." : ""}`);
        Object.keys(tensors).forEach((n) => seen.add(n));
      });
    }
    const missing = model.namedParameters().map(([n]) => n).filter((n) => !seen.has(n));
    if (missing.length) throw new Error(`${dir}: the checkpoint lacks ${missing.length} parameter(s): ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

export function loadHFTokenizer(dir: string): TextTokenizer {
  return TextTokenizer.load(dir);
}

/** Export for transformers/vLLM: merges LoRA adapters (in place) and writes the HF folder. */
export function exportHF(dir: string, model: DecoderLM, tokenizer?: TextTokenizer, o: SaveOptions = {}): { mergedAdapters: number } {
  const mergedAdapters = mergeLoRA(model);
  saveHFModel(dir, model, tokenizer, o);
  return { mergedAdapters };
}

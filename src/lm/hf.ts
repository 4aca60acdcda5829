/**
 * The Hugging Face folder layout: config.json + model.safetensors + tokenizer.json (+
 * tokenizer_config.json with the chat template). Models GR2 trains are saved this way so
 * transformers/vLLM load them, and GR2 loads theirs the same way.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSafetensors, saveSafetensors, tidy } from "../torch/index.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { fromHFConfig, toHFConfig } from "./config.js";
import { DecoderLM } from "./model.js";
import { TextTokenizer } from "./tokenizer.js";

export function saveHFModel(dir: string, model: DecoderLM, tokenizer?: TextTokenizer): void {
  mkdirSync(dir, { recursive: true });
  writeJsonAtomic(join(dir, "config.json"), toHFConfig(model.config));
  saveSafetensors(join(dir, "model.safetensors"), model.stateDict(), { format: "pt" });
  tokenizer?.save(dir);
}

/** Loads config.json + model.safetensors (single file) from an HF folder. */
export function loadHFModel(dir: string, device = "cpu"): DecoderLM {
  const cfgPath = join(dir, "config.json");
  if (!existsSync(cfgPath)) throw new Error(`${dir}: no config.json (is this a Hugging Face model folder?)`);
  const config = fromHFConfig(JSON.parse(readFileSync(cfgPath, "utf8")), cfgPath);
  const weights = join(dir, "model.safetensors");
  if (!existsSync(weights)) throw new Error(`${dir}: no model.safetensors`);
  const model = new DecoderLM(config, device);
  tidy(() => {
    const unused = model.loadStateDict(loadSafetensors(weights, device).tensors);
    const unexpected = unused.filter((n) => !(n === "lm_head.weight" && config.tieWordEmbeddings));
    if (unexpected.length) throw new Error(`${weights}: tensors the model has no place for: ${unexpected.slice(0, 5).join(", ")}`);
  });
  return model;
}

export function loadHFTokenizer(dir: string): TextTokenizer {
  return TextTokenizer.load(dir);
}

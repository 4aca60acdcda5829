/**
 * Model sizes for the embedded presets (docs/architecture.md, Presets). `hf` runs use the
 * checkpoint's own config instead. Vocabulary sizes are the BPE targets before SID tokens are
 * added.
 */
import { makeConfig, type LMConfig } from "./config.js";

export type PresetName = "tiny" | "demo" | "beauty";

export interface ModelPreset {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  maxPositions: number;
}

export const MODEL_PRESETS: Record<PresetName, ModelPreset> = {
  // ~0.3M parameters: tests and CI, seconds per stage.
  tiny: { vocabSize: 2048, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 176, maxPositions: 2048 },
  // ~2.5M parameters: `npm run demo` on a laptop CPU. Three layers: each layer is a quarter of
  // every training and decoding step, and the demo's students lift as much with three (four
  // layers with a 512-wide MLP instead were slower and wrote more invalid rankings;
  // docs/benchmarks.md, session 19).
  demo: { vocabSize: 4096, hiddenSize: 256, numLayers: 3, numHeads: 8, numKvHeads: 2, intermediateSize: 704, maxPositions: 2048 },
  // ~15M parameters: Amazon Beauty benchmarks on 2 cores.
  beauty: { vocabSize: 8192, hiddenSize: 384, numLayers: 6, numHeads: 6, numKvHeads: 2, intermediateSize: 1024, maxPositions: 2048 },
};

export function isPreset(name: string): name is PresetName {
  return name in MODEL_PRESETS;
}

/**
 * The preset's model config for a tokenizer of `vocabSize` tokens (Qwen3-style: q/k-norm, tied);
 * `numLayers` overrides its depth (a larger catalogue can want a deeper model of the same width).
 */
export function presetConfig(name: PresetName, vocabSize: number, numLayers?: number): LMConfig {
  const p = MODEL_PRESETS[name];
  if (numLayers !== undefined && !(Number.isInteger(numLayers) && numLayers >= 1)) throw new RangeError(`layers must be an integer ≥ 1, got ${numLayers}`);
  return makeConfig({ ...p, numLayers: numLayers ?? p.numLayers, modelType: "qwen3", vocabSize, tieWordEmbeddings: true, ropeTheta: 10000, rmsNormEps: 1e-6 });
}

/**
 * The RQ-VAE's command-line flags (shared by `gr2 sid build --method rqvae` and `gr2 sid ablate`)
 * and their translation into `RqVaeOptions`. Levels, codebook size, random last levels and
 * seed are the builder's common flags and are merged in by the CLI.
 *
 * A flag that is not given stays undefined, so the receiver's default applies: the plain RQ-VAE
 * for `build`, the ablation's technique strengths for `ablate`.
 */
import type { RqVaeOptions } from "./rqvae-options.js";

export const RQVAE_FLAGS = {
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  lr: { type: "string" },
  beta: { type: "string" },
  "latent-dim": { type: "string" },
  hidden: { type: "string" },
  ema: { type: "boolean" },
  gamma: { type: "string" },
  diversity: { type: "string" },
  "diversity-tau": { type: "string" },
  "dead-reset": { type: "string" },
  contrastive: { type: "string" },
  "contrastive-tau": { type: "string" },
  "contrastive-window": { type: "string" },
  "codebook-init": { type: "string" },
  threads: { type: "string" },
} as const;

export const RQVAE_USAGE = `rqvae: [--epochs 150] [--batch-size 1024] [--lr 1e-3] [--beta 0.25] [--latent-dim 32] [--hidden 256,128]
      [--ema [--gamma 0.99]] [--diversity λ [--diversity-tau 0.1]] [--dead-reset τ]
      [--contrastive λ [--contrastive-tau 0.1] [--contrastive-window 3]] [--codebook-init kmeans|random] [--threads 1]`;

export type RqVaeFlagValues = { [K in keyof typeof RQVAE_FLAGS]?: (typeof RQVAE_FLAGS)[K]["type"] extends "boolean" ? boolean : string };

export function rqvaeOptionsFromFlags(v: RqVaeFlagValues): RqVaeOptions {
  const number = (name: keyof typeof RQVAE_FLAGS, integer = false): number | undefined => {
    const text = v[name];
    if (typeof text !== "string") return undefined;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name} expects ${integer ? "an integer" : "a number"} ≥ 0, got "${text}"`);
    }
    return n;
  };
  const init = v["codebook-init"];
  if (init !== undefined && init !== "kmeans" && init !== "random") throw new Error(`--codebook-init expects kmeans or random, got "${init}"`);
  let hiddenDims: number[] | undefined;
  if (v.hidden !== undefined) {
    hiddenDims = v.hidden.split(",").map((s) => Number(s.trim()));
    if (!hiddenDims.every((h) => Number.isInteger(h) && h >= 1)) throw new Error(`--hidden expects widths like 256,128, got "${v.hidden}"`);
  }
  return {
    epochs: number("epochs", true),
    batchSize: number("batch-size", true),
    learningRate: number("lr"),
    beta: number("beta"),
    latentDim: number("latent-dim", true),
    hiddenDims,
    ema: v.ema,
    gamma: number("gamma"),
    diversity: number("diversity"),
    diversityTau: number("diversity-tau"),
    deadCodeTau: number("dead-reset", true),
    contrastive: number("contrastive"),
    contrastiveTau: number("contrastive-tau"),
    contrastiveWindow: number("contrastive-window", true),
    codebookInit: init,
    threads: number("threads", true),
  };
}

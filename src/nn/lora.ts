/**
 * LoRA (Hu et al. 2021): a frozen linear layer W plus a trainable low-rank update,
 *   y = x Wᵀ + (alpha / r) · x Aᵀ Bᵀ,   A ∈ R^{r×in} (small random), B ∈ R^{out×r} (zeros),
 * so training starts exactly at the base model. Only A and B get gradients and optimiser
 * state, which is how a 0.6B–8B model fine-tunes where memory is short. Names follow PEFT
 * ("...q_proj.lora_A.weight"), and merge() folds the update into W for export.
 */
import { noGrad, type Tensor } from "../torch/index.js";
import type { Module } from "./module.js";
import { Linear } from "./layers.js";

export interface LoRAConfig {
  rank: number;
  alpha: number;
  /** Which linear layers get adapters, by their last name component (HF/PEFT "target_modules"). */
  targetModules: string[];
}

export const DEFAULT_LORA: LoRAConfig = {
  rank: 16,
  alpha: 32,
  targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
};

export class LoRAAdapter {
  constructor(readonly A: Linear, readonly B: Linear, readonly scale: number) {}

  /** The adapter's contribution for input x. */
  delta(x: Tensor): Tensor {
    return this.B.forward(this.A.forward(x)).mul(this.scale);
  }

  /** scale · B A, the update to W. */
  weightDelta(): Tensor {
    return this.B.weight.matmul(this.A.weight).mul(this.scale);
  }
}

/** Every Linear reachable from `root`, by its dotted name. */
export function namedLinears(root: Module, prefix = ""): [string, Linear][] {
  const out: [string, Linear][] = [];
  for (const [name, child] of root.namedChildren()) {
    const full = prefix + name;
    if (child instanceof Linear) out.push([full, child]);
    out.push(...namedLinears(child, `${full}.`));
  }
  return out;
}

/**
 * Adds adapters to the target linears and freezes every other parameter. Returns the
 * adapted layers' names. Idempotent per layer.
 */
export function applyLoRA(root: Module, cfg: LoRAConfig = DEFAULT_LORA): string[] {
  if (!Number.isInteger(cfg.rank) || cfg.rank <= 0) throw new Error(`LoRA rank must be a positive integer, got ${cfg.rank}`);
  const adapted: string[] = [];
  for (const [name, layer] of namedLinears(root)) {
    if (!cfg.targetModules.includes(name.split(".").at(-1)!)) continue;
    if (!layer.lora) layer.enableLoRA(cfg.rank, cfg.alpha);
    adapted.push(name);
  }
  if (adapted.length === 0) throw new Error(`LoRA: no linear layer matches target modules ${cfg.targetModules.join(", ")}`);
  for (const [name, p] of root.namedParameters()) p.requiresGrad_(/\.lora_[AB]\./.test(name));
  return adapted;
}

/** Folds every adapter into its base weight (W ← W + scale·BA) and removes the adapters. */
export function mergeLoRA(root: Module): number {
  let merged = 0;
  noGrad(() => {
    for (const [, layer] of namedLinears(root)) {
      if (layer.lora) {
        layer.mergeLoRA();
        merged++;
      }
    }
  });
  return merged;
}


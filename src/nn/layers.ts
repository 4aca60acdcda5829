/** The layers a Llama-style decoder is made of. */
import { embedding, linear, noGrad, rmsNorm, tidy, type Tensor, type TensorOptions } from "../torch/index.js";
import { Module, normalInit, ones, zeros } from "./module.js";
import { LoRAAdapter } from "./lora.js";

/** y = x Wᵀ (+ b); W is [out, in] as in PyTorch and HF checkpoints. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, { bias = false, std = 0.02, ...o }: { bias?: boolean; std?: number } & TensorOptions = {}) {
    super();
    this.weight = this.param("weight", normalInit([outFeatures, inFeatures], std, o));
    this.bias = bias ? this.param("bias", zeros([outFeatures], o)) : null;
  }
  /** A LoRA adapter, when enableLoRA() added one (see lora.ts). */
  lora: LoRAAdapter | null = null;

  forward(x: Tensor): Tensor {
    const y = linear(x, this.weight, this.bias);
    return this.lora ? y.add(this.lora.delta(x)) : y;
  }

  enableLoRA(rank: number, alpha: number): void {
    const device = this.weight.device;
    // A ~ N(0, 1/in) keeps the adapter's output scale independent of the width; B = 0 starts at the base model.
    const A = this.child("lora_A", new Linear(this.inFeatures, rank, { std: 1 / Math.sqrt(this.inFeatures), device }));
    const B = this.child("lora_B", new Linear(rank, this.outFeatures, { std: 0, device }));
    this.lora = new LoRAAdapter(A, B, alpha / rank);
  }

  /** W ← W + scale·BA, then drop the adapter. */
  mergeLoRA(): void {
    if (!this.lora) return;
    const lora = this.lora;
    noGrad(() => tidy(() => this.weight.add_(lora.weightDelta())));
    this.lora = null;
    this.removeChild("lora_A");
    this.removeChild("lora_B");
  }

  /** The weight the layer effectively applies (base + adapter), as a new tensor. */
  effectiveWeight(): Tensor {
    return noGrad(() => (this.lora ? this.weight.add(this.lora.weightDelta()) : this.weight.clone()));
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly dim: number, { std = 0.02, ...o }: { std?: number } & TensorOptions = {}) {
    super();
    this.weight = this.param("weight", normalInit([numEmbeddings, dim], std, o));
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps: number, o: TensorOptions = {}) {
    super();
    this.weight = this.param("weight", ones([dim], o));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

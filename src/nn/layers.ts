/** The layers a Llama-style decoder is made of. */
import { embedding, linear, rmsNorm, type Tensor, type TensorOptions } from "../torch/index.js";
import { Module, normalInit, ones, zeros } from "./module.js";

/** y = x Wᵀ (+ b); W is [out, in] as in PyTorch and HF checkpoints. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, { bias = false, std = 0.02, ...o }: { bias?: boolean; std?: number } & TensorOptions = {}) {
    super();
    this.weight = this.param("weight", normalInit([outFeatures, inFeatures], std, o));
    this.bias = bias ? this.param("bias", zeros([outFeatures], o)) : null;
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
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

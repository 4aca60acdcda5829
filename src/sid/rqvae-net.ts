/**
 * The RQ-VAE's encoder and decoder on the engine: MLPs with SiLU between layers and a linear
 * last layer, e.g. 96 → 256 → 128 → 32 (encoder) and 32 → 128 → 256 → 96 (decoder).
 */
import type { Tensor } from "../torch/index.js";
import { Linear } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import type { DenseLayer } from "./rqvae-model.js";

export class Mlp extends Module {
  readonly layers: Linear[];

  /** `sizes` = [in, hidden…, out]. */
  constructor(readonly sizes: readonly number[]) {
    super();
    if (sizes.length < 2) throw new Error(`rqvae: an MLP needs at least [in, out] sizes, got [${sizes}]`);
    // std = 1/√fan_in keeps activations at a constant scale through the layers (PyTorch's
    // default Linear init has the same variance up to a constant); the engine's LM default of
    // 0.02 would shrink a 96-dim input to a ~1e-4 latent and stall the first epochs.
    this.layers = sizes.slice(1).map((out, i) => this.child(String(i), new Linear(sizes[i]!, out, { bias: true, std: 1 / Math.sqrt(sizes[i]!) })));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    this.layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i < this.layers.length - 1) h = h.silu();
    });
    return h;
  }

  /** The weights as typed arrays, for the torch-free trained model. */
  toDense(): DenseLayer[] {
    return this.layers.map((l) => ({
      weight: { rows: l.outFeatures, cols: l.inFeatures, data: Float32Array.from(l.weight.toFloat32Array()) },
      bias: Float32Array.from(l.bias!.toFloat32Array()),
    }));
  }
}

/** Encoder dim → hidden… → latent and the mirrored decoder latent → …hidden → dim. */
export class RqVaeNet extends Module {
  readonly encoder: Mlp;
  readonly decoder: Mlp;

  constructor(dim: number, hiddenDims: readonly number[], latentDim: number) {
    super();
    this.encoder = this.child("encoder", new Mlp([dim, ...hiddenDims, latentDim]));
    this.decoder = this.child("decoder", new Mlp([latentDim, ...[...hiddenDims].reverse(), dim]));
  }
}

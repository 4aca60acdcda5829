/**
 * A pre-allocated key/value cache for generation: one [B, Hkv, capacity, D] buffer per layer
 * for keys and for values. Each step copies its new keys into place and attends over a view
 * of the filled part, so nothing is re-allocated or concatenated as the sequence grows (the
 * usual eager-PyTorch cache `torch.cat`s the whole history every step). Inference only.
 */
import { zeros, type DType, type Tensor } from "../torch/index.js";
import type { LMConfig } from "./config.js";

export class KVCache {
  readonly keys: Tensor[];
  readonly values: Tensor[];
  /** Positions filled so far (the same for every row; padding is masked, not skipped). */
  length = 0;

  constructor(config: LMConfig, readonly batch: number, readonly capacity: number, { device = "cpu", dtype = "float32" as DType } = {}, buffers?: { keys: Tensor[]; values: Tensor[] }) {
    const shape = [batch, config.numKvHeads, capacity, config.headDim];
    this.keys = buffers?.keys ?? Array.from({ length: config.numLayers }, () => zeros(shape, { device, dtype }).keep());
    this.values = buffers?.values ?? Array.from({ length: config.numLayers }, () => zeros(shape, { device, dtype }).keep());
  }

  /**
   * Rows [start, start + count) as a cache that writes into this one's buffers, so a large batch
   * can be prefilled a slice of rows at a time (attention scores grow with rows × length²).
   * Dispose the view when done; this cache keeps the data, and its `length` is the caller's to set.
   */
  rows(config: LMConfig, start: number, count: number): KVCache {
    const view = (ts: Tensor[]) => ts.map((t) => t.narrow(0, start, count).keep());
    const c = new KVCache(config, count, this.capacity, {}, { keys: view(this.keys), values: view(this.values) });
    c.length = this.length;
    return c;
  }

  /** Stores layer `layer`'s new k, v ([B, Hkv, T, D]) and returns views of all keys/values so far. */
  append(layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const T = k.size(2);
    const end = this.length + T;
    if (end > this.capacity) throw new Error(`KV cache is full: ${this.length} + ${T} tokens exceed its capacity of ${this.capacity}`);
    const K = this.keys[layer]!;
    const V = this.values[layer]!;
    K.narrow(2, this.length, T).copy_(k);
    V.narrow(2, this.length, T).copy_(v);
    return [K.narrow(2, 0, end), V.narrow(2, 0, end)];
  }

  /** Called once per forward, after every layer appended. */
  advance(T: number): void {
    this.length += T;
  }

  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
  }
}

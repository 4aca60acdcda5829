/**
 * Packed token streams for language-model training: documents are tokenised, joined with an
 * end-of-text token into one stream, and batches are windows cut from it. Windows are chosen
 * by a hash of (seed, step, micro, row), so a batch is a pure function of its coordinates —
 * what the training loop's exact resume relies on — and every position of a batch is a real
 * token (no padding: packing keeps batches full).
 */
import { int64 } from "../torch/index.js";
import type { Batch } from "./loop.js";
import { hash32 } from "../util/rng.js";

/** Re-exported for the task samplers that seed from batch coordinates the same way. */
export { hash32 };

export class PackedStream {
  readonly tokens: Int32Array;

  constructor(docs: readonly (readonly number[])[], eos: number) {
    const total = docs.reduce((a, d) => a + d.length + 1, 0);
    this.tokens = new Int32Array(total);
    let o = 0;
    for (const d of docs) {
      this.tokens.set(d, o);
      o += d.length;
      this.tokens[o++] = eos;
    }
  }

  get length(): number {
    return this.tokens.length;
  }

  /** A [batch, seqLen] batch of windows chosen by (seed, step, micro); targets are the next tokens. */
  batch(o: { batch: number; seqLen: number; seed: number; device?: string }, step: number, micro: number): Batch {
    const span = o.seqLen + 1;
    if (this.tokens.length <= span) throw new Error(`the corpus has ${this.tokens.length} tokens, fewer than one window of ${span}`);
    const ids: number[] = new Array(o.batch * o.seqLen);
    const targets: number[] = new Array(o.batch * o.seqLen);
    for (let b = 0; b < o.batch; b++) {
      const start = hash32(o.seed, step, micro, b) % (this.tokens.length - span);
      for (let t = 0; t < o.seqLen; t++) {
        ids[b * o.seqLen + t] = this.tokens[start + t]!;
        targets[b * o.seqLen + t] = this.tokens[start + t + 1]!;
      }
    }
    const shape = [o.batch, o.seqLen];
    return { ids: int64(ids, shape, o.device), targets: int64(targets, shape, o.device) };
  }
}

/**
 * Turning item sequences into the int64 id tensors the neural rankers read. Item index i is
 * token i + 1; token 0 is padding. Sequences are left-padded (right-aligned), so the most
 * recent item is always the last column and "distance from the end" is a stable position.
 */
import { tensor, type Tensor } from "../torch/index.js";
import type { Rng } from "../data/rng.js";

export const PAD = 0;
export const itemToken = (item: number): number => item + 1;

/** [B, T] int64 ids: each sequence's last `T` items, right-aligned, 0 on the left. */
export function padLeft(sequences: readonly (readonly number[])[], T: number, device = "cpu"): Tensor {
  const ids = new BigInt64Array(sequences.length * T);
  sequences.forEach((seq, b) => {
    const kept = seq.length > T ? seq.slice(seq.length - T) : seq;
    const offset = b * T + (T - kept.length);
    kept.forEach((item, t) => (ids[offset + t] = BigInt(itemToken(item))));
  });
  return tensor(ids, [sequences.length, T], { dtype: "int64", device });
}

/** The longest sequence, capped at `maxLen` (the width a batch needs). At least 1. */
export function batchWidth(sequences: readonly (readonly number[])[], maxLen: number): number {
  let T = 1;
  for (const s of sequences) T = Math.max(T, Math.min(s.length, maxLen));
  return T;
}

/**
 * Batches of similar length: shuffle, sort chunks of `batchSize × 32` by length, cut, and
 * shuffle the batch order. Random enough for SGD, with a fraction of the padding.
 */
export function lengthBuckets<T>(rows: readonly T[], length: (r: T) => number, batchSize: number, rng: Rng): T[][] {
  const shuffled = rng.shuffle(rows);
  const chunk = batchSize * 32;
  const batches: T[][] = [];
  for (let c = 0; c < shuffled.length; c += chunk) {
    const sorted = shuffled.slice(c, c + chunk).sort((a, b) => length(a) - length(b));
    for (let b = 0; b < sorted.length; b += batchSize) batches.push(sorted.slice(b, b + batchSize));
  }
  return rng.shuffle(batches);
}

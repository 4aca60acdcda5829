/**
 * Co-interacted item pairs for the RQ-VAE's InfoNCE loss: two items at most `window` positions
 * apart in a user's TRAIN sequence (valid/test targets never shape the SIDs). Pairs keep their
 * multiplicity, so an often co-interacted pair is drawn more often; a pair of an item with
 * itself is skipped (it would only teach the encoder that x is similar to x).
 */
import type { Rng } from "./rng.js";

export interface ItemPairs {
  /** Pair p is (a[p], b[p]), a before b in the sequence. */
  a: Int32Array;
  b: Int32Array;
}

export function coInteractionPairs(sequences: readonly (readonly number[])[], items: number, window: number): ItemPairs {
  let count = 0;
  for (const s of sequences) for (let i = 0; i < s.length; i++) count += Math.min(window, s.length - 1 - i);
  const a = new Int32Array(count), b = new Int32Array(count);
  let p = 0;
  sequences.forEach((s, user) => {
    for (let i = 0; i < s.length; i++) {
      const x = s[i]!;
      if (!(Number.isInteger(x) && x >= 0 && x < items)) throw new Error(`rqvae: user ${user} has item index ${x}, outside [0, ${items})`);
      for (let j = i + 1; j <= Math.min(s.length - 1, i + window); j++) {
        if (s[j] === x) continue;
        a[p] = x;
        b[p++] = s[j]!;
      }
    }
  });
  return { a: a.slice(0, p), b: b.slice(0, p) };
}

/** `size` pairs drawn uniformly with replacement (in-batch negatives are the other pairs' items). */
export function samplePairs(pairs: ItemPairs, size: number, rng: Rng): { a: number[]; b: number[] } {
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < size; i++) {
    const p = rng.int(pairs.a.length);
    a.push(pairs.a[p]!);
    b.push(pairs.b[p]!);
  }
  return { a, b };
}

/**
 * Sequence packing: several (prompt, target) examples laid end to end in one row of T + 1
 * tokens, so every position of a batch is a real token (no padding: the step costs what a
 * pre-training step costs). Inputs are tokens[0..T-1]; the target at position t is
 * tokens[t + 1] when that token belongs to an example's target, else -100 (ignored): prompts
 * are never trained, and neither is the step from one example's last token into the next
 * example's first (an example boundary). Attention is not blocked across examples (as in
 * GPT-style packing); earlier examples in a row are just extra context.
 *
 * The last example of a row rarely fits exactly. It is cut so the row stays full: its prompt
 * loses its oldest tokens when the whole target still fits after at least one prompt token,
 * otherwise the example keeps its head and loses the end of its target.
 */
import { int64 } from "../../torch/index.js";
import type { Batch } from "../loop.js";
import type { TaskExample } from "./types.js";

export interface PackedRow {
  /** T + 1 tokens. */
  tokens: Int32Array;
  /** 1 where the token is (part of) an example's target. */
  isTarget: Uint8Array;
  /** How many examples the row holds (the last one possibly cut). */
  examples: number;
}

/** Fills one row of `length` tokens with examples from `draw` (called until the row is full). */
export function packRow(draw: (j: number) => TaskExample, length: number): PackedRow {
  const tokens = new Int32Array(length);
  const isTarget = new Uint8Array(length);
  let filled = 0;
  let examples = 0;
  while (filled < length) {
    const { prompt, target } = draw(examples++);
    if (prompt.length === 0 || target.length === 0) throw new Error("packing: an example needs a non-empty prompt and target");
    const room = length - filled;
    let p = prompt;
    let t = target;
    if (p.length + t.length > room) {
      if (t.length < room) p = p.slice(p.length - (room - t.length));
      else {
        // Keep the head: one prompt token at least, then as much target as fits.
        p = p.slice(0, Math.max(1, room - t.length));
        t = t.slice(0, room - p.length);
      }
    }
    tokens.set(p, filled);
    tokens.set(t, filled + p.length);
    isTarget.fill(1, filled + p.length, filled + p.length + t.length);
    filled += p.length + t.length;
  }
  return { tokens, isTarget, examples };
}

/** Rows of T + 1 tokens → the loop's [B, T] ids and masked next-token targets. */
export function rowsToBatch(rows: readonly PackedRow[], device = "cpu"): Batch {
  const T = rows[0]!.tokens.length - 1;
  const ids = new Array<number>(rows.length * T);
  const targets = new Array<number>(rows.length * T);
  rows.forEach((r, b) => {
    if (r.tokens.length !== T + 1) throw new Error("packing: rows of different lengths");
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = r.tokens[t]!;
      targets[b * T + t] = r.isTarget[t + 1] ? r.tokens[t + 1]! : -100;
    }
  });
  const shape = [rows.length, T];
  return { ids: int64(ids, shape, device), targets: int64(targets, shape, device) };
}

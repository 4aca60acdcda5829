/**
 * Sampling a ranking from scores under the Plackett–Luce model: the first item is drawn with
 * probability ∝ exp(score/τ), the second from the rest the same way, and so on. The Gumbel
 * trick gives the same distribution in one pass: add independent Gumbel(0, 1) noise to each
 * score/τ and sort descending. τ → 0 approaches the sorted order (τ = 0 is exactly it, ties
 * broken by position); large τ approaches a uniform shuffle.
 */
import type { Rng } from "../data/rng.js";

export function samplePlackettLuce(scores: readonly number[], temperature: number, rng: Rng): number[] {
  if (!(temperature >= 0)) throw new RangeError(`Plackett–Luce temperature must be ≥ 0, got ${temperature}`);
  const keys = scores.map((s, i) => {
    if (!Number.isFinite(s)) throw new RangeError(`Plackett–Luce: score ${i} is ${s}`);
    if (temperature === 0) return s;
    const u = Math.min(Math.max(rng.next(), 1e-12), 1 - 1e-12);
    return s / temperature - Math.log(-Math.log(u));
  });
  return keys.map((_, i) => i).sort((a, b) => keys[b]! - keys[a]! || a - b);
}

/** log P(ranking | scores, τ) under Plackett–Luce (τ > 0); for tests and diagnostics. */
export function plackettLuceLogProb(scores: readonly number[], ranking: readonly number[], temperature: number): number {
  let lp = 0;
  const rest = [...ranking];
  while (rest.length > 0) {
    const logits = rest.map((i) => scores[i]! / temperature);
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
    lp += logits[0]! - lse;
    rest.shift();
  }
  return lp;
}

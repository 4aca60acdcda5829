/**
 * Candidate lists that look like an upstream ranker's: many items whose SIDs share a prefix.
 *
 * A ranker's top K are items similar to the user's history, so their SIDs cluster. On the
 * demo's synthetic lists (SASRec, K = 10) 8.3 of the 45 candidate pairs share their first SID
 * code, 0.29 the first two, 0.10 the first three; ten uniform draws share 0.7, 0.02 and 0.
 * Copying a list is easy when every SID starts differently and hard when two differ only in
 * their last code: the model must then know *where* in the list it is, not only *which* code
 * came before. Mid-training on easy lists (the `candidates` task before this draw) left the
 * copy probe at 85% while the SFT model's answers on real lists failed in exactly those places
 * (`…<s_c_1><s_d_17>` written for `…<s_c_1><s_d_62>`, a moved item written again where it stood).
 * So the task and the probe draw part of each list from SID-prefix neighbours.
 */
import type { Rng } from "../../util/rng.js";

/** How a list's K − 1 other items are drawn. */
export interface ConfusableDraw {
  /** Share of the other items that are SID-prefix neighbours of an item already in the list (or of the history). */
  neighbourShare: number;
  /**
   * For a neighbour, the probability of sharing exactly 1, 2, 3… leading codes, deepest last
   * (renormalised over the depths the anchor has neighbours at).
   */
  depthWeights: readonly number[];
}

/**
 * Close to the demo's real lists: 9.4 / 0.34 / 0.07 pairs per list share 1 / 2 / 3 codes (real:
 * 8.3 / 0.29 / 0.10; the popularity draw this replaces: 0.7 / 0.02 / 0.01). Deep neighbours are
 * rare in a 400-item catalogue, hence their weight.
 */
export const RANKER_LIKE: ConfusableDraw = { neighbourShare: 0.85, depthWeights: [0.4, 0.35, 0.25] };

/** Items grouped by SID prefix: every item with the same first d tokens, for each depth d. */
export class SidNeighbours {
  /** byDepth[j]: prefix key of j + 2 tokens (the begin token and j + 1 codes) → items. */
  readonly #byDepth: Map<string, number[]>[];

  /** `eligible`: the items a draw may return (mid-training: items seen in the train prefixes). */
  constructor(readonly sids: readonly (readonly number[])[], eligible: (item: number) => boolean = () => true) {
    // Tokens are [begin, code₁ … code_L, end]; a shared prefix of codes 1 … L − 1 can leave two
    // items apart in their last code only, the hardest case to copy.
    const codes = Math.max(0, (sids[0]?.length ?? 0) - 2);
    this.#byDepth = Array.from({ length: Math.max(0, codes - 1) }, (_, j) => {
      const groups = new Map<string, number[]>();
      sids.forEach((s, item) => {
        if (!eligible(item)) return;
        const key = s.slice(0, j + 2).join(",");
        const g = groups.get(key);
        if (g) g.push(item);
        else groups.set(key, [item]);
      });
      return groups;
    });
  }

  /** Eligible items that share at least the first `depth` codes with `anchor` (it may be one). */
  near(anchor: number, depth: number): readonly number[] {
    const g = this.#byDepth[depth - 1]?.get(this.sids[anchor]!.slice(0, depth + 1).join(","));
    return g ?? [];
  }

  /**
   * A neighbour of `anchor` not in `taken`, at a depth drawn from `depthWeights`; undefined when
   * the anchor has none left at any depth.
   */
  draw(anchor: number, taken: ReadonlySet<number>, depthWeights: readonly number[], rng: Rng): number | undefined {
    const options = depthWeights.map((w, j) => ({ w, pool: this.near(anchor, j + 1).filter((i) => !taken.has(i)) })).filter((o) => o.w > 0 && o.pool.length > 0);
    if (options.length === 0) return undefined;
    let u = rng.next() * options.reduce((s, o) => s + o.w, 0);
    for (const o of options) {
      u -= o.w;
      if (u < 0) return rng.pick(o.pool);
    }
    return rng.pick(options[options.length - 1]!.pool);
  }
}

/**
 * The `k` items of a list around `target`: a `draw.neighbourShare` share are neighbours of the
 * target, an item already drawn or a history item; the rest come from `other` (a ranker's
 * popular items, a uniform catalogue draw…). Returned shuffled.
 */
export function drawConfusableList(
  target: number,
  history: readonly number[],
  k: number,
  neighbours: SidNeighbours,
  draw: ConfusableDraw,
  other: () => number,
  rng: Rng,
): number[] {
  const chosen = new Set([target]);
  for (let tries = 0; chosen.size < k && tries < 50 * k; tries++) {
    let item: number | undefined;
    if (rng.chance(draw.neighbourShare)) {
      const anchors = [...chosen, ...history];
      item = neighbours.draw(rng.pick(anchors), chosen, draw.depthWeights, rng);
    }
    chosen.add(item ?? other());
  }
  for (let i = 0; chosen.size < k && i < neighbours.sids.length; i++) chosen.add(i);
  return rng.shuffle([...chosen]);
}

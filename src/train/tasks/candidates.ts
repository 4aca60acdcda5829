/**
 * Candidate ranking: a user's history and K candidate SIDs (the next item among K − 1 others,
 * most of them SID-prefix neighbours as in a ranker's lists — see confusable.ts —, shuffled)
 * → all K candidates again, the next item first and the rest in the
 * order shown. The re-ranking stages ask exactly this of the model — write every candidate once
 * — and a small model does not pick it up from next-SID prediction, which never asks it to
 * copy a SID from its context: the demo's SFT and direct models learned the answer's format
 * but wrote popular SIDs from memory, repeated or unknown (0% valid). Here the first SID is a
 * recommendation (as in the sequential task) and every later one is a copy.
 *
 * Why the rest in the order shown, not shuffled: copying "the next one as listed" is the
 * pattern a small transformer learns fast (an induction head); copying in a random order
 * without repeats is much slower to learn. Same pre-trained model, 1,000 steps at 45% of the
 * mixture (synthetic, copy probe): 58% of the answers were full permutations with the shown
 * order, against 11% with a random order (97% / 89% of written SIDs were candidates). The
 * shown order here is a random shuffle, so it says nothing about relevance; in the re-ranking
 * prompt it is the upstream order, which a re-ranker should keep wherever it has no reason to
 * move an item.
 */
import { hash32, Rng } from "../../util/rng.js";
import { drawConfusableList, RANKER_LIKE, SidNeighbours, type ConfusableDraw } from "./confusable.js";
import { candidatesPrompt, type TaskContext } from "./context.js";
import { PositionTask, type TrainPositions } from "./positions.js";
import type { TaskExample } from "./types.js";

export class CandidatesTask extends PositionTask {
  readonly name = "candidates" as const;
  readonly #neighbours: SidNeighbours;

  constructor(
    ctx: TaskContext,
    positions: TrainPositions,
    maxHistory = 8,
    /** Candidates per example (the re-ranking lists' K). */
    readonly k = 10,
    /** How the other K − 1 items are drawn (default: clustered like a ranker's; see confusable.ts). */
    readonly draw: ConfusableDraw = RANKER_LIKE,
  ) {
    super(ctx, positions, maxHistory);
    if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`candidates task: k must be an integer ≥ 2, got ${k}`);
    // Neighbours, like every negative here, are items of the train prefixes: never one seen only in valid/test.
    const seen = new Set(positions.train.flat());
    this.#neighbours = new SidNeighbours(ctx.sids, (item) => seen.has(item));
  }

  override get size(): number {
    // Needs k distinct items in the catalogue.
    return this.ctx.sids.length >= this.k ? this.positions.size : 0;
  }

  /** The shown candidates and the answer's order (item indices), a pure function of i. */
  lists(i: number): { history: readonly number[]; shown: number[]; answer: number[] } {
    const { history, target } = this.positions.at(i, this.maxHistory);
    const rng = new Rng(hash32(0x6361, i));
    // Besides SID neighbours, negatives are other training targets (popularity-weighted, as
    // upstream candidates are, and never an item seen only in valid/test).
    const popular = () => this.positions.at(rng.int(this.positions.size), 0).target;
    const shown = drawConfusableList(target, history, this.k, this.#neighbours, this.draw, popular, rng);
    const answer = [target, ...shown.filter((c) => c !== target)];
    return { history, shown, answer };
  }

  example(i: number): TaskExample {
    const { history, shown, answer } = this.lists(i);
    const prompt = candidatesPrompt(this.ctx.fragments, this.ctx.sids, history, shown);
    return { prompt, target: [...answer.flatMap((item) => this.ctx.sids[item]!), this.ctx.eos] };
  }
}

/**
 * Interleaved user-persona grounding: the history is shown as SIDs interleaved with the items'
 * titles, after a one-line persona derived from that same history (the user's most frequent
 * categories and brand), and the answer is the next item's SID. It teaches the model to read
 * SIDs and text as one sequence, which the re-ranking prompts (history + candidates, cited by
 * SID) rely on. Built from the train prefixes only, like the sequential task.
 */
import type { TaskContext } from "./context.js";
import { PositionTask, type TrainPositions } from "./positions.js";
import type { TaskExample } from "./types.js";

export class PersonaTask extends PositionTask {
  readonly name = "persona" as const;

  constructor(
    ctx: TaskContext,
    positions: TrainPositions,
    /** Items shown with their titles (the most recent ones). */
    maxHistory = 8,
    /** Categories named in the persona line. */
    readonly topCategories = 2,
  ) {
    super(ctx, positions, maxHistory);
  }

  example(i: number): TaskExample {
    const { history, target } = this.positions.at(i, this.maxHistory);
    const { fragments: f, sids, titles, labels } = this.ctx;
    const prompt = [...f.likes];
    const liked = [...mostFrequent(history.map((it) => this.ctx.categoryOf[it]!), this.topCategories), ...mostFrequent(history.map((it) => this.ctx.brandOf[it]!), 1)];
    liked.forEach((label, j) => prompt.push(...(j > 0 ? f.comma : []), ...labels[label]!));
    prompt.push(...f.likesEnd);
    for (const item of history) prompt.push(...f.space, ...sids[item]!, ...f.space, ...titles[item]!, ...f.semicolon);
    prompt.push(...f.next);
    return { prompt, target: this.ctx.answer(target) };
  }
}

/** The `n` most frequent non-negative values, most frequent first (ties: earliest first seen). */
function mostFrequent(values: readonly number[], n: number): number[] {
  const counts = new Map<number, number>();
  for (const v of values) if (v >= 0) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([v]) => v);
}

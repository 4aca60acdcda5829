/**
 * Sequential preference (OneRec-Think's main task, ~65% of the mixture): a user's history of
 * SIDs → the next item's SID. Prompt and answer have exactly the shape the generative
 * evaluation decodes (`sequentialPrompt`), so what is trained is what is measured.
 */
import { sequentialPrompt, type TaskContext } from "./context.js";
import { PositionTask, type TrainPositions } from "./positions.js";
import type { TaskExample } from "./types.js";

export class SequentialTask extends PositionTask {
  readonly name = "sequential" as const;

  /** maxHistory: TIGER uses 20. */
  constructor(ctx: TaskContext, positions: TrainPositions, maxHistory = 20) {
    super(ctx, positions, maxHistory);
  }

  example(i: number): TaskExample {
    const { history, target } = this.positions.at(i, this.maxHistory);
    return { prompt: sequentialPrompt(this.ctx.fragments, this.ctx.sids, history), target: this.ctx.answer(target) };
  }
}

/**
 * Sequential preference (OneRec-Think's main task, ~65% of the mixture): a user's history of
 * SIDs → the next item's SID. Prompt and answer have exactly the shape the generative
 * evaluation decodes (`sequentialPrompt`), so what is trained is what is measured.
 */
import { sequentialPrompt, type TaskContext } from "./context.js";
import type { TrainPositions } from "./positions.js";
import { MidtrainTask, type TaskExample } from "./types.js";

export class SequentialTask extends MidtrainTask {
  readonly name = "sequential" as const;

  constructor(
    readonly ctx: TaskContext,
    readonly positions: TrainPositions,
    /** History items shown (the most recent ones; TIGER uses 20). */
    readonly maxHistory = 20,
  ) {
    super();
  }

  get size(): number {
    return this.positions.size;
  }

  example(i: number): TaskExample {
    const { history, target } = this.positions.at(i, this.maxHistory);
    return { prompt: sequentialPrompt(this.ctx.fragments, this.ctx.sids, history), target: this.ctx.answer(target) };
  }
}

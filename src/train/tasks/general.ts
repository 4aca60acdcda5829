/**
 * General text: the catalogue text pre-training learned from, kept in the mixture (~5%) so the
 * model does not forget its language while it learns SIDs. Each example is one item's text
 * after an end-of-text token, exactly as the pre-training stream presents documents.
 */
import type { TaskContext } from "./context.js";
import { MidtrainTask, type TaskExample } from "./types.js";

export class GeneralTextTask extends MidtrainTask {
  readonly name = "general" as const;

  constructor(readonly ctx: TaskContext) {
    super();
  }

  get size(): number {
    return this.ctx.texts.length;
  }

  example(i: number): TaskExample {
    return { prompt: [this.ctx.eos], target: [...this.ctx.texts[i]!, this.ctx.eos] };
  }
}

/**
 * Itemic dense captioning (the alignment task): ties each new SID token sequence to the
 * language the model already has. Even examples caption a SID ("Item <SID> is: <title | brand |
 * category | price>"), odd ones ground text in a SID ("The SID of <text> is: <SID>"), so both
 * directions are learned for every item of the catalogue.
 */
import type { TaskContext } from "./context.js";
import { MidtrainTask, type TaskExample } from "./types.js";

export class CaptionTask extends MidtrainTask {
  readonly name = "caption" as const;

  constructor(readonly ctx: TaskContext) {
    super();
  }

  get size(): number {
    return 2 * this.ctx.sids.length;
  }

  example(i: number): TaskExample {
    const item = i >> 1;
    const { fragments: f, sids, texts } = this.ctx;
    if (i % 2 === 0) return { prompt: [...f.item, ...sids[item]!, ...f.is], target: [...texts[item]!, this.ctx.eos] };
    return { prompt: [...f.sidOf, ...texts[item]!, ...f.sidOfEnd], target: this.ctx.answer(item) };
  }
}

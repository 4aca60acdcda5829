/**
 * What a mid-training task produces: a prompt and a target, both token ids. The loss is on the
 * target only (the prompt is context), so the model learns to *answer* in SIDs or text, not to
 * reproduce the question.
 */
import type { Rng } from "../../util/rng.js";

export interface TaskExample {
  /** Context tokens (never trained); at least one token, so the first target has a predecessor. */
  prompt: number[];
  /** Tokens the loss is computed on. */
  target: number[];
}

export const TASK_NAMES = ["sequential", "candidates", "caption", "persona", "general"] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/**
 * A task is a finite, indexed family of examples: `example(i)` for i in [0, size) is a pure
 * function of i (so batches are reproducible), and `sample` draws one uniformly.
 */
export abstract class MidtrainTask {
  abstract readonly name: TaskName;
  /** How many distinct examples the task can make (0: none, the mixture then skips it). */
  abstract readonly size: number;
  abstract example(i: number): TaskExample;

  sample(rng: Rng): TaskExample {
    return this.example(rng.int(this.size));
  }
}

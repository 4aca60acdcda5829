import type { TaskContext } from "./context.js";
import { MidtrainTask } from "./types.js";

/**
 * Next-item positions inside the training prefixes: (user, k) with 1 ≤ k < |train[user]|, the
 * example "train[user][0..k-1] → train[user][k]". Only the leave-one-out *train* prefixes are
 * used (docs/architecture.md, Protocol), so no valid or test target is ever a training target
 * or in a training history: the prefixes end before them.
 */
export class TrainPositions {
  readonly users: Int32Array;
  readonly ks: Int32Array;

  constructor(readonly train: readonly (readonly number[])[]) {
    const users: number[] = [];
    const ks: number[] = [];
    train.forEach((prefix, user) => {
      for (let k = 1; k < prefix.length; k++) {
        users.push(user);
        ks.push(k);
      }
    });
    this.users = Int32Array.from(users);
    this.ks = Int32Array.from(ks);
  }

  get size(): number {
    return this.users.length;
  }

  /** Position i's user, its history (the last `maxHistory` items before k) and its target. */
  at(i: number, maxHistory: number): { user: number; history: readonly number[]; target: number } {
    const user = this.users[i]!;
    const k = this.ks[i]!;
    const prefix = this.train[user]!;
    return { user, history: prefix.slice(Math.max(0, k - maxHistory), k), target: prefix[k]! };
  }
}

/**
 * A task with one example per next-item position of the train prefixes (sequential, persona,
 * candidates): each shows the `maxHistory` items before a position and asks about the item at it.
 */
export abstract class PositionTask extends MidtrainTask {
  constructor(
    readonly ctx: TaskContext,
    readonly positions: TrainPositions,
    /** History items shown (the most recent ones). */
    readonly maxHistory: number,
  ) {
    super();
  }

  get size(): number {
    return this.positions.size;
  }
}

/**
 * Time-ordered leave-one-out (docs/architecture.md, Protocol; the P5 / S3-Rec / TIGER
 * convention). For a user with sequence s[0..n-1]:
 *
 * - test:  history s[0..n-2] → target s[n-1]
 * - valid: history s[0..n-3] → target s[n-2]
 * - train: the prefix s[0..n-3]; next-item training uses s[0..k-1] → s[k] for k = 1..n-3
 *   (`trainExamples`), so nothing trained on is ever a valid or test target.
 *
 * A user needs at least 3 items (one each for test, valid and train). Shorter users are an error
 * unless `skipShortUsers` is set, in which case they are listed in `split.skippedUsers`, get an
 * empty train prefix and no examples. `maxHistory` keeps the last L items of each example's
 * history (TIGER uses 20, SASRec-style models 50); train prefixes stay whole, because the
 * training loop windows them itself.
 */
import { DataError } from "./errors.js";
import type { Example, Interactions, Split } from "./types.js";

export const MIN_SEQUENCE_FOR_SPLIT = 3;

export interface SplitOptions {
  /** Keep only the last `maxHistory` items of each example's history. */
  maxHistory?: number;
  /** Skip (and list) users with fewer than 3 items instead of throwing. */
  skipShortUsers?: boolean;
}

export function leaveOneOut(interactions: Interactions, options: SplitOptions = {}): Split {
  checkMaxHistory(options.maxHistory);
  const split: Split = { train: [], valid: [], test: [] };
  const skipped: number[] = [];
  interactions.sequences.forEach((s, user) => {
    const n = s.length;
    if (n < MIN_SEQUENCE_FOR_SPLIT) {
      if (!options.skipShortUsers) {
        const who = `user ${JSON.stringify(interactions.userIds[user])} (index ${user})`;
        throw new DataError(
          undefined,
          `${who} has ${n} item(s); leave-one-out needs at least ${MIN_SEQUENCE_FOR_SPLIT} (test, valid, train). ` +
            "Filter short users first or pass skipShortUsers",
        );
      }
      skipped.push(user);
      split.train.push([]);
      return;
    }
    split.train.push(s.slice(0, n - 2));
    split.valid.push(example(user, s, n - 2, options.maxHistory));
    split.test.push(example(user, s, n - 1, options.maxHistory));
  });
  if (options.skipShortUsers) split.skippedUsers = skipped;
  return split;
}

/** Every next-item example inside the train prefixes: s[0..k-1] → s[k] for k = 1..n-3. */
export function trainExamples(split: Split, options: Pick<SplitOptions, "maxHistory"> = {}): Example[] {
  checkMaxHistory(options.maxHistory);
  const examples: Example[] = [];
  split.train.forEach((prefix, user) => {
    for (let k = 1; k < prefix.length; k++) examples.push(example(user, prefix, k, options.maxHistory));
  });
  return examples;
}

/**
 * Each user's last train-prefix position: s[0..n-4] → s[n-3] (users with a train prefix of at
 * least 2 items). One more list per user to learn from, the position just before valid's.
 */
export function lastTrainExamples(split: Split, options: Pick<SplitOptions, "maxHistory"> = {}): Example[] {
  checkMaxHistory(options.maxHistory);
  return split.train.flatMap((prefix, user) => (prefix.length >= 2 ? [example(user, prefix, prefix.length - 1, options.maxHistory)] : []));
}

/** History s[0..k-1] (its last `maxHistory` items) → target s[k]. */
function example(user: number, s: readonly number[], k: number, maxHistory?: number): Example {
  const from = maxHistory === undefined ? 0 : Math.max(0, k - maxHistory);
  return { user, history: s.slice(from, k), target: s[k]! };
}

function checkMaxHistory(maxHistory: number | undefined): void {
  if (maxHistory !== undefined && (!Number.isInteger(maxHistory) || maxHistory < 1)) {
    throw new RangeError(`maxHistory must be a positive integer, got ${maxHistory}`);
  }
}

/**
 * A test window of W items (the technical report's setting of several positives per list):
 * each user's last W − 1 items are set aside, so that leave-one-out on what is left puts the
 * test target at s[n−W] with the history s[0..n−W−1], and the items set aside are the user's
 * later ones, more positives for the test list (`BuildOptions.later`, src/rank/candidates.ts).
 *
 * Everything a re-ranker learns from or sees is computed from `interactions` (the items left),
 * so nothing in the window can leak into training, evidence or prompts: the window is the
 * future, as the test target is under plain leave-one-out (W = 1, which changes nothing).
 * A user keeps at least 3 items (`MIN_SEQUENCE_FOR_SPLIT`): a shorter one sets aside fewer.
 */
export function testWindow(interactions: Interactions, window: number): { interactions: Interactions; later: number[][] } {
  if (!(Number.isInteger(window) && window >= 1)) throw new RangeError(`test window must be an integer ≥ 1 (1 = leave-one-out), got ${window}`);
  if (window === 1) return { interactions, later: interactions.sequences.map(() => []) };
  const later: number[][] = [];
  const sequences = interactions.sequences.map((s) => {
    const keep = Math.max(Math.min(s.length, MIN_SEQUENCE_FOR_SPLIT), s.length - (window - 1));
    later.push(s.slice(keep));
    return s.slice(0, keep);
  });
  return { interactions: { ...interactions, sequences }, later };
}

/**
 * Lists for the re-ranker to learn from, many per user and as hard as the test lists.
 *
 * The valid lists give one list per user: ~2k on Beauty, where 131k training positions exist.
 * Lists can be built at earlier positions of each user's train prefix (history s[0..k-1],
 * target s[k]), but not with the upstream ranker itself: it trained on those targets, so its
 * order is right far more often there than on the test lists (Beauty: incoming R@1 0.42 on the
 * last train position against 0.287 on test), and a re-ranker learning from such lists learns
 * to trust the order too much. Two ways to score them with a ranker that never saw the target:
 *
 * - `cut` (time cut, the default): one more ranker, fit on every train prefix less its last
 *   `positions` items, scores the lists at those positions. Like the deployed ranker at test
 *   time, it knows the user's earlier purchases and not the target; one extra fit.
 * - `folds` (cross-fitting): the users are split into F folds, and a ranker fit on the other
 *   folds' sequences scores each fold's positions. It never saw the user at all, so its order is
 *   a little weaker than the deployed ranker's; F fits.
 *
 * The pipeline reports the incoming R@1 of these lists beside the test lists' so the match can
 * be checked.
 */
import type { Split } from "../data/types.js";
import { Rng } from "../util/rng.js";
import type { RankerKind } from "./checkpoint.js";
import { buildCandidateLists, type CandidateList, type NegativeStrategy } from "./candidates.js";
import { fitRanker, type FitOptions } from "./fit.js";

export interface LearningListOptions {
  /** `cut` (default) or `folds` (see the file comment). */
  method?: "cut" | "folds";
  /** Folds F for `folds` (default 4): F rankers, each fit on (F−1)/F of the users. */
  folds?: number;
  /** Train positions per user, the most recent first (default 5). */
  positionsPerUser?: number;
  /** Shortest history a position may have (default 2). */
  minHistory?: number;
  /** Users whose positions are used (dense indices; default all). */
  users?: ReadonlySet<number>;
  negatives?: NegativeStrategy;
  fit?: FitOptions;
  seed?: number;
  log?: (line: string) => void;
}

/** `train` lists at up to `positionsPerUser` positions of each chosen user's train prefix, scored by rankers that never saw their targets. */
export function learningLists(kind: RankerKind, split: Split, numItems: number, userIds: readonly string[], o: LearningListOptions = {}): CandidateList[] {
  const perUser = o.positionsPerUser ?? 5;
  const minHistory = Math.max(1, o.minHistory ?? 2);
  if (!(Number.isInteger(perUser) && perUser >= 1)) throw new RangeError(`positions per user must be an integer ≥ 1, got ${perUser}`);
  const positions = (user: number, seq: readonly number[]) => {
    const out = [];
    for (let k = seq.length - 1; k >= minHistory && out.length < perUser; k--) out.push({ user, history: seq.slice(0, k), target: seq[k]! });
    return out;
  };
  if ((o.method ?? "cut") === "cut") {
    // Each prefix less its last perUser items (never below minHistory): the ranker sees no target it will score.
    const train = split.train.map((seq) => seq.slice(0, Math.max(minHistory, seq.length - perUser)));
    const { ranker } = fitRanker(kind, { train, valid: split.valid, test: [] }, numItems, o.fit);
    const examples = split.train.flatMap((seq, user) => (o.users && !o.users.has(user) ? [] : positions(user, seq).filter((e) => e.history.length >= train[user]!.length)));
    const lists = buildCandidateLists(ranker, examples, "train", userIds, { negatives: o.negatives, seed: o.seed }).lists;
    o.log?.(`  time cut: ${lists.length} lists from ${examples.length} positions`);
    return lists;
  }
  const F = o.folds ?? 4;
  if (!(Number.isInteger(F) && F >= 2)) throw new RangeError(`cross-fitting needs an integer number of folds ≥ 2, got ${F}`);
  const users = split.train.length;
  const fold = new Int32Array(users);
  // A seeded shuffle, dealt round-robin: folds of equal size whatever the user order.
  new Rng(o.seed ?? 0).shuffle(Array.from({ length: users }, (_, u) => u)).forEach((u, j) => (fold[u] = j % F));
  const lists: CandidateList[] = [];
  for (let f = 0; f < F; f++) {
    // The ranker of fold f sees no sequence of fold f's users (their train prefixes are emptied).
    const train = split.train.map((seq, u) => (fold[u] === f ? [] : seq));
    const validOthers = split.valid.filter((e) => fold[e.user] !== f);
    const { ranker } = fitRanker(kind, { train, valid: validOthers, test: [] }, numItems, o.fit);
    const examples = split.train.flatMap((seq, user) => (fold[user] !== f || (o.users && !o.users.has(user)) ? [] : positions(user, seq)));
    const built = buildCandidateLists(ranker, examples, "train", userIds, { negatives: o.negatives, seed: o.seed }).lists;
    o.log?.(`  fold ${f + 1}/${F}: ${built.length} lists from ${examples.length} positions`);
    lists.push(...built);
  }
  return lists;
}

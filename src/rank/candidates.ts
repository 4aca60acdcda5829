/**
 * Candidate lists: what the re-ranker receives (docs/architecture.md, Protocol). For each user and split, the
 * target plus K − 1 negatives, ordered by the upstream ranker's score; `rankPre` is the
 * target's 1-based place there. Which negatives:
 *
 * - `hits` (default, the paper's setting): the ranker's own top K, kept only for the users whose
 *   target is in it, so the target is always in the list *because the ranker put it there*;
 * - `top`: the K − 1 highest-scored items besides the target, for every user (a target the
 *   ranker missed then sits last);
 * - `pool:P`: K − 1 drawn (seeded) from the P highest-scored items outside the history;
 * - `random`: K − 1 drawn uniformly from all items outside the history.
 *
 * The artefact is JSONL, one list per line, items and users named by their dataset ids, so
 * that users can bring lists from their own upstream ranker. docs/candidates-format.md is the
 * reference; `readCandidateLists` checks every rule there and names file:line on failure.
 */
import { readFileSync } from "node:fs";
import { DataError } from "../data/errors.js";
import { Rng } from "../data/rng.js";
import type { Example } from "../data/types.js";
import { writeFileAtomic } from "../util/atomic.js";
import { rankOfTarget, scoreInBatches, topItems, type Ranker } from "./ranker.js";

export const LIST_SIZE = 10;
/** The evaluation splits (`gr2 rank candidates --splits`). */
export const SPLITS = ["valid", "test"] as const;
export type EvalSplit = (typeof SPLITS)[number];
/**
 * A list's split. `train` lists (each user's last train-prefix position; see `lastTrainExamples`)
 * are extra lists to learn from: the ranker was trained on those targets, so they are never
 * evaluated on.
 */
export const LIST_SPLITS = ["train", ...SPLITS] as const;
export type ListSplit = (typeof LIST_SPLITS)[number];

/**
 * What names a list among others: its split and user, and for `train` lists its position (the
 * history's length), since a user has many train lists (one per position learned from) and at
 * most one valid and one test list.
 */
export const listKey = (split: string, user: string, position?: number): string => `${split}\u0000${user}${split === "train" && position !== undefined ? `\u0000${position}` : ""}`;

/** `listKey` of a list. */
export const keyOfList = (l: { split: string; user: string; history: readonly unknown[] }): string => listKey(l.split, l.user, l.history.length);

/** One candidate list, items as dense catalogue indices. */
export interface CandidateList {
  /** The dataset's user id (upstream string). */
  user: string;
  split: ListSplit;
  /** Items before the target, oldest first. */
  history: number[];
  /** In incoming (upstream) order; contains `target` exactly once. */
  candidates: number[];
  target: number;
  /** 1-based position of `target` in `candidates`. */
  rankPre: number;
  /** Upstream scores parallel to `candidates` (non-increasing), or null when unknown. */
  scores: number[] | null;
  /**
   * Relevance grades parallel to `candidates`, for lists with several positives (the technical
   * report's setting; `testWindow` in src/data/split.ts): 0 = not relevant, the target's grade
   * is the highest. Absent: the target is the only positive. Metrics read them as graded NDCG.
   */
  grades?: number[];
}

export type NegativeStrategy = { kind: "hits" } | { kind: "top" } | { kind: "pool"; size: number } | { kind: "random" };

/**
 * The default is `hits`, because it is the setting the paper's numbers come from. Its pre-rank
 * list scores R@1 0.2892, R@5 0.7227, NDCG@5 0.5101 on Beauty. A SASRec's full-ranking metrics
 * give the same numbers for its top-10 lists that contain the target: R@5 / R@10 =
 * 0.0584 / 0.0811 = 0.720 and NDCG@5 / R@10 = 0.507 with ours. Every other choice leaves the
 * position of the target as a give-away. With `top`, a target the ranker missed (92% of Beauty
 * users) sits last. With `pool:P` (the previous default), the target still scored below the
 * pool's negatives on average: incoming R@5 0.315 against random's 0.463, and a listwise model
 * reached R@1 0.71 by learning "promote the last items". The cost of `hits` is coverage: only
 * the users the ranker retrieves get a list (its full-ranking Recall@K of them).
 */
export function defaultNegatives(): NegativeStrategy {
  return { kind: "hits" };
}

export function parseNegatives(text: string): NegativeStrategy {
  if (text === "hits") return { kind: "hits" };
  if (text === "top") return { kind: "top" };
  if (text === "random") return { kind: "random" };
  const m = /^pool:(\d+)$/.exec(text);
  if (m) return { kind: "pool", size: Number(m[1]) };
  throw new RangeError(`unknown negatives "${text}" (expected hits, top, pool:P or random)`);
}

export const formatNegatives = (s: NegativeStrategy): string => (s.kind === "pool" ? `pool:${s.size}` : s.kind);

export interface BuildOptions {
  /** List size K (default 10). */
  size?: number;
  negatives?: NegativeStrategy;
  /** Seed for `pool` and `random` draws. */
  seed?: number;
  /**
   * Several positives per list: per user index, the items the user went on to consume after the
   * example's target (a test window, src/data/split.ts). Lists then carry `grades`: the target 2,
   * a later item in the list 1. Under `hits` a user whose target the ranker missed still gets a
   * list when a later item is in its top K; that item becomes the list's target (the first of the
   * user's next items the ranker retrieved).
   */
  later?: readonly (readonly number[])[];
  onProgress?: (done: number, total: number) => void;
}

export interface BuiltLists {
  /** One per example, except under `hits`: only the examples whose target the ranker put in its top K. */
  lists: CandidateList[];
  /** Per example (all of them), the target's full-ranking rank (all items minus the history), for free. */
  fullRanks: Int32Array;
}

/**
 * Builds one list per example with `ranker`'s scores. `userIds[e.user]` names each list's user.
 */
export function buildCandidateLists(ranker: Ranker, examples: readonly Example[], split: ListSplit, userIds: readonly string[], o: BuildOptions = {}): BuiltLists {
  const K = o.size ?? LIST_SIZE;
  const negatives = o.negatives ?? defaultNegatives();
  if (!(Number.isInteger(K) && K >= 2)) throw new RangeError(`list size must be an integer ≥ 2, got ${K}`);
  if (negatives.kind === "pool" && negatives.size < K - 1) throw new RangeError(`pool:${negatives.size} is smaller than the ${K - 1} negatives a list needs`);
  const rng = new Rng(o.seed ?? 0);
  const lists: CandidateList[] = [];
  const fullRanks = new Int32Array(examples.length);
  scoreInBatches(
    ranker,
    examples.map((e) => e.history),
    (rows, offset) =>
      rows.forEach((scores, i) => {
        const e = examples[offset + i]!;
        const later = o.later ? (o.later[e.user] ?? []) : null;
        const fullRank = (fullRanks[offset + i] = rankOfTarget(scores, e.history, e.target));
        let target = e.target;
        if (negatives.kind === "hits" && fullRank > K) {
          const top = later?.length ? new Set(topItems(scores, K, new Set(e.history))) : null;
          const next = top ? later!.find((x) => top.has(x)) : undefined;
          if (next === undefined) return;
          target = next;
        }
        const exclude = new Set(e.history);
        exclude.add(target);
        const available = ranker.numItems - exclude.size;
        if (available < K - 1) throw new RangeError(`user ${userIds[e.user]}: only ${available} items are outside the history; a list needs ${K - 1} negatives`);
        const negs = drawNegatives(scores, K - 1, exclude, negatives, rng);
        const candidates = [target, ...negs].sort((a, b) => scores[b]! - scores[a]! || a - b);
        const positives = later ? new Set([e.target, ...later]) : null;
        lists.push({
          user: userIds[e.user] ?? String(e.user),
          split,
          history: e.history.slice(),
          candidates,
          target,
          rankPre: candidates.indexOf(target) + 1,
          scores: candidates.map((c) => roundScore(scores[c]!)),
          ...(positives ? { grades: candidates.map((c) => (c === target ? 2 : positives.has(c) ? 1 : 0)) } : {}),
        });
      }),
    { onProgress: o.onProgress },
  );
  return { lists, fullRanks };
}

function drawNegatives(scores: Float32Array, n: number, exclude: ReadonlySet<number>, s: NegativeStrategy, rng: Rng): number[] {
  // For a hit, the K − 1 best items besides the target are the rest of the ranker's top K.
  if (s.kind === "top" || s.kind === "hits") return topItems(scores, n, exclude);
  if (s.kind === "pool") return rng.sample(topItems(scores, s.size, exclude), n);
  const picked = new Set<number>();
  while (picked.size < n) {
    const i = rng.int(scores.length);
    if (!exclude.has(i)) picked.add(i);
  }
  return [...picked];
}

/** Six significant digits: enough to keep the order, short enough for a readable file. */
const roundScore = (x: number): number => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x > 0 ? 1e38 : -1e38);

// ---- the JSONL artefact ------------------------------------------------------------------

/** The JSON object of one line (docs/candidates-format.md). */
export interface CandidateLine {
  user: string;
  split: ListSplit;
  history: string[];
  candidates: string[];
  target: string;
  rank_pre: number;
  scores?: number[] | null;
  grades?: number[];
}

export function toLine(list: CandidateList, itemIds: readonly string[]): CandidateLine {
  const id = (i: number) => itemIds[i] ?? String(i);
  return {
    user: list.user,
    split: list.split,
    history: list.history.map(id),
    candidates: list.candidates.map(id),
    target: id(list.target),
    rank_pre: list.rankPre,
    scores: list.scores,
    ...(list.grades ? { grades: list.grades } : {}),
  };
}

/** Writes lists as JSONL (atomically: a reader never sees half a file). */
export function writeCandidateLists(path: string, lists: readonly CandidateList[], itemIds: readonly string[]): void {
  const text = lists.map((l) => JSON.stringify(toLine(l, itemIds))).join("\n");
  writeFileAtomic(path, lists.length ? `${text}\n` : "");
}

export interface ReadOptions {
  /** Keep only these splits (default: all). */
  splits?: readonly ListSplit[];
  /** Require every list to have this size (default: any size ≥ 2, but one size per file). */
  size?: number;
}

/**
 * Reads and validates a candidate file. `itemIds` is the catalogue (dense index → id); every
 * item named in the file must be in it. Throws a DataError naming `file:line` at the first
 * problem. Blank lines are skipped.
 */
export function readCandidateLists(path: string, itemIds: readonly string[], o: ReadOptions = {}): CandidateList[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new DataError({ file: path }, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const index = new Map(itemIds.map((id, i) => [id, i]));
  const lists: CandidateList[] = [];
  const seen = new Set<string>();
  let size = o.size;
  const lines = text.split("\n");
  lines.forEach((raw, n) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const where = { file: path, line: n + 1 };
    const list = parseLine(line, where, index);
    size ??= list.candidates.length;
    if (list.candidates.length !== size) {
      throw new DataError(where, `"candidates" has ${list.candidates.length} items; ${o.size ? "expected" : "earlier lines have"} ${size}`);
    }
    const key = keyOfList(list);
    if (seen.has(key)) throw new DataError(where, `user ${JSON.stringify(list.user)} has a second "${list.split}" list${list.split === "train" ? ` at position ${list.history.length}` : ""}; one list per user and split (train: per user and position)`);
    seen.add(key);
    if (!o.splits || o.splits.includes(list.split)) lists.push(list);
  });
  return lists;
}

function parseLine(line: string, where: { file: string; line: number }, index: ReadonlyMap<string, number>): CandidateList {
  const fail = (msg: string): never => {
    throw new DataError(where, msg);
  };
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return fail("expected a JSON object");
  const o = obj as Record<string, unknown>;
  const id = (v: unknown, field: string): string => {
    if (typeof v === "string" && v !== "") return v;
    if (typeof v === "number" && Number.isInteger(v)) return String(v);
    return fail(`"${field}" must be an id (a non-empty string or an integer), got ${JSON.stringify(v)}`);
  };
  const item = (v: unknown, field: string): number => {
    const s = id(v, field);
    const i = index.get(s);
    if (i === undefined) return fail(`"${field}" names item ${JSON.stringify(s)}, which is not in the catalogue`);
    return i;
  };
  const items = (field: string): number[] => {
    const v = o[field];
    if (!Array.isArray(v)) return fail(`"${field}" must be an array of item ids, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
    return v.map((x, i) => item(x, `${field}[${i}]`));
  };

  const user = id(o.user, "user");
  const split = o.split;
  if (!(LIST_SPLITS as readonly unknown[]).includes(split)) fail(`"split" must be ${LIST_SPLITS.map((x) => `"${x}"`).join(", ")}, got ${JSON.stringify(split)}`);
  const history = items("history");
  const candidates = items("candidates");
  const target = item(o.target, "target");
  if (candidates.length < 2) fail(`"candidates" needs at least 2 items, got ${candidates.length}`);
  if (new Set(candidates).size !== candidates.length) fail(`"candidates" names an item twice`);
  const at = candidates.indexOf(target);
  if (at < 0) fail(`"target" ${JSON.stringify(o.target)} is not among "candidates"`);
  const rankPre = o.rank_pre;
  if (rankPre !== at + 1) fail(`"rank_pre" is ${JSON.stringify(rankPre)} but the target is candidate ${at + 1} (1-based)`);
  let scores: number[] | null = null;
  if (o.scores !== undefined && o.scores !== null) {
    const s = o.scores;
    if (!Array.isArray(s) || s.length !== candidates.length || !s.every((x) => typeof x === "number" && Number.isFinite(x))) {
      fail(`"scores" must be ${candidates.length} finite numbers parallel to "candidates" (or null)`);
    }
    scores = s as number[];
    for (let i = 1; i < scores.length; i++) {
      if (scores[i]! > scores[i - 1]!) fail(`"scores" must not increase: candidates are in upstream order (position ${i + 1} scores above position ${i})`);
    }
  }
  let grades: number[] | undefined;
  if (o.grades !== undefined && o.grades !== null) {
    const g = o.grades;
    if (!Array.isArray(g) || g.length !== candidates.length || !g.every((x) => typeof x === "number" && Number.isFinite(x) && x >= 0)) {
      fail(`"grades" must be ${candidates.length} numbers ≥ 0 parallel to "candidates" (or null)`);
    }
    grades = g as number[];
    const top = Math.max(...grades);
    if (!(grades[at]! > 0 && grades[at] === top)) fail(`"grades": the target (candidate ${at + 1}) must have the highest grade, above 0; it has ${grades[at]} and the highest is ${top}`);
  }
  return { user, split: split as ListSplit, history, candidates, target, rankPre: at + 1, scores, ...(grades ? { grades } : {}) };
}

/**
 * `gr2 rank …`: train an upstream ranker and write candidate lists. Thin: parses flags, calls
 * src/rank, prints. Every error becomes one line on stderr and exit code 2.
 *
 *   gr2 rank train --dataset NAME --out DIR [--ranker sasrec|popularity|item-knn] …
 *   gr2 rank candidates --dataset NAME --ranker DIR --out FILE [--negatives hits] …
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { leaveOneOut, testWindow } from "../data/split.js";
import type { Dataset, Split } from "../data/types.js";
import { FULL_RANKING_METRICS, fullRankingMetrics, meanMetrics, type FullRankingMetrics } from "../rank/metrics.js";
import { buildCandidateLists, defaultNegatives, formatNegatives, parseNegatives, SPLITS, writeCandidateLists, type CandidateList, type EvalSplit } from "../rank/candidates.js";
import { loadRanker, RANKER_KINDS, saveRanker, type RankerKind } from "../rank/checkpoint.js";
import { fitRanker } from "../rank/fit.js";
import type { EpochLog, SasrecLoss } from "../rank/sasrec-train.js";
import type { Ranker } from "../rank/ranker.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, numberFlag, PROCESS_OUTPUT, requiredFlag, round, runSubcommands, UsageError, type DatasetFlags, type Output } from "./args.js";

const USAGE = `usage:
  gr2 rank train --dataset NAME [--data-dir DIR] [--users N --items N --seed S] --out DIR [--json]
      [--ranker sasrec|popularity|item-knn] [--train-seed 0] [--device cpu]
      sasrec: [--epochs 200] [--patience 5] [--eval-every 2] [--eval-users 5000] [--batch-size 128]
              [--lr 0.001] [--weight-decay 0] [--hidden 64] [--layers 2] [--heads 2] [--ffn 256]
              [--dropout 0.5] [--max-len 50] [--loss ce|bce] [--no-autocast]
      item-knn: [--neighbours 100] [--recency-decay 0.8]
  gr2 rank candidates --dataset NAME [--data-dir DIR] [--users N --items N --seed S] --ranker DIR
      --out FILE [--splits valid,test] [--negatives hits|top|pool:P|random (default hits: the top K, for the users it contains the target of)] [--size 10] [--train-seed 0] [--json]
--seed seeds the synthetic catalogue (as in every gr2 command); --train-seed seeds the ranker and
the negatives. The ranker trains on the train split only; by default a list is the ranker's top K
for each user whose target is in it (the paper's setting; see docs/candidates-format.md).
--test-window W (every rank and eval command) sets each user's last W − 1 items aside first; test
lists then have several graded positives, the user's next W items the ranker retrieved.`;

export function rankCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  return runSubcommands("rank", USAGE, { train: trainCommand, candidates: candidatesCommand }, args, io);
}

// ---- shared flags ----------------------------------------------------------------------------

/** The dataset flags (args.ts) and --json: what every `gr2 rank` and `gr2 eval baselines` command takes. */
export const DATA_OPTIONS = { ...DATASET_OPTIONS, json: { type: "boolean", default: false }, "test-window": { type: "string" } } as const;

export interface LoadedData {
  dataset: Dataset;
  split: Split;
  numItems: number;
  itemIds: string[];
  userIds: string[];
  /** Short description for reports: "amazon-beauty" or "synthetic(users=…, items=…, seed=…)". */
  name: string;
  /** The dataset flags it was loaded from. */
  flags: DatasetFlags;
  /** With --test-window W > 1: per user, the items set aside after the test target (more positives for test lists). */
  later?: number[][];
}

/**
 * Loads the dataset named by the dataset flags (--dataset required) and splits it leave-one-out,
 * after setting each user's last W − 1 items aside under --test-window W (src/data/split.ts).
 */
export async function loadFromFlags(values: Record<string, unknown>): Promise<LoadedData> {
  const flags = datasetFlags(values, { required: true });
  const loaded = await loadDataset(flags);
  const W = integerFlag(values, "test-window", 1) ?? 1;
  const aside = testWindow(loaded.interactions, W);
  const dataset = { ...loaded, interactions: aside.interactions };
  const split = leaveOneOut(dataset.interactions, { skipShortUsers: true });
  const { users, items, seed } = flags;
  const name = flags.name === "synthetic" ? `synthetic(users=${users ?? "default"}, items=${items ?? "default"}, seed=${seed ?? "default"})` : dataset.catalogue.name;
  return {
    dataset,
    split,
    numItems: dataset.catalogue.items.length,
    itemIds: dataset.catalogue.items.map((i) => i.id),
    userIds: dataset.interactions.userIds,
    name,
    flags,
    ...(W > 1 ? { later: aside.later } : {}),
  };
}

/**
 * A progress reporter for long loops: redraws one line on a terminal (at most 5 times a
 * second); elsewhere writes a line at most every 10 seconds, so logs stay short.
 */
export function progress(io: Output, label: string): (done: number, total: number, extra?: string) => void {
  const started = Date.now();
  let last = started;
  let shown = false;
  const interval = io.tty ? 200 : 10_000;
  return (done, total, extra) => {
    const now = Date.now();
    const finished = done >= total;
    // Short work stays silent; long work ends with its 100% line.
    if (finished ? !shown && now - started < 2000 : now - last < interval) return;
    last = now;
    shown = !finished;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const text = `${label} ${pct}% (${done}/${total})${extra ? ` ${extra}` : ""}`;
    if (io.tty) io.err(`\r\x1b[2K${text}${finished ? "\n" : ""}`);
    else io.err(`${text}\n`);
  };
}

export function roundAll<T extends Record<string, number>>(o: T, digits = 4): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number.isInteger(v) ? v : round(v, digits)])) as T;
}

// ---- gr2 rank train --------------------------------------------------------------------------

async function trainCommand(args: string[], io: Output): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...DATA_OPTIONS,
      out: { type: "string" },
      ranker: { type: "string", default: "sasrec" },
      "train-seed": { type: "string" },
      device: { type: "string", default: "cpu" },
      epochs: { type: "string" },
      patience: { type: "string" },
      "eval-every": { type: "string" },
      "eval-users": { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      "weight-decay": { type: "string" },
      hidden: { type: "string" },
      layers: { type: "string" },
      heads: { type: "string" },
      ffn: { type: "string" },
      dropout: { type: "string" },
      "max-len": { type: "string" },
      "no-autocast": { type: "boolean", default: false },
      loss: { type: "string", default: "ce" },
      neighbours: { type: "string" },
      "recency-decay": { type: "string" },
    },
  });
  const out = requiredFlag(v, "out", "DIR");
  const kind = choiceFlag<RankerKind>(v, "ranker", RANKER_KINDS, "sasrec");
  const data = await loadFromFlags(v);
  const seed = integerFlag(v, "train-seed", 0) ?? 0;
  const stepProgress = progress(io, "sasrec epoch");
  const fitted = fitRanker(kind, data.split, data.numItems, {
    sasrec: {
      hidden: integerFlag(v, "hidden", 1),
      layers: integerFlag(v, "layers", 1),
      heads: integerFlag(v, "heads", 1),
      ffn: integerFlag(v, "ffn", 1),
      dropout: numberFlag(v, "dropout", undefined, { min: 0, max: 0.99 }),
      maxLen: integerFlag(v, "max-len", 1),
    },
    sasrecTrain: {
      epochs: integerFlag(v, "epochs", 1),
      patience: integerFlag(v, "patience", 1),
      evalEvery: integerFlag(v, "eval-every", 1),
      evalUsers: integerFlag(v, "eval-users", 1),
      batchSize: integerFlag(v, "batch-size", 1),
      lr: numberFlag(v, "lr", undefined, { min: 0 }),
      weightDecay: numberFlag(v, "weight-decay", undefined, { min: 0 }),
      seed,
      device: v.device,
      autocast: !v["no-autocast"],
      loss: choiceFlag<SasrecLoss>(v, "loss", ["ce", "bce"], "ce"),
      onStep: (step, steps, epoch) => stepProgress(step, steps, `epoch ${epoch}`),
      onEpoch: (e) => io.err(`${describeEpoch(e)}\n`),
    },
    itemKnn: { neighbours: integerFlag(v, "neighbours", 1), recencyDecay: numberFlag(v, "recency-decay", undefined, { min: 0, max: 1 }) },
  });
  const fullRanking = {
    valid: evaluateFull(fitted.ranker, data, "valid", io),
    test: evaluateFull(fitted.ranker, data, "test", io),
  };
  saveRanker(out, fitted.ranker, {
    trainedOn: { dataset: data.name, split: "train", users: data.split.train.length, items: data.numItems },
    training: { ...fitted.training, fullRanking },
  });
  if (v.json) {
    io.out(`${JSON.stringify({ ranker: kind, out, dataset: data.name, users: data.split.test.length, items: data.numItems, full_ranking: fullRanking, training: summariseTraining(fitted.training) })}\n`);
  } else {
    io.out(`${kind} trained on the train split of ${data.name} (${data.split.train.length} users, ${data.numItems} items) → ${join(out, "ranker.json")}\n`);
    for (const s of ["valid", "test"] as const) io.out(`  ${s.padEnd(5)} full ranking: ${formatMetrics(fullRanking[s])}\n`);
  }
  return 0;
}

function describeEpoch(e: EpochLog): string {
  const valid = e.valid ? ` valid ndcg@10 ${e.valid["ndcg@10"].toFixed(4)} recall@10 ${e.valid["recall@10"].toFixed(4)}${e.best ? " (best)" : ""}` : "";
  return `epoch ${e.epoch}: loss ${e.loss.toFixed(4)} in ${e.seconds.toFixed(1)} s${valid}`;
}

function summariseTraining(t: Record<string, unknown>): Record<string, unknown> {
  const { log: _log, ...rest } = t;
  return rest;
}

/** Full-ranking metrics of a ranker on one split (all users), with progress. */
export function evaluateFull(ranker: Ranker, data: LoadedData, split: EvalSplit, io: Output): FullRankingMetrics {
  return roundAll(fullRankingMetrics(ranker, data.split[split], progress(io, `scoring ${split}`)));
}

export function formatMetrics(m: Record<string, number>): string {
  return Object.entries(m)
    .filter(([k]) => k !== "users")
    .map(([k, x]) => `${k} ${x.toFixed(4)}`)
    .join("  ");
}

// ---- gr2 rank candidates ---------------------------------------------------------------------

async function candidatesCommand(args: string[], io: Output): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...DATA_OPTIONS,
      ranker: { type: "string" },
      out: { type: "string" },
      splits: { type: "string", default: "valid,test" },
      negatives: { type: "string" },
      size: { type: "string" },
      "train-seed": { type: "string" },
      device: { type: "string", default: "cpu" },
    },
  });
  const out = requiredFlag(v, "out", "FILE");
  const rankerDir = requiredFlag(v, "ranker", "DIR");
  const splits = parseSplits(v.splits);
  const size = integerFlag(v, "size", 2);
  const data = await loadFromFlags(v);
  const negatives = v.negatives ? parseNegatives(v.negatives) : defaultNegatives();
  const { ranker, manifest } = loadRanker(rankerDir, v.device);
  if (manifest.numItems !== data.numItems) {
    throw new Error(`${rankerDir} was trained on ${manifest.numItems} items but ${data.name} has ${data.numItems}; train the ranker on this dataset`);
  }
  const result = buildLists(ranker, data, splits, { size, negatives, seed: integerFlag(v, "train-seed", 0) ?? 0 }, io);
  writeCandidateLists(out, result.lists, data.itemIds);
  const meta = {
    out,
    ranker: manifest.kind,
    dataset: data.name,
    negatives: formatNegatives(negatives),
    size: size ?? 10,
    lists: result.lists.length,
    splits: result.perSplit,
  };
  writeJsonAtomic(`${out}.meta.json`, { ...meta, rankerDir, createdAt: new Date().toISOString() });
  if (v.json) io.out(`${JSON.stringify(meta)}\n`);
  else {
    io.out(`${result.lists.length} lists (${splits.join(", ")}) → ${out}\n`);
    for (const [s, info] of Object.entries(result.perSplit)) {
      io.out(`  ${s.padEnd(5)} ${info.users}/${info.examples} users; rank_pre histogram ${info.rank_pre.join(" ")}; full ranking: ${formatMetrics(info.full_ranking)}\n`);
    }
  }
  return 0;
}

export function parseSplits(text: string): EvalSplit[] {
  const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const p of parts) if (!(SPLITS as readonly string[]).includes(p)) throw new UsageError(`--splits takes ${SPLITS.join(",")}; got "${p}"`);
  if (parts.length === 0) throw new UsageError("--splits is empty");
  return [...new Set(parts)] as EvalSplit[];
}

export interface BuiltSplits {
  lists: CandidateList[];
  /** Per split: lists written (`users`), of how many examples, the rank_pre histogram, the ranker's full-ranking metrics over all examples. */
  perSplit: Record<string, { users: number; examples: number; rank_pre: number[]; full_ranking: FullRankingMetrics }>;
}

/** Candidate lists for several splits, plus each split's rank_pre histogram and full-ranking metrics. */
export function buildLists(
  ranker: Ranker,
  data: LoadedData,
  splits: readonly EvalSplit[],
  o: { size?: number; negatives?: ReturnType<typeof parseNegatives>; seed?: number },
  io: Output,
): BuiltSplits {
  const lists: CandidateList[] = [];
  const perSplit: BuiltSplits["perSplit"] = {};
  for (const s of splits) {
    const later = s === "test" && data.later ? { later: data.later } : {};
    const built = buildCandidateLists(ranker, data.split[s], s, data.userIds, { ...o, ...later, onProgress: progress(io, `candidates ${s}`) });
    lists.push(...built.lists);
    const K = o.size ?? 10;
    const histogram = new Array<number>(K).fill(0);
    for (const l of built.lists) histogram[l.rankPre - 1]! += 1;
    perSplit[s] = {
      users: built.lists.length,
      examples: built.fullRanks.length,
      rank_pre: histogram,
      full_ranking: { ...roundAll(meanMetrics(built.fullRanks, FULL_RANKING_METRICS)), users: built.fullRanks.length },
    };
  }
  return { lists, perSplit };
}

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
import { leaveOneOut } from "../data/split.js";
import type { Dataset, Split } from "../data/types.js";
import { FULL_RANKING_METRICS, fullRankingMetrics, meanMetrics, type FullRankingMetrics } from "../eval/metrics.js";
import { buildCandidateLists, defaultNegatives, formatNegatives, parseNegatives, SPLITS, writeCandidateLists, type CandidateList, type EvalSplit } from "../rank/candidates.js";
import { loadRanker, RANKER_KINDS, saveRanker, type RankerKind } from "../rank/checkpoint.js";
import { fitRanker } from "../rank/fit.js";
import type { EpochLog, SasrecLoss } from "../rank/sasrec-train.js";
import type { Ranker } from "../rank/ranker.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { parseInteger, parseNumber, PROCESS_OUTPUT, round, runCommand, UsageError, type Output } from "./args.js";

export { PROCESS_OUTPUT, UsageError, type Output };

const USAGE = `usage:
  gr2 rank train --dataset NAME [--data-dir DIR] [--users N --items N --seed S] --out DIR [--json]
      [--ranker sasrec|popularity|item-knn] [--train-seed 0] [--device cpu]
      sasrec: [--epochs 200] [--patience 5] [--eval-every 2] [--eval-users 5000] [--batch-size 128]
              [--lr 0.001] [--weight-decay 0] [--hidden 64] [--layers 2] [--heads 2] [--ffn 256]
              [--dropout 0.5] [--max-len 50] [--loss ce|bce] [--no-autocast]
      item-knn: [--neighbours 100] [--recency-decay 0.8]
  gr2 rank candidates --dataset NAME [--data-dir DIR] [--users N --items N --seed S] --ranker DIR
      --out FILE [--splits valid,test] [--negatives hits|top|pool:P|random (default hits: the top K, for the users it contains the target of)] [--size 10] [--train-seed 0] [--json]
The ranker trains on the train split only; by default a list is the ranker's top K for each user
whose target is in it (the paper's setting; see docs/candidates-format.md).`;

export async function rankCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand("rank", USAGE, async () => {
    switch (sub) {
      case "train":
        return trainCommand(rest, io);
      case "candidates":
        return candidatesCommand(rest, io);
      case "help":
      case "--help":
      case "-h":
        io.out(`${USAGE}\n`);
        return 0;
      default:
        throw new UsageError(sub === undefined ? "missing subcommand (train or candidates)" : `unknown subcommand "${sub}" (expected train or candidates)`);
    }
  }, { io, oneLine: true });
}

// ---- shared flags ----------------------------------------------------------------------------

export const DATASET_FLAGS = {
  dataset: { type: "string" },
  "data-dir": { type: "string" },
  users: { type: "string" },
  items: { type: "string" },
  seed: { type: "string" },
  json: { type: "boolean", default: false },
} as const;

export interface LoadedData {
  dataset: Dataset;
  split: Split;
  numItems: number;
  itemIds: string[];
  userIds: string[];
  /** Short description for reports: "amazon-beauty" or "synthetic(users=…, items=…, seed=…)". */
  name: string;
}

/** Loads the dataset named by the shared flags and splits it leave-one-out. */
export async function loadFromFlags(v: { dataset?: string; "data-dir"?: string; users?: string; items?: string; seed?: string }): Promise<LoadedData> {
  if (!v.dataset) throw new UsageError("missing --dataset NAME");
  const users = integerFlag("users", v.users, 1);
  const items = integerFlag("items", v.items, 1);
  const seed = integerFlag("seed", v.seed, -Infinity);
  const dataset = await loadDataset({ name: v.dataset, dataDir: v["data-dir"], users, items, seed });
  const split = leaveOneOut(dataset.interactions, { skipShortUsers: true });
  const name = v.dataset === "synthetic" ? `synthetic(users=${users ?? "default"}, items=${items ?? "default"}, seed=${seed ?? "default"})` : dataset.catalogue.name;
  return {
    dataset,
    split,
    numItems: dataset.catalogue.items.length,
    itemIds: dataset.catalogue.items.map((i) => i.id),
    userIds: dataset.interactions.userIds,
    name,
  };
}

/** An optional integer flag already read by parseArgs (args.ts's parseInteger does the checking). */
export function integerFlag(name: string, value: string | undefined, min: number): number | undefined {
  return value === undefined ? undefined : parseInteger(name, value, min);
}

/** An optional number flag in [min, max]. */
export function numberFlag(name: string, value: string | undefined, { min = -Infinity, max = Infinity } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = parseNumber(name, value);
  if (n < min || n > max) throw new UsageError(`--${name} expects a number in [${min}, ${max}], got "${value}"`);
  return n;
}

export function requiredFlag(name: string, value: string | undefined): string {
  if (value === undefined || value === "") throw new UsageError(`missing --${name}`);
  return value;
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
      ...DATASET_FLAGS,
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
  const out = requiredFlag("out", v.out);
  const kind = v.ranker as RankerKind;
  if (!RANKER_KINDS.includes(kind)) throw new UsageError(`--ranker must be one of ${RANKER_KINDS.join(", ")}, got "${v.ranker}"`);
  const data = await loadFromFlags(v);
  const seed = integerFlag("train-seed", v["train-seed"], 0) ?? 0;
  const stepProgress = progress(io, "sasrec epoch");
  const fitted = fitRanker(kind, data.split, data.numItems, {
    sasrec: {
      hidden: integerFlag("hidden", v.hidden, 1),
      layers: integerFlag("layers", v.layers, 1),
      heads: integerFlag("heads", v.heads, 1),
      ffn: integerFlag("ffn", v.ffn, 1),
      dropout: numberFlag("dropout", v.dropout, { min: 0, max: 0.99 }),
      maxLen: integerFlag("max-len", v["max-len"], 1),
    },
    sasrecTrain: {
      epochs: integerFlag("epochs", v.epochs, 1),
      patience: integerFlag("patience", v.patience, 1),
      evalEvery: integerFlag("eval-every", v["eval-every"], 1),
      evalUsers: integerFlag("eval-users", v["eval-users"], 1),
      batchSize: integerFlag("batch-size", v["batch-size"], 1),
      lr: numberFlag("lr", v.lr, { min: 0 }),
      weightDecay: numberFlag("weight-decay", v["weight-decay"], { min: 0 }),
      seed,
      device: v.device,
      autocast: !v["no-autocast"],
      loss: lossFlag(v.loss),
      onStep: (step, steps, epoch) => stepProgress(step, steps, `epoch ${epoch}`),
      onEpoch: (e) => io.err(`${describeEpoch(e)}\n`),
    },
    itemKnn: { neighbours: integerFlag("neighbours", v.neighbours, 1), recencyDecay: numberFlag("recency-decay", v["recency-decay"], { min: 0, max: 1 }) },
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

function lossFlag(value: string | undefined): SasrecLoss {
  if (value !== "ce" && value !== "bce") throw new UsageError(`--loss must be ce or bce, got "${value}"`);
  return value;
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
      ...DATASET_FLAGS,
      ranker: { type: "string" },
      out: { type: "string" },
      splits: { type: "string", default: "valid,test" },
      negatives: { type: "string" },
      size: { type: "string" },
      "train-seed": { type: "string" },
      device: { type: "string", default: "cpu" },
    },
  });
  const out = requiredFlag("out", v.out);
  const rankerDir = requiredFlag("ranker", v.ranker);
  const splits = parseSplits(v.splits);
  const size = integerFlag("size", v.size, 2);
  const data = await loadFromFlags(v);
  const negatives = v.negatives ? parseNegatives(v.negatives) : defaultNegatives();
  const { ranker, manifest } = loadRanker(rankerDir, v.device);
  if (manifest.numItems !== data.numItems) {
    throw new Error(`${rankerDir} was trained on ${manifest.numItems} items but ${data.name} has ${data.numItems}; train the ranker on this dataset`);
  }
  const result = buildLists(ranker, data, splits, { size, negatives, seed: integerFlag("train-seed", v["train-seed"], 0) ?? 0 }, io);
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
    const built = buildCandidateLists(ranker, data.split[s], s, data.userIds, { ...o, onProgress: progress(io, `candidates ${s}`) });
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

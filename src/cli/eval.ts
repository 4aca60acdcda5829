/**
 * `gr2 eval …`: evaluation reports. Thin: parses flags, calls src/rank and src/eval, prints.
 *
 *   gr2 eval baselines --dataset NAME [--data-dir DIR] [--out DIR] [--json] …
 *
 * The run folder (--out) keeps every artefact, so a second run reuses them: the upstream ranker
 * (ranker/), the candidate lists (candidates.jsonl) and the report (report.md, report.json,
 * *.svg, *.png). Pass --ranker, --candidates or --listwise to use ones made elsewhere.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { evaluateBaselines } from "../eval/baselines.js";
import { fullRankingIntervals } from "../eval/evaluate.js";
import { fullRankingRanks, RERANK_METRICS } from "../rank/metrics.js";
import { machineInfo, writeReport, type EvalReport } from "../eval/report.js";
import { loadListwise, saveListwise } from "../rank/baselines/listwise-train.js";
import { defaultNegatives, formatNegatives, parseNegatives, readCandidateLists, writeCandidateLists, type CandidateList } from "../rank/candidates.js";
import { loadRanker, RANKER_KINDS, RANKER_MANIFEST, saveRanker, type RankerKind } from "../rank/checkpoint.js";
import { fitRanker } from "../rank/fit.js";
import type { Ranker } from "../rank/ranker.js";
import { buildLists, DATA_OPTIONS, loadFromFlags, progress, type LoadedData } from "./rank.js";
import { evidenceProbe } from "../eval/evidence-probe.js";
import { EVIDENCE_SETS, evidenceSource, parseEvidenceSet } from "../rank/evidence/features.js";
import { integerFlag, numberFlag, PROCESS_OUTPUT, round, runSubcommands, UsageError, type Output } from "./args.js";

const USAGE = `usage:
  gr2 eval generative --model DIR --sids FILE --dataset NAME [...] --json   (see gr2 eval generative --help)
  gr2 eval baselines --dataset NAME [--data-dir DIR] [--users N --items N --seed S] [--out DIR] [--json]
      [--ranker DIR | --ranker-kind sasrec|popularity|item-knn [--epochs N]] [--candidates FILE]
      [--negatives hits|top|pool:P|random] [--listwise DIR] [--listwise-epochs 40] [--listwise-hidden 64]
      [--listwise-layers 2] [--listwise-lr 0.0005] [--listwise-dropout 0.2] [--no-scores] [--text-dim 64]
      [--no-ablation] [--bootstrap 1000] [--bootstrap-seed 0]
      [--train-seed 0] [--no-png] [--device cpu]
  gr2 eval evidence --run RUN_DIR --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
      [--sets none,meta,cobuy,all] [--fit valid|valid+train] [--json]
  gr2 eval compress --run RUN_DIR --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
      [--alphas 0.1,0.2,0.3] [--steps 60] [--max-history 8] [--layout full|sids|brief] [--json]
Compress: trains the context compressor by RL at each α on the run's learning lists and measures it,
beside keep-the-last-three and keep-all, on the held-out valid lists (offline evidence judge, history tokens).
Evidence: fits the listwise logistic evidence scorer per evidence set on the run's learning lists
(candidates/valid.jsonl, and train.jsonl with --fit valid+train) and measures it against the
incoming order on its test lists (paired 95% bootstrap).
Baselines: evaluates the incoming order, a random order, a popularity re-sort and the listwise re-ranker
(trained on the valid lists) on the test lists, with bootstrap intervals; writes the report to
--out (default runs/eval-<dataset>). Artefacts already in --out are reused.`;

/** Published SASRec figures on Amazon Beauty leave-one-out (TIGER paper, Table 1). */
export const SASREC_BEAUTY_REFERENCE = {
  source: "SASRec, published (TIGER, Rajput et al. 2023, Table 1)",
  metrics: { "recall@5": 0.0387, "ndcg@5": 0.0249, "recall@10": 0.0605, "ndcg@10": 0.0318 },
};

export function evalCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  return runSubcommands(
    "eval",
    USAGE,
    { baselines: baselinesCommand, evidence: evidenceCommand, compress: async (rest) => (await import("./eval-compress.js")).evalCompressCommand(rest, io), generative: async (rest) => (await import("./eval-generative.js")).evalGenerativeCommand(rest) },
    args,
    io,
  );
}

async function baselinesCommand(args: string[], io: Output): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...DATA_OPTIONS,
      out: { type: "string" },
      ranker: { type: "string" },
      "ranker-kind": { type: "string", default: "sasrec" },
      epochs: { type: "string" },
      candidates: { type: "string" },
      negatives: { type: "string" },
      listwise: { type: "string" },
      "listwise-epochs": { type: "string" },
      "listwise-hidden": { type: "string" },
      "listwise-layers": { type: "string" },
      "listwise-lr": { type: "string" },
      "listwise-dropout": { type: "string" },
      "no-scores": { type: "boolean", default: false },
      "text-dim": { type: "string" },
      "no-ablation": { type: "boolean", default: false },
      bootstrap: { type: "string" },
      "bootstrap-seed": { type: "string" },
      "train-seed": { type: "string" },
      "no-png": { type: "boolean", default: false },
      device: { type: "string", default: "cpu" },
    },
  });
  const started = Date.now();
  const data = await loadFromFlags(v);
  const out = v.out ?? join("runs", `eval-${data.dataset.catalogue.name}`);
  const seeds = {
    train: integerFlag(v, "train-seed", 0) ?? 0,
    bootstrap: integerFlag(v, "bootstrap-seed", 0) ?? 0,
    random_baseline: 0,
    ...(data.flags.seed !== undefined ? { data: data.flags.seed } : {}),
  };
  const stage = (s: string) => io.err(`${s}\n`);

  // 1. The upstream ranker: given, found in the run folder, or trained now (train split only).
  const ranker = v.candidates && !v.ranker ? null : obtainRanker(v, data, out, seeds.train, io);

  // 2. Candidate lists: given, found in the run folder, or built from the ranker.
  const negatives = v.negatives ? parseNegatives(v.negatives) : defaultNegatives();
  const { lists, source } = obtainLists(v.candidates, ranker, data, out, negatives, seeds.train, io);
  const validLists = lists.filter((l) => l.split === "valid");
  const testLists = lists.filter((l) => l.split === "test");
  if (testLists.length === 0) throw new Error(`${source}: no test lists`);
  if (validLists.length === 0 && !v.listwise) throw new Error(`${source}: no valid lists to train the listwise re-ranker on (or pass --listwise DIR)`);

  // 3. Baselines, with the listwise model trained on the valid lists (or loaded).
  const listwiseDirs = v.listwise ? [v.listwise] : [];
  const result = evaluateBaselines({
    items: data.dataset.catalogue.items,
    trainSequences: data.split.train,
    validLists,
    testLists,
    listwise: listwiseDirs.length ? listwiseDirs.map((d) => loadListwise(d, v.device)) : undefined,
    listwiseConfig: {
      hidden: integerFlag(v, "listwise-hidden", 1),
      layers: integerFlag(v, "listwise-layers", 1),
      dropout: numberFlag(v, "listwise-dropout", undefined, { min: 0, max: 0.99 }),
      useScores: !v["no-scores"],
    },
    listwiseTrain: {
      epochs: integerFlag(v, "listwise-epochs", 1),
      lr: numberFlag(v, "listwise-lr", undefined, { min: 0 }),
      seed: seeds.train,
      device: v.device,
      onEpoch: (e) => io.err(`  listwise epoch ${e.epoch}: loss ${e.loss.toFixed(4)} held-out recall@1 ${e.heldOut["recall@1"].toFixed(4)} ndcg@5 ${e.heldOut["ndcg@5"].toFixed(4)}${e.best ? " (best)" : ""} in ${e.seconds.toFixed(1)} s\n`),
    },
    ablation: !v["no-ablation"],
    textDim: integerFlag(v, "text-dim", 0),
    randomSeed: seeds.random_baseline,
    bootstrap: { samples: integerFlag(v, "bootstrap", 1), seed: seeds.bootstrap },
    onStage: stage,
  });
  for (const t of result.trained) {
    saveListwise(join(out, t.reranker.name), t, { trainedOn: { dataset: data.name, split: "valid", lists: validLists.length } });
  }

  // 4. The upstream ranker's own full-ranking quality on the test split.
  let upstream: EvalReport["upstream"];
  if (ranker) {
    stage("full ranking of the upstream ranker on the test split");
    const ranks = fullRankingRanks(ranker.ranker, data.split.test, progress(io, "full ranking"));
    upstream = {
      ranker: ranker.kind,
      split: "test",
      users: ranks.length,
      metrics: fullRankingIntervals(ranks, { samples: integerFlag(v, "bootstrap", 1), seed: seeds.bootstrap }),
      ...(ranker.kind === "sasrec" && data.dataset.catalogue.name === "amazon-beauty" ? { reference: SASREC_BEAUTY_REFERENCE } : {}),
    };
  }

  const rankPre: Record<string, number[]> = {};
  for (const split of ["valid", "test"] as const) {
    const h = new Array<number>(testLists[0]!.candidates.length).fill(0);
    for (const l of lists) if (l.split === split) h[l.rankPre - 1]! += 1;
    if (h.some((x) => x > 0)) rankPre[split] = h;
  }
  const report: EvalReport = {
    title: `Re-ranking baselines on ${data.name}`,
    dataset: data.name,
    createdAt: new Date().toISOString(),
    machine: machineInfo(),
    seeds,
    upstream,
    candidates: { source, negatives: v.candidates ? undefined : formatNegatives(negatives), rankPre },
    rerank: result.evaluation,
    commands: [`gr2 eval ${args.join(" ")}`],
    notes: reportNotes(rankPre, result.trained.length > 0),
    extra: {
      listwise: result.trained.map((t) => ({ name: t.reranker.name, bestEpoch: t.bestEpoch, trainLists: t.trainLists, heldOutLists: t.heldOutLists, seconds: t.seconds, config: t.config })),
      seconds: (Date.now() - started) / 1000,
    },
  };
  writeReport(out, report, { png: !v["no-png"] });

  const summary = {
    dataset: data.name,
    split: "test",
    users: testLists.length,
    ...(upstream ? { upstream: upstream.ranker, [`${upstream.ranker}_full`]: pickMeans(upstream.metrics) } : {}),
    rerank: Object.fromEntries(result.evaluation.methods.map((m) => [m.name, pickMeans(m.metrics)])),
    vs_incoming: Object.fromEntries(
      result.evaluation.methods
        .filter((m) => m.name !== "incoming")
        .map((m) => [m.name, Object.fromEntries(RERANK_METRICS.map((k) => [k, { diff: round(m.vsIncoming[k].mean), lo: round(m.vsIncoming[k].lo), hi: round(m.vsIncoming[k].hi) }]))]),
    ),
    bootstrap: result.evaluation.bootstrap,
    report: out,
    seconds: round((Date.now() - started) / 1000, 1),
  };
  if (v.json) io.out(`${JSON.stringify(summary)}\n`);
  else {
    io.out(`report → ${join(out, "report.md")}\n`);
    if (upstream) io.out(`${upstream.ranker} full ranking (test): ${Object.entries(pickMeans(upstream.metrics)).map(([k, x]) => `${k} ${x.toFixed(4)}`).join("  ")}\n`);
    for (const m of result.evaluation.methods) {
      io.out(`${m.name.padEnd(22)} ${(["recall@1", "recall@5", "ndcg@5"] as const).map((k) => `${k} ${m.metrics[k].mean.toFixed(4)}`).join("  ")}\n`);
    }
  }
  return 0;
}

function pickMeans<K extends string>(metrics: Record<K, { mean: number }>): Record<K, number> {
  return Object.fromEntries(Object.entries<{ mean: number }>(metrics).map(([k, i]) => [k, round(i.mean)])) as Record<K, number>;
}

function obtainRanker(
  v: { ranker?: string; "ranker-kind"?: string; epochs?: string; device?: string },
  data: LoadedData,
  out: string,
  seed: number,
  io: Output,
): { ranker: Ranker; kind: RankerKind; dir: string } {
  const dir = v.ranker ?? join(out, "ranker");
  if (v.ranker || existsSync(join(dir, RANKER_MANIFEST))) {
    const { ranker, manifest } = loadRanker(dir, v.device);
    if (manifest.numItems !== data.numItems) throw new Error(`${dir}: the ranker has ${manifest.numItems} items but ${data.name} has ${data.numItems}`);
    io.err(`using the ${manifest.kind} ranker in ${dir}\n`);
    return { ranker, kind: manifest.kind, dir };
  }
  const kind = v["ranker-kind"] as RankerKind;
  if (!RANKER_KINDS.includes(kind)) throw new UsageError(`--ranker-kind must be one of ${RANKER_KINDS.join(", ")}`);
  io.err(`training ${kind} on the train split (${data.split.train.length} users) → ${dir}\n`);
  const step = progress(io, `${kind} epoch`);
  const fitted = fitRanker(kind, data.split, data.numItems, {
    sasrecTrain: {
      epochs: integerFlag(v, "epochs", 1),
      seed,
      device: v.device,
      onStep: (s, n, e) => step(s, n, `epoch ${e}`),
      onEpoch: (e) => io.err(`  epoch ${e.epoch}: loss ${e.loss.toFixed(4)}${e.valid ? ` valid ndcg@10 ${e.valid["ndcg@10"].toFixed(4)}` : ""}${e.best ? " (best)" : ""}\n`),
    },
  });
  saveRanker(dir, fitted.ranker, { trainedOn: { dataset: data.name, split: "train", users: data.split.train.length, items: data.numItems }, training: fitted.training });
  return { ranker: fitted.ranker, kind, dir };
}

function obtainLists(
  file: string | undefined,
  ranker: { ranker: Ranker; kind: RankerKind; dir: string } | null,
  data: LoadedData,
  out: string,
  negatives: ReturnType<typeof parseNegatives>,
  seed: number,
  io: Output,
): { lists: CandidateList[]; source: string } {
  const path = file ?? join(out, `candidates-${formatNegatives(negatives).replace(":", "")}.jsonl`);
  if (file || existsSync(path)) {
    io.err(`reading candidate lists from ${path}\n`);
    return { lists: readCandidateLists(path, data.itemIds), source: path };
  }
  if (!ranker) throw new UsageError("no candidate lists: pass --candidates FILE or an upstream ranker");
  const built = buildLists(ranker.ranker, data, ["valid", "test"], { negatives, seed }, io);
  writeCandidateLists(path, built.lists, data.itemIds);
  io.err(`wrote ${built.lists.length} candidate lists → ${path}\n`);
  return { lists: built.lists, source: `${ranker.kind} ranker (${ranker.dir}) → ${path}` };
}

function reportNotes(rankPre: Record<string, number[]>, trained: boolean): string[] {
  const notes: string[] = [];
  const test = rankPre.test;
  if (test) {
    const total = test.reduce((a, b) => a + b, 0) || 1;
    const last = test[test.length - 1]! / total;
    if (last > 0.5) {
      notes.push(
        `In ${(100 * last).toFixed(1)}% of the test lists the target is at the last incoming position: when the upstream ranker misses the target, ` +
          "the list is its top K − 1 plus the target, which then scores lowest. A re-ranker that sees incoming positions can learn " +
          "\"move the last item up\"; compare with listwise-no-position (content only) before crediting a gain to item understanding.",
      );
    }
  }
  if (trained) notes.push("The listwise re-rankers learn from the valid lists (one per user, ranker trained on the train split only), choose their epoch on 10% of users held out, and are evaluated on the test lists (docs/architecture.md, Protocol).");
  return notes;
}

async function evidenceCommand(args: string[], io: Output): Promise<number> {
  const { values: v } = parseArgs({ args, options: { ...DATA_OPTIONS, run: { type: "string" }, sets: { type: "string" }, fit: { type: "string" }, json: { type: "boolean" } } });
  const run = v.run as string | undefined;
  if (!run) throw new UsageError("missing --run RUN_DIR (a run folder with candidates/valid.jsonl and test.jsonl, e.g. from gr2 pipeline)");
  // `ranked` fits the same scorer as `all` (it only adds that scorer's ranks to prompts).
  const sets = ((v.sets as string | undefined) ?? EVIDENCE_SETS.filter((s) => s !== "ranked").join(",")).split(",").map((x) => {
    try {
      return parseEvidenceSet(x.trim());
    } catch (e) {
      throw new UsageError(`--sets: ${(e as Error).message}`);
    }
  });
  const fit = (v.fit as string | undefined) ?? "valid";
  if (fit !== "valid" && fit !== "valid+train") throw new UsageError(`--fit must be valid or valid+train, got "${fit}"`);
  const data = await loadFromFlags(v);
  const ids = data.dataset.catalogue.items.map((i) => i.id);
  const read = (s: string) => readCandidateLists(join(run, "candidates", `${s}.jsonl`), ids);
  const fitLists = [...read("valid"), ...(fit === "valid+train" ? read("train") : [])];
  const source = evidenceSource(data.dataset.catalogue.items, data.split.train, data.dataset.interactions.userIds);
  const rows = evidenceProbe(source, fitLists, read("test"), sets);
  if (v.json) io.out(JSON.stringify({ run, fit, rows }) + "\n");
  else {
    const f = ([d, lo, hi]: [number, number, number]) => `${d >= 0 ? "+" : ""}${d.toFixed(3)} [${lo.toFixed(3)}, ${hi.toFixed(3)}]`;
    io.out("| evidence | R@1 | Δ R@1 | NDCG@5 | Δ NDCG@5 | head moved |\n|---|---|---|---|---|---|\n");
    for (const r of rows) io.out(`| ${r.set} | ${r["recall@1"].toFixed(3)} | ${f(r.vs_incoming["recall@1"])} | ${r["ndcg@5"].toFixed(3)} | ${f(r.vs_incoming["ndcg@5"])} | ${(100 * r.head_moved).toFixed(1)}% |\n`);
  }
  return 0;
}

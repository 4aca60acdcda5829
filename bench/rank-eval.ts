/**
 * Benchmark: evaluating every test list with the non-LLM baselines, as `gr2 eval baselines`
 * does after training — re-ranker scoring (the listwise transformer and the simple baselines),
 * per-user metrics, 1000-resample bootstrap intervals and paired differences for every method
 * and metric, and the report (Markdown, JSON, 3 SVG + 3 PNG charts). Prints one JSON line.
 *
 *   node dist/bench/rank-eval.js [--dataset amazon-beauty --data-dir DIR] [--candidates FILE]
 *       [--listwise DIR] [--bootstrap 1000] [--users 22363 --items 12101] [--threads N]
 *
 * Without --candidates the lists come from a popularity ranker (list building is not part of
 * the measurement); without --listwise the listwise model is freshly initialised (scoring cost
 * does not depend on training). Without real data, a synthetic catalogue of Beauty's size.
 * Budget (issue 4): ≤ 30 s for all 22,363 Beauty lists on 2 cores.
 */
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../src/data/load.js";
import { leaveOneOut } from "../src/data/split.js";
import { evaluateRanks, type MethodRanks } from "../src/eval/evaluate.js";
import { machineInfo, writeReport } from "../src/eval/report.js";
import { LISTWISE_DEFAULTS, ListwiseModel, ListwiseReranker } from "../src/rank/baselines/listwise.js";
import { loadListwise } from "../src/rank/baselines/listwise-train.js";
import { rerankedRanks, type ListReranker } from "../src/rank/baselines/reranker.js";
import { IncomingOrder, PopularityResort, RandomOrder } from "../src/rank/baselines/simple.js";
import { buildCandidateLists, readCandidateLists } from "../src/rank/candidates.js";
import { itemCounts, PopularityRanker } from "../src/rank/popularity.js";
import { itemTextFeatures } from "../src/rank/text-features.js";
import { getNumThreads, libtorchVersion, manualSeed, setNumThreads } from "../src/torch/index.js";

const BUDGET_SECONDS = 30;

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      dataset: { type: "string" },
      "data-dir": { type: "string" },
      users: { type: "string", default: "22363" },
      items: { type: "string", default: "12101" },
      candidates: { type: "string" },
      listwise: { type: "string" },
      bootstrap: { type: "string", default: "1000" },
      out: { type: "string" },
      threads: { type: "string" },
    },
  });
  if (v.threads) setNumThreads(Number(v.threads));
  const t = () => performance.now() / 1000;
  const dataset = v.dataset
    ? await loadDataset({ name: v.dataset, dataDir: v["data-dir"] })
    : await loadDataset({ name: "synthetic", users: Number(v.users), items: Number(v.items), seed: 1 });
  const split = leaveOneOut(dataset.interactions, { skipShortUsers: true });
  const items = dataset.catalogue.items;
  const ids = items.map((i) => i.id);
  const counts = itemCounts(split.train, items.length);
  const lists = v.candidates
    ? readCandidateLists(v.candidates, ids, { splits: ["test"] })
    : buildCandidateLists(new PopularityRanker(counts), split.test, "test", dataset.interactions.userIds).lists;

  manualSeed(0);
  const listwise = v.listwise
    ? loadListwise(v.listwise)
    : (() => {
        const text = itemTextFeatures(items, { dim: 64 });
        return new ListwiseReranker(new ListwiseModel({ ...LISTWISE_DEFAULTS, numItems: items.length, textDim: text.dim }, text));
      })();

  // ---- the measured part --------------------------------------------------------------------
  const t0 = t();
  const rerankers: ListReranker[] = [new IncomingOrder(), new RandomOrder(0), new PopularityResort(counts), listwise];
  const seconds: Record<string, number> = {};
  const methods: MethodRanks[] = rerankers.map((r) => {
    const s = t();
    const ranks = rerankedRanks(lists, r.scoreLists(lists));
    seconds[`score_${r.name}`] = round(t() - s);
    return { name: r.name, ranks, seconds: t() - s };
  });
  const t1 = t();
  const evaluation = evaluateRanks(lists, methods, { samples: Number(v.bootstrap), seed: 0 });
  const t2 = t();
  const out = v.out ?? join(tmpdir(), `gr2-bench-rank-eval-${process.pid}`);
  writeReport(out, {
    title: "bench: evaluating all lists",
    dataset: dataset.catalogue.name,
    createdAt: new Date().toISOString(),
    machine: machineInfo(),
    seeds: { bootstrap: 0 },
    rerank: evaluation,
    notes: [],
  });
  const t3 = t();
  // -------------------------------------------------------------------------------------------

  const total = t3 - t0;
  console.log(
    JSON.stringify({
      bench: "rank-eval",
      dataset: v.dataset ?? `synthetic(users=${v.users}, items=${v.items})`,
      lists: lists.length,
      methods: rerankers.map((r) => r.name),
      listwise: v.listwise ? `loaded ${v.listwise}` : "untrained (same cost)",
      bootstrap_samples: Number(v.bootstrap),
      seconds: { ...seconds, scoring: round(t1 - t0), metrics_bootstrap: round(t2 - t1), report: round(t3 - t2), total: round(total) },
      lists_per_second: Math.round(lists.length / total),
      budget_seconds: BUDGET_SECONDS,
      within_budget: total <= BUDGET_SECONDS,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, threads: getNumThreads(), libtorch: libtorchVersion(), node: process.version, load_average_1m: round(loadavg()[0]!) },
      report: out,
    }),
  );
}

const round = (x: number) => Math.round(x * 1000) / 1000;

main().catch((e: unknown) => {
  process.stderr.write(`bench/rank-eval: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});

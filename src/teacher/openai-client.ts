/**
 * A client for any OpenAI-compatible `POST /v1/chat/completions` endpoint (OpenAI, vLLM,
 * SGLang, llama.cpp's server, Ollama, LiteLLM, and GR2's own server). It is how a stronger
 * teacher model writes reasoning traces.
 *
 * What makes it safe to run over a whole dataset against a paid or shared server:
 * - a concurrency limit shared by every call on the client;
 * - retries (src/util/http-retry.ts) with full-jitter exponential back-off on 429, 5xx, network errors and timeouts,
 *   honouring `Retry-After` (seconds or an HTTP date, capped by `maxBackoffMs`); other 4xx fail at
 *   once with the server's message, since retrying a bad request only burns quota;
 * - a per-request timeout;
 * - an on-disk cache keyed by sha256 of the request body (model, messages, sampling
 *   parameters, seed), so a re-run or a resumed run pays nothing for requests already answered.
 *   The base URL is not part of the key: the same model behind another address is the same
 *   teacher. To draw fresh samples, vary `seed` (the rejection sampler does, per attempt).
 * The API key is read from an environment variable whose *name* is configured, so keys never
 * appear in command lines, manifests or traces. Errors name the URL, the HTTP status and the
 * server's own message.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ChatMessage } from "../lm/chat.js";
import { writeFileAtomic } from "../util/atomic.js";
import { HttpFailure, postJson, withRetries } from "../util/http-retry.js";

// The test suite and callers import retryAfterMs from here, where it was first written.
export { retryAfterMs } from "../util/http-retry.js";

export interface ChatClientOptions {
  /** e.g. "https://api.openai.com" or "http://127.0.0.1:8000/v1" (a trailing /v1 is optional). */
  baseUrl: string;
  model: string;
  /** Name of the environment variable holding the API key; no Authorization header when unset or empty. Default "OPENAI_API_KEY". */
  apiKeyEnv?: string;
  /** Defaults for every request (overridable per call). */
  temperature?: number;
  n?: number;
  maxTokens?: number;
  /** Requests in flight at most, across all calls. Default 4. */
  concurrency?: number;
  /** Retries after the first attempt. Default 5. */
  maxRetries?: number;
  /** First back-off delay; doubles per retry. Default 1 s. */
  initialBackoffMs?: number;
  /** Cap on one delay (Retry-After included). Default 60 s. */
  maxBackoffMs?: number;
  /** Per-request timeout. Default 120 s. */
  timeoutMs?: number;
  /** Cache folder; no cache when absent. */
  cacheDir?: string;
  /** Extra body fields sent with every request (e.g. {"top_p": 0.95}); part of the cache key. */
  extraBody?: Record<string, unknown>;
  /** Environment to read the key from (tests). Default process.env. */
  env?: Record<string, string | undefined>;
  /** How to wait between retries (tests record the delays). Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

export interface CompletionRequest {
  temperature?: number;
  n?: number;
  maxTokens?: number;
  /** Sampling seed (OpenAI, vLLM and SGLang honour it); distinct seeds give distinct cache entries. */
  seed?: number;
  stop?: string[];
}

export interface CompletionChoice {
  text: string;
  /** "stop", "length", … as the server reports it. */
  finishReason: string | null;
  /** Separate reasoning some servers return (vLLM/SGLang reasoning parsers), when present. */
  reasoning?: string;
}

export interface ChatCompletion {
  choices: CompletionChoice[];
  model: string;
  usage: { promptTokens: number; completionTokens: number } | null;
  /** True when served from the on-disk cache. */
  cached: boolean;
}

export interface ChatClientStats {
  requests: number;
  retries: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
}

/** A failed request: the message names the URL, the status (0 = network error or timeout) and the server's message. */
export class ChatClientError extends Error {
  constructor(message: string, readonly url: string, readonly status: number, readonly attempts: number) {
    super(message);
  }
}

/** The endpoint for a base URL given with or without /v1. */
export function chatCompletionsUrl(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  return base.endsWith("/v1") ? `${base}/chat/completions` : `${base}/v1/chat/completions`;
}

/** JSON with object keys sorted, so equal requests hash equally whatever order fields were set in. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

export function requestCacheKey(body: Record<string, unknown>): string {
  return createHash("sha256").update(canonicalJson(body)).digest("hex");
}

interface CacheEntry {
  request: Record<string, unknown>;
  response: Omit<ChatCompletion, "cached">;
}

export class ChatClient {
  readonly url: string;
  readonly stats: ChatClientStats = { requests: 0, retries: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0 };
  private readonly o: Required<Omit<ChatClientOptions, "temperature" | "n" | "maxTokens" | "cacheDir" | "extraBody">> &
    Pick<ChatClientOptions, "temperature" | "n" | "maxTokens" | "cacheDir" | "extraBody">;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: ChatClientOptions) {
    this.o = {
      apiKeyEnv: "OPENAI_API_KEY",
      concurrency: 4,
      maxRetries: 5,
      initialBackoffMs: 1000,
      maxBackoffMs: 60_000,
      timeoutMs: 120_000,
      env: process.env,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...options,
    };
    if (!this.o.model) throw new Error("chat client: no model name");
    if (!(Number.isInteger(this.o.concurrency) && this.o.concurrency >= 1)) throw new RangeError(`chat client: concurrency must be an integer ≥ 1, got ${this.o.concurrency}`);
    this.url = chatCompletionsUrl(options.baseUrl);
  }

  get model(): string {
    return this.o.model;
  }

  get concurrency(): number {
    return this.o.concurrency;
  }

  /** The request body a call would send (also the cache key's input). */
  body(messages: readonly ChatMessage[], r: CompletionRequest = {}): Record<string, unknown> {
    const body: Record<string, unknown> = {
      ...this.o.extraBody,
      model: this.o.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
    };
    const temperature = r.temperature ?? this.o.temperature;
    const n = r.n ?? this.o.n;
    const maxTokens = r.maxTokens ?? this.o.maxTokens;
    if (temperature !== undefined) body.temperature = temperature;
    if (n !== undefined && n !== 1) body.n = n;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    if (r.seed !== undefined) body.seed = r.seed;
    if (r.stop !== undefined) body.stop = r.stop;
    return body;
  }

  /** One chat completion (n choices), from the cache when this exact request was answered before. */
  async complete(messages: readonly ChatMessage[], r: CompletionRequest = {}): Promise<ChatCompletion> {
    const body = this.body(messages, r);
    const key = requestCacheKey(body);
    const hit = this.readCache(key, body);
    if (hit) {
      this.stats.cacheHits++;
      return { ...hit, cached: true };
    }
    const response = await this.withSlot(() => this.requestWithRetries(body));
    this.stats.promptTokens += response.usage?.promptTokens ?? 0;
    this.stats.completionTokens += response.usage?.completionTokens ?? 0;
    this.writeCache(key, { request: body, response });
    return { ...response, cached: false };
  }

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    // A finished call hands its slot straight to the next waiter, so no newcomer can slip in between.
    if (this.active >= this.o.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  private async requestWithRetries(body: Record<string, unknown>): Promise<Omit<ChatCompletion, "cached">> {
    let text: string;
    try {
      text = await withRetries(() => postJson(this.url, body, { apiKey: this.o.env[this.o.apiKeyEnv], timeoutMs: this.o.timeoutMs }), {
        maxRetries: this.o.maxRetries,
        initialBackoffMs: this.o.initialBackoffMs,
        maxBackoffMs: this.o.maxBackoffMs,
        sleep: this.o.sleep,
        onAttempt: () => this.stats.requests++,
        onRetry: () => this.stats.retries++,
      });
    } catch (e) {
      if (!(e instanceof HttpFailure)) throw e;
      const suffix = e.attempts > 1 ? ` (after ${e.attempts} attempts)` : "";
      throw new ChatClientError(`${e.message}${suffix}`, this.url, e.status, e.attempts);
    }
    return this.parseResponse(text);
  }

  private parseResponse(text: string): Omit<ChatCompletion, "cached"> {
    const fail = (why: string): never => {
      throw new ChatClientError(`POST ${this.url}: ${why}`, this.url, 200, 1);
    };
    let json: {
      model?: unknown;
      choices?: { index?: number; message?: { content?: unknown; reasoning_content?: unknown; reasoning?: unknown }; finish_reason?: unknown }[];
      usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
    };
    try {
      json = JSON.parse(text);
    } catch {
      return fail(`response is not JSON: ${text.slice(0, 200)}`);
    }
    if (!Array.isArray(json.choices) || json.choices.length === 0) return fail(`response has no "choices": ${text.slice(0, 200)}`);
    const choices = json.choices
      .map((c, pos) => ({ c, i: typeof c.index === "number" ? c.index : pos }))
      .sort((a, b) => a.i - b.i)
      .map(({ c }, pos): CompletionChoice => {
        const content = c.message?.content;
        if (content !== null && content !== undefined && typeof content !== "string") fail(`choices[${pos}].message.content is not a string`);
        const reasoning = c.message?.reasoning_content ?? c.message?.reasoning;
        return {
          text: (content as string | null | undefined) ?? "",
          finishReason: typeof c.finish_reason === "string" ? c.finish_reason : null,
          ...(typeof reasoning === "string" && reasoning !== "" ? { reasoning } : {}),
        };
      });
    const u = json.usage;
    const usage = u && typeof u.prompt_tokens === "number" && typeof u.completion_tokens === "number" ? { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens } : null;
    return { choices, model: typeof json.model === "string" ? json.model : this.o.model, usage };
  }

  private cachePath(key: string): string | null {
    return this.o.cacheDir ? join(this.o.cacheDir, key.slice(0, 2), `${key}.json`) : null;
  }

  private readCache(key: string, body: Record<string, unknown>): Omit<ChatCompletion, "cached"> | null {
    const path = this.cachePath(key);
    if (!path) return null;
    let entry: CacheEntry;
    try {
      entry = JSON.parse(readFileSync(path, "utf8")) as CacheEntry;
    } catch {
      return null; // absent or unreadable: ask the server again
    }
    // Guard against a foreign file under the same name: the stored request must be this one.
    if (canonicalJson(entry.request) !== canonicalJson(body) || !Array.isArray(entry.response?.choices)) return null;
    return entry.response;
  }

  private writeCache(key: string, entry: CacheEntry): void {
    const path = this.cachePath(key);
    if (path) writeFileAtomic(path, JSON.stringify(entry));
  }
}

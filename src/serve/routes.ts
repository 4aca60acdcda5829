/**
 * The endpoints: request body → validated request → prepared job → batching queue → response in
 * the protocol's shape.
 *
 *   POST /v2/rerank            Cohere v2:  {model, query, documents, top_n} → {id, results: [{index, relevance_score}], meta}
 *   POST /v1/rerank, /rerank   Jina/vLLM:  same request → {id, model, results: [{index, relevance_score, document}], usage}
 *   POST /v1/chat/completions  OpenAI chat completions (stream: true answers as server-sent events)
 *   GET  /v1/models, /health, /metrics
 *
 * relevance_score is rank-based: the candidate the model ranks r-th (r = 0 first) of K scores
 * (K − r) / K, so scores lie in (0, 1], strictly decrease along the model's order, and sorting
 * by them reproduces it. Each result also carries `logprob`: the log-probability under the
 * (constrained) decoding distribution of choosing that candidate at its place, given the places
 * before it — how sure the model was, which a rank cannot say.
 */
import { randomBytes } from "node:crypto";
import type { ServerMetrics } from "./metrics.js";
import { modelNotFound } from "./errors.js";
import type { BatchInfo, BatchQueue } from "./queue.js";
import type { ChatOutcome, Job, ModelSession, RerankOutcome } from "./session.js";
import { parseChat, parseRerank, type ChatRequest, type RerankRequest } from "./validation.js";

export interface RouteContext {
  /** The parsed JSON body (POST routes). */
  body: unknown;
  /** Absolute deadline on the performance.now() clock, and the limit it came from. */
  deadline: number;
  timeoutMs: number;
  /** Aborted when the client disconnects. */
  signal: AbortSignal;
  requestId: string;
}

export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string }
  | { status: number; events: unknown[] };

export interface App {
  session: ModelSession;
  /** A direct policy for direct-mode requests (a run's `sids`-layout stage), if any. */
  direct: ModelSession | null;
  queue: BatchQueue<Job, RerankOutcome | ChatOutcome>;
  metrics: ServerMetrics;
  /** True once shutdown began. */
  draining: () => boolean;
  /** Model requests being read or prepared, not yet queued (the queue waits for them to batch). */
  preparing: { count: number };
}

export interface Route {
  /** Label for metrics (the path template). */
  label: string;
  /** Whether the handler reads a JSON body. */
  body: boolean;
  handler: (app: App, ctx: RouteContext) => Promise<Reply> | Reply;
}

export const newId = (prefix: string): string => `${prefix}-${randomBytes(12).toString("hex")}`;

function checkModel(app: App, requested: string | undefined): void {
  if (requested === undefined) return;
  if (requested !== app.session.name && requested !== app.session.resolved.modelDir) throw modelNotFound(requested, app.session.name);
}

/** Counts the request as "preparing" until its job is queued (or it fails before). */
async function preparing<T>(app: App, fn: () => Promise<T>): Promise<T> {
  app.preparing.count++;
  try {
    return await fn();
  } finally {
    app.preparing.count--;
  }
}

async function runJob<T extends RerankOutcome | ChatOutcome>(app: App, job: Job, ctx: RouteContext): Promise<{ result: T; waitedMs: number; batch: BatchInfo }> {
  const r = await app.queue.submit(job, {
    key: app.session.batchKey(job),
    rows: job.kind === "chat" ? job.n : 1,
    deadline: ctx.deadline,
    timeoutMs: ctx.timeoutMs,
    signal: ctx.signal,
  });
  return r as { result: T; waitedMs: number; batch: BatchInfo };
}

/** The returned form of a document: strings as {"text"}, objects as sent. */
function documentOf(raw: unknown): unknown {
  return typeof raw === "string" ? { text: raw } : raw;
}

async function rerank(app: App, ctx: RouteContext, api: "v1" | "v2"): Promise<Reply> {
  const req: RerankRequest = parseRerank(ctx.body, api, app.session.limits);
  checkModel(app, req.model);
  // Direct mode goes to the direct policy when there is one and it can see every item.
  const direct = (req.mode ?? app.session.defaultMode) === "direct" && app.direct?.namesCatalogueItems(req) ? app.direct : null;
  const job = await preparing(app, () => (direct ?? app.session).prepareRerank(req));
  const { result: out, waitedMs, batch } = await runJob<RerankOutcome>(app, job, ctx);
  app.metrics.promptTokens.inc({ kind: "rerank" }, out.promptTokens);
  app.metrics.generatedTokens.inc({ kind: "rerank" }, out.completionTokens);
  if (out.repaired) app.metrics.rerankRepairs.inc({ reason: out.repaired });
  const K = out.ranking.length;
  const topN = Math.min(req.topN ?? K, K);
  const results = out.ranking.slice(0, topN).map((index, r) => ({
    index,
    relevance_score: (K - r) / K,
    ...(req.returnDocuments ? { document: documentOf(req.rawDocuments[index]) } : {}),
    logprob: Number.isFinite(out.choiceLogprobs[r]!) ? out.choiceLogprobs[r] : null,
  }));
  const gr2 = {
    mode: job.mode,
    stage: (direct ?? app.session).resolved.stage ?? null,
    ranking: out.ranking,
    history_shown: job.historyShown,
    ...(req.returnReasoning ? { reasoning: out.reasoning } : {}),
    finish_reason: out.finish,
    batch_size: batch.rows,
    queue_ms: Math.round(waitedMs * 10) / 10,
    forwards: out.stats.forwards,
  };
  const id = ctx.requestId;
  if (api === "v2") {
    return {
      status: 200,
      json: {
        id,
        results,
        ...(req.returnReasoning ? { reasoning: out.reasoning } : {}),
        meta: {
          api_version: { version: "2" },
          billed_units: { search_units: 1, input_tokens: out.promptTokens, output_tokens: out.completionTokens },
          tokens: { input_tokens: out.promptTokens, output_tokens: out.completionTokens },
          gr2,
        },
      },
    };
  }
  return {
    status: 200,
    json: {
      id,
      model: app.session.name,
      results,
      ...(req.returnReasoning ? { reasoning: out.reasoning } : {}),
      usage: { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens },
      meta: { gr2 },
    },
  };
}

function utf8Bytes(s: string): number[] {
  return Array.from(Buffer.from(s, "utf8"));
}

async function chat(app: App, ctx: RouteContext): Promise<Reply> {
  const req: ChatRequest = parseChat(ctx.body, app.session.limits);
  checkModel(app, req.model);
  const job = await preparing(app, () => app.session.prepareChat(req));
  const { result: out } = await runJob<ChatOutcome>(app, job, ctx);
  app.metrics.promptTokens.inc({ kind: "chat" }, out.promptTokens);
  app.metrics.generatedTokens.inc({ kind: "chat" }, out.completionTokens);
  const created = Math.floor(Date.now() / 1000);
  const id = ctx.requestId;
  const usage = { prompt_tokens: out.promptTokens, completion_tokens: out.completionTokens, total_tokens: out.promptTokens + out.completionTokens };
  const logprobsOf = (c: ChatOutcome["choices"][number]) =>
    req.logprobs ? { content: c.logprobs.map((l) => ({ token: l.token, logprob: l.logprob, bytes: utf8Bytes(l.token), top_logprobs: [] })) } : null;
  if (!req.stream) {
    return {
      status: 200,
      json: {
        id,
        object: "chat.completion",
        created,
        model: app.session.name,
        system_fingerprint: null,
        choices: out.choices.map((c, index) => ({ index, message: { role: "assistant", content: c.text }, logprobs: logprobsOf(c), finish_reason: c.finish })),
        usage,
      },
    };
  }
  // Streaming: the batch is decoded as a whole, then sent as the chunk sequence OpenAI clients expect.
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: "chat.completion.chunk", created, model: app.session.name, system_fingerprint: null, choices, ...extra });
  const events: unknown[] = [];
  out.choices.forEach((c, index) => {
    events.push(chunk([{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
    if (c.text.length > 0) events.push(chunk([{ index, delta: { content: c.text }, logprobs: logprobsOf(c), finish_reason: null }]));
    events.push(chunk([{ index, delta: {}, logprobs: null, finish_reason: c.finish }]));
  });
  if (req.stream && req.includeUsage) events.push(chunk([], { usage }));
  return { status: 200, events };
}

function models(app: App): Reply {
  const s = app.session;
  return {
    status: 200,
    json: {
      object: "list",
      data: [
        {
          id: s.name,
          object: "model",
          created: s.createdAt,
          owned_by: "gr2",
          root: s.resolved.modelDir,
          max_model_len: s.maxPositions,
          gr2: {
            stage: s.resolved.stage ?? null,
            parameters: s.model.numParams(),
            vocab_size: s.model.config.vocabSize,
            sid_map: s.resolved.sidMapPath ?? null,
            sid_items: s.sidMap?.ids.length ?? 0,
            rerank: s.canRerank,
            answer_format: s.format,
            default_mode: s.defaultMode,
            decoder: s.decoder,
            precision: s.precision,
          },
        },
      ],
    },
  };
}

function health(app: App): Reply {
  const draining = app.draining();
  return {
    status: draining ? 503 : 200,
    json: { status: draining ? "draining" : "ok", model: app.session.name, queue_depth: app.queue.depth, busy: app.queue.busy, uptime_s: Math.round((Date.now() - app.metrics.started) / 1000) },
  };
}

/** Path → method → route. */
export const ROUTES: Record<string, Partial<Record<string, Route>>> = {
  "/v2/rerank": { POST: { label: "/v2/rerank", body: true, handler: (a, c) => rerank(a, c, "v2") } },
  "/v1/rerank": { POST: { label: "/v1/rerank", body: true, handler: (a, c) => rerank(a, c, "v1") } },
  "/rerank": { POST: { label: "/rerank", body: true, handler: (a, c) => rerank(a, c, "v1") } },
  "/v1/chat/completions": { POST: { label: "/v1/chat/completions", body: true, handler: chat } },
  "/v1/models": { GET: { label: "/v1/models", body: false, handler: models } },
  "/health": { GET: { label: "/health", body: false, handler: health } },
  "/metrics": { GET: { label: "/metrics", body: false, handler: (a) => ({ status: 200, text: a.metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8" }) } },
};

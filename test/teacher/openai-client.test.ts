import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ChatClient, ChatClientError, chatCompletionsUrl, requestCacheKey, retryAfterMs } from "../../src/teacher/openai-client.js";
import { tempDir } from "../prompt/helpers.js";

/**
 * A real OpenAI-compatible server on 127.0.0.1. Each request is answered by the next queued
 * behaviour (default: success), so a test scripts exactly what the client meets.
 */
type Behaviour =
  | { kind: "ok" }
  | { kind: "status"; status: number; message: string; retryAfter?: string }
  | { kind: "hang"; ms: number }
  | { kind: "garbage" };

let queue: Behaviour[] = [];
let seen: { auth?: string; body: Record<string, unknown> }[] = [];
let inFlight = 0;
let maxInFlight = 0;
let delayMs = 0;
let server: Server;
let base = "";

function handle(req: IncomingMessage, res: ServerResponse): void {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
      return;
    }
    const body = JSON.parse(raw) as { messages: { content: string }[]; n?: number; model: string };
    seen.push({ auth: req.headers.authorization, body });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const b = queue.shift() ?? { kind: "ok" };
    const finish = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      inFlight--;
      if (!res.destroyed) res.writeHead(status, { "content-type": "application/json", ...headers }).end(typeof value === "string" ? value : JSON.stringify(value));
    };
    const answer = () => {
      if (b.kind === "status") return finish(b.status, { error: { message: b.message, type: "server_error" } }, b.retryAfter === undefined ? {} : { "retry-after": b.retryAfter });
      if (b.kind === "garbage") return finish(200, "<html>oops</html>");
      const last = body.messages.at(-1)!.content;
      const n = body.n ?? 1;
      finish(200, {
        id: "chatcmpl-test",
        object: "chat.completion",
        model: body.model,
        // Out of order on purpose: the client must sort choices by index.
        choices: Array.from({ length: n }, (_, i) => ({ index: n - 1 - i, message: { role: "assistant", content: `echo ${n - 1 - i}: ${last}` }, finish_reason: "stop" })),
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
      });
    };
    if (b.kind === "hang") setTimeout(answer, b.ms);
    else setTimeout(answer, delayMs);
  });
}

before(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  // fetch keeps connections alive; drop them so the process can exit at once.
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

function reset(...behaviours: Behaviour[]): void {
  queue = behaviours;
  seen = [];
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 0;
}

const msgs = (text: string) => [{ role: "user" as const, content: text }];

test("success: body fields, bearer key from the named env var, choices in index order, usage", async () => {
  reset();
  const client = new ChatClient({ baseUrl: `${base}/v1/`, model: "teacher-1", apiKeyEnv: "MY_KEY", env: { MY_KEY: "sk-test" }, temperature: 0.7, maxTokens: 64 });
  const r = await client.complete(msgs("hello"), { n: 3, seed: 42 });
  assert.equal(client.url, `${base}/v1/chat/completions`);
  assert.deepEqual(r.choices.map((c) => c.text), ["echo 0: hello", "echo 1: hello", "echo 2: hello"]);
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.deepEqual(r.usage, { promptTokens: 11, completionTokens: 7 });
  assert.equal(r.cached, false);
  assert.equal(seen[0]!.auth, "Bearer sk-test");
  assert.deepEqual(seen[0]!.body, { model: "teacher-1", messages: msgs("hello"), temperature: 0.7, n: 3, max_tokens: 64, seed: 42 });
  // No key in the environment: no Authorization header at all.
  const anon = new ChatClient({ baseUrl: base, model: "m", env: {} });
  await anon.complete(msgs("x"));
  assert.equal(seen[1]!.auth, undefined);
});

test("429 then success: retried after the server's Retry-After, not the back-off", async () => {
  reset({ kind: "status", status: 429, message: "Rate limit reached", retryAfter: "2" }, { kind: "status", status: 503, message: "overloaded" });
  const waits: number[] = [];
  const client = new ChatClient({ baseUrl: base, model: "m", initialBackoffMs: 100, maxBackoffMs: 10_000, sleep: async (ms) => void waits.push(ms) });
  const r = await client.complete(msgs("again"));
  assert.equal(r.choices[0]!.text, "echo 0: again");
  assert.equal(seen.length, 3);
  assert.equal(waits[0], 2000, "Retry-After: 2 → 2 s");
  assert.ok(waits[1]! >= 100 && waits[1]! <= 200, `second wait is jittered back-off in [100, 200] ms, got ${waits[1]}`);
  assert.equal(client.stats.retries, 2);
  assert.equal(client.stats.requests, 3);
});

test("Retry-After as an HTTP date, and capped by maxBackoffMs", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfterMs("Thu, 01 Jan 2026 00:00:30 GMT", now), 30_000);
  assert.equal(retryAfterMs("1.5", now), 1500);
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs("soon"), null);
});

test("500 until retries are exhausted: the error names the URL, status, server message and attempts", async () => {
  reset(...Array.from({ length: 3 }, () => ({ kind: "status" as const, status: 500, message: "CUDA out of memory" })));
  const client = new ChatClient({ baseUrl: base, model: "m", maxRetries: 2, initialBackoffMs: 1, sleep: async () => {} });
  await assert.rejects(client.complete(msgs("x")), (e: unknown) => {
    assert.ok(e instanceof ChatClientError);
    assert.equal(e.status, 500);
    assert.equal(e.attempts, 3);
    assert.equal(e.message, `POST ${base}/v1/chat/completions: HTTP 500: CUDA out of memory (after 3 attempts)`);
    return true;
  });
  assert.equal(seen.length, 3);
});

test("400 is not retried", async () => {
  reset({ kind: "status", status: 400, message: "maximum context length is 4096 tokens" });
  const client = new ChatClient({ baseUrl: base, model: "m", sleep: async () => assert.fail("no retry on 400") });
  await assert.rejects(client.complete(msgs("x")), /HTTP 400: maximum context length is 4096 tokens$/);
  assert.equal(seen.length, 1);
});

test("a request that outlives the timeout fails clearly (and is retried like a network error)", async () => {
  reset({ kind: "hang", ms: 1500 }, { kind: "hang", ms: 1500 });
  const client = new ChatClient({ baseUrl: base, model: "m", timeoutMs: 100, maxRetries: 1, sleep: async () => {} });
  await assert.rejects(client.complete(msgs("slow")), (e: unknown) => {
    assert.ok(e instanceof ChatClientError);
    assert.equal(e.status, 0);
    assert.equal(e.message, `POST ${base}/v1/chat/completions: timed out after 100 ms (after 2 attempts)`);
    return true;
  });
});

test("a non-JSON 200 is an error naming the URL", async () => {
  reset({ kind: "garbage" });
  const client = new ChatClient({ baseUrl: base, model: "m" });
  await assert.rejects(client.complete(msgs("x")), new RegExp(`POST ${base}/v1/chat/completions: response is not JSON: <html>`));
});

test("cache hit: the same request is answered from disk without a request; a different seed is not", async () => {
  reset();
  const dir = tempDir("gr2-chat-cache-");
  const client = new ChatClient({ baseUrl: base, model: "m", cacheDir: dir, temperature: 1 });
  const first = await client.complete(msgs("cache me"), { seed: 1 });
  assert.equal(first.cached, false);
  assert.equal(seen.length, 1);
  // A new client (a re-run) on the same folder: no request at all.
  const again = new ChatClient({ baseUrl: base, model: "m", cacheDir: dir, temperature: 1 });
  const second = await again.complete(msgs("cache me"), { seed: 1 });
  assert.equal(second.cached, true);
  assert.deepEqual(second.choices, first.choices);
  assert.equal(seen.length, 1);
  assert.equal(again.stats.cacheHits, 1);
  await again.complete(msgs("cache me"), { seed: 2 });
  assert.equal(seen.length, 2, "another seed is another request");
  const key = requestCacheKey(again.body(msgs("cache me"), { seed: 1 }));
  assert.ok(existsSync(`${dir}/${key.slice(0, 2)}/${key}.json`));
});

test("the cache key ignores field order, not content", () => {
  assert.equal(requestCacheKey({ a: 1, b: [1, { c: 2, d: 3 }] }), requestCacheKey({ b: [1, { d: 3, c: 2 }], a: 1 }));
  assert.notEqual(requestCacheKey({ a: 1 }), requestCacheKey({ a: 2 }));
});

test("the concurrency limit holds across many calls", async () => {
  reset();
  delayMs = 30;
  const client = new ChatClient({ baseUrl: base, model: "m", concurrency: 2 });
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => client.complete(msgs(`q${i}`))));
  assert.deepEqual(answers.map((a) => a.choices[0]!.text), Array.from({ length: 8 }, (_, i) => `echo 0: q${i}`));
  assert.equal(maxInFlight, 2);
});

test("base URLs with and without /v1", () => {
  assert.equal(chatCompletionsUrl("http://h:1"), "http://h:1/v1/chat/completions");
  assert.equal(chatCompletionsUrl("http://h:1/v1/"), "http://h:1/v1/chat/completions");
});

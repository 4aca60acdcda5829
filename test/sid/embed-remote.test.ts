import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { remoteEmbeddings, embeddingsUrl, embeddingCacheKey } from "../../src/sid/embed-remote.js";
import { tempDir } from "./helpers.js";

/** What the fake server does next; tests set it. */
type Mode = "ok" | "429-once" | "400" | "500" | "slow" | "reversed";
let mode: Mode = "ok";
let requests: { auth?: string; input: string[]; model: string }[] = [];
let server: Server;
let base = "";

/** A deterministic "embedding": [length, char-code sum mod 97, 1]. */
const fakeVector = (text: string) => [text.length, [...text].reduce((s, ch) => s + ch.charCodeAt(0), 0) % 97, 1];

function handle(req: IncomingMessage, res: ServerResponse): void {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    if (req.method !== "POST" || req.url !== "/v1/embeddings") {
      res.writeHead(404).end();
      return;
    }
    const parsed = JSON.parse(body) as { input: string[]; model: string };
    requests.push({ auth: req.headers.authorization, ...parsed });
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(value));
    if (mode === "429-once") {
      mode = "ok";
      json(429, { error: { message: "Rate limit reached" } }, { "retry-after": "0" });
      return;
    }
    if (mode === "400") return json(400, { error: { message: "This model's maximum context length is 8192 tokens", type: "invalid_request_error" } });
    if (mode === "500") return json(503, { error: { message: "overloaded" } });
    if (mode === "slow") {
      setTimeout(() => json(200, { data: [] }), 500);
      return;
    }
    const data = parsed.input.map((t, index) => ({ object: "embedding", index, embedding: fakeVector(t) }));
    if (mode === "reversed") data.reverse();
    json(200, { object: "list", model: parsed.model, data });
  });
}

before(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  // fetch keeps connections alive; drop them so the test process can exit at once.
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

function reset(next: Mode = "ok"): void {
  mode = next;
  requests = [];
}

const fast = { initialBackoffMs: 1, maxBackoffMs: 5 };

test("the endpoint URL works with or without /v1; cache keys separate model and text", () => {
  assert.equal(embeddingsUrl("http://h:1"), "http://h:1/v1/embeddings");
  assert.equal(embeddingsUrl("http://h:1/v1/"), "http://h:1/v1/embeddings");
  assert.notEqual(embeddingCacheKey("ab", "c"), embeddingCacheKey("a", "bc"));
  assert.notEqual(embeddingCacheKey("m", "t"), embeddingCacheKey("m", "t", 64));
});

test("batches texts, sends the key from the named env var, dedupes, and keeps input order", async () => {
  reset();
  const texts = ["red lipstick", "shampoo", "red lipstick", "", "nail polish", "serum"];
  const r = await remoteEmbeddings(texts, { baseUrl: base, model: "m1", batchSize: 2, apiKeyEnv: "MY_KEY", env: { MY_KEY: "sekret" } });
  assert.equal(r.embeddings.rows, 6);
  assert.equal(r.embeddings.cols, 3);
  texts.forEach((t, i) => assert.deepEqual(Array.from(r.embeddings.data.subarray(i * 3, i * 3 + 3)), fakeVector(t || " ")));
  assert.equal(r.fetched, 5);
  assert.equal(requests.length, 3);
  assert.ok(requests.every((q) => q.auth === "Bearer sekret" && q.model === "m1" && q.input.length <= 2));
});

test("no Authorization header when the key variable is unset", async () => {
  reset();
  await remoteEmbeddings(["a"], { baseUrl: `${base}/v1`, model: "m", env: {} });
  assert.equal(requests[0]!.auth, undefined);
});

test("entries returned out of order are placed by their index", async () => {
  reset("reversed");
  const r = await remoteEmbeddings(["a", "bb", "ccc"], { baseUrl: base, model: "m", env: {} });
  assert.deepEqual(Array.from(r.embeddings.data), [...fakeVector("a"), ...fakeVector("bb"), ...fakeVector("ccc")]);
});

test("429 is retried with back-off, then succeeds", async () => {
  reset("429-once");
  const r = await remoteEmbeddings(["x", "y"], { baseUrl: base, model: "m", env: {}, ...fast });
  assert.equal(r.retries, 1);
  assert.equal(r.requests, 2);
  assert.deepEqual(Array.from(r.embeddings.data), [...fakeVector("x"), ...fakeVector("y")]);
});

test("a 400 fails at once, reporting the server's message", async () => {
  reset("400");
  await assert.rejects(
    remoteEmbeddings(["x"], { baseUrl: base, model: "m", env: {}, ...fast }),
    (e: Error) => /HTTP 400: This model's maximum context length is 8192 tokens/.test(e.message) && e.message.includes("/v1/embeddings"),
  );
  assert.equal(requests.length, 1, "client errors are not retried");
});

test("persistent 5xx gives up after maxRetries; a hung server times out", async () => {
  reset("500");
  await assert.rejects(remoteEmbeddings(["x"], { baseUrl: base, model: "m", env: {}, maxRetries: 2, ...fast }), /HTTP 503: overloaded \(after 3 attempts\)/);
  assert.equal(requests.length, 3);
  reset("slow");
  await assert.rejects(remoteEmbeddings(["x"], { baseUrl: base, model: "m", env: {}, maxRetries: 0, timeoutMs: 50 }), /timed out after 50 ms/);
});

test("the on-disk cache makes a re-run free and only new texts are fetched", async () => {
  const cacheDir = tempDir();
  reset();
  const first = await remoteEmbeddings(["a", "b", "c"], { baseUrl: base, model: "m", env: {}, cacheDir });
  assert.equal(first.fetched, 3);
  reset();
  const again = await remoteEmbeddings(["c", "b", "a"], { baseUrl: base, model: "m", env: {}, cacheDir });
  assert.equal(requests.length, 0);
  assert.equal(again.cached, 3);
  assert.deepEqual(Array.from(again.embeddings.data.subarray(0, 3)), fakeVector("c"));
  reset();
  const grown = await remoteEmbeddings(["a", "d"], { baseUrl: base, model: "m", env: {}, cacheDir });
  assert.deepEqual(requests.map((q) => q.input), [["d"]]);
  assert.equal(grown.cached, 1);
  reset();
  await remoteEmbeddings(["a"], { baseUrl: base, model: "other-model", env: {}, cacheDir });
  assert.equal(requests.length, 1, "another model's vectors are not reused");
});

/**
 * The teacher side's OpenAI client (src/teacher/openai-client.ts) end to end against a real
 * OpenAI-compatible server running a GR2 checkpoint: `gr2 serve`'s /v1/chat/completions. This
 * is the path users take with vLLM, SGLang or Ollama, here with no fake on either side.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { ChatClient, ChatClientError } from "../../src/teacher/openai-client.js";
import { LlmTeacher } from "../../src/teacher/llm-teacher.js";
import { generateTraces } from "../../src/teacher/traces.js";
import { readJsonLines } from "../../src/teacher/trace-file.js";
import type { TraceRecord } from "../../src/teacher/traces.js";
import { get, metric, post, startServer, tempDir } from "./helpers.js";

const served = (text: string) => metric(text, "gr2_http_requests_total", { route: "/v1/chat/completions" });

test("ChatClient and LlmTeacher against gr2 serve: completions, seeds, cache, errors and traces", async (t) => {
  const { url, port, session, ckpt, close } = await startServer();
  t.after(close);
  const messages = [
    { role: "system" as const, content: "You sell beauty products." },
    { role: "user" as const, content: "What goes with shampoo?" },
  ];

  await t.test("n choices, usage and finish reasons come back; a greedy answer equals the raw endpoint's", async () => {
    const client = new ChatClient({ baseUrl: url, model: session.name, env: {} });
    const c = await client.complete(messages, { n: 3, temperature: 0.9, maxTokens: 8, seed: 11 });
    assert.equal(c.model, session.name);
    assert.equal(c.choices.length, 3);
    assert.ok(c.choices.every((ch) => typeof ch.text === "string" && ["stop", "length"].includes(ch.finishReason!)));
    assert.ok(c.usage && c.usage.promptTokens > 0 && c.usage.completionTokens > 0 && c.usage.completionTokens <= 3 * 8);
    const again = await client.complete(messages, { n: 3, temperature: 0.9, maxTokens: 8, seed: 11 });
    assert.deepEqual(again.choices.map((ch) => ch.text), c.choices.map((ch) => ch.text), "a seeded request repeats");

    const greedy = await client.complete(messages, { temperature: 0, maxTokens: 12 });
    const raw = await post(port, "/v1/chat/completions", { model: session.name, messages, temperature: 0, max_tokens: 12 });
    assert.equal(raw.status, 200, raw.text);
    assert.equal(greedy.choices[0]!.text, raw.json.choices[0].message.content);
  });

  await t.test("the on-disk cache answers a repeated request without reaching the server", async () => {
    const client = new ChatClient({ baseUrl: `${url}/v1`, model: session.name, env: {}, cacheDir: tempDir("gr2-client-cache-") });
    const first = await client.complete(messages, { temperature: 0.7, maxTokens: 6, seed: 3 });
    const before = served((await get(port, "/metrics")).text);
    const second = await client.complete(messages, { temperature: 0.7, maxTokens: 6, seed: 3 });
    assert.equal(served((await get(port, "/metrics")).text), before, "no request reached the server");
    assert.equal(second.cached, true);
    assert.equal(second.choices[0]!.text, first.choices[0]!.text);
    assert.equal(client.stats.cacheHits, 1);
  });

  await t.test("a client mistake is reported at once with the server's message, without retries", async () => {
    const client = new ChatClient({ baseUrl: url, model: "no-such-model", env: {}, initialBackoffMs: 1 });
    await assert.rejects(client.complete(messages, { maxTokens: 4 }), (e: unknown) => {
      assert.ok(e instanceof ChatClientError);
      assert.equal(e.status, 404);
      assert.equal(e.attempts, 1);
      assert.match(e.message, /no-such-model/);
      return true;
    });
    const bad = new ChatClient({ baseUrl: url, model: session.name, env: {} });
    await assert.rejects(bad.complete(messages, { maxTokens: -1 }), (e: unknown) => e instanceof ChatClientError && e.status === 400 && /max_tokens/.test(e.message));
  });

  await t.test("generateTraces with an LlmTeacher served by GR2 writes a record per list with its outcome", async () => {
    const ds = generateSynthetic(ckpt.dataset);
    const items = ds.catalogue.items;
    const context = { items, sidOf: (i: number) => ckpt.sids.sidOf(i), domain: "beauty" };
    const lists = [0, 1, 2].map((u) => ({
      user: `u${u}`,
      split: "valid",
      history: [u, u + 3, u + 6],
      candidates: [10 + u, 20 + u, 30 + u, 40 + u],
      target: 20 + u,
      rankPre: 2,
    }));
    const client = new ChatClient({ baseUrl: url, model: session.name, env: {}, concurrency: 2 });
    const out = join(tempDir("gr2-llm-traces-"), "traces.jsonl");
    const r = await generateTraces({
      lists,
      teacher: new LlmTeacher(client, { batch: 2, temperature: 1, maxTokens: 24, seed: 1 }),
      mode: "rejection",
      maxAttempts: 4,
      prompt: { context },
      format: "compact",
      out,
    });
    assert.equal(r.written, 3);
    const records = readJsonLines<TraceRecord>(out).records;
    assert.deepEqual(records.map((x) => x.user).sort(), ["u0", "u1", "u2"]);
    // A random-weight model rarely answers in the format; every attempt is still accounted for.
    for (const rec of records) assert.ok(rec.attempts >= 1 && rec.attempts <= 4, JSON.stringify(rec));
    assert.equal(r.stats.lists, 3);
    assert.ok(client.stats.requests >= 3, "the teacher reached the server");
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { call, get, isPermutation, metric, post, startServer } from "./helpers.js";

test("every endpoint answers in its protocol's shape, and every ranking is a permutation", async (t) => {
  const { port, session, ckpt, close } = await startServer();
  t.after(close);
  const ids = ckpt.itemIds;
  const sidOf = (i: number) => ckpt.sids.sidOf(i);

  await t.test("GET /health and /v1/models", async () => {
    const h = await get(port, "/health");
    assert.equal(h.status, 200);
    assert.equal(h.json.status, "ok");
    const m = await get(port, "/v1/models");
    assert.equal(m.status, 200);
    assert.equal(m.json.object, "list");
    assert.equal(m.json.data[0].id, session.name);
    assert.equal(m.json.data[0].object, "model");
    assert.equal(m.json.data[0].gr2.rerank, true);
    assert.equal(m.json.data[0].gr2.sid_items, ids.length);
  });

  await t.test("POST /v2/rerank (Cohere v2): item ids, top_n, scores", async () => {
    const r = await post(port, "/v2/rerank", { model: session.name, query: { history: ids.slice(0, 3) }, documents: ids.slice(10, 17), top_n: 3 });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.id, /^gr2-/);
    assert.equal(r.json.results.length, 3);
    assert.equal(r.json.meta.api_version.version, "2");
    const ranking: number[] = r.json.meta.gr2.ranking;
    assert.ok(isPermutation(ranking, 7), `ranking ${ranking}`);
    assert.deepEqual(r.json.results.map((x: { index: number }) => x.index), ranking.slice(0, 3));
    const scores = r.json.results.map((x: { relevance_score: number }) => x.relevance_score);
    assert.deepEqual(scores, [1, 6 / 7, 5 / 7]);
    for (const x of r.json.results) {
      assert.equal(x.document, undefined, "v2 returns no documents unless asked");
      assert.ok(typeof x.logprob === "number" && x.logprob <= 0);
    }
  });

  await t.test("POST /v1/rerank (Jina/vLLM): strings, text documents, SIDs, documents and usage", async () => {
    const documents = ["a gentle shampoo", ids[20]!, sidOf(21), { sid: sidOf(22), id: ids[22] }, { id: ids[23], text: "custom title" }, { text: "a free-text candidate" }];
    const r = await post(port, "/v1/rerank", { query: { history: [sidOf(1), { id: ids[2] }, ids[3]], text: "something for dry hair" }, documents });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model, session.name);
    assert.equal(r.json.results.length, documents.length);
    assert.ok(isPermutation(r.json.results.map((x: { index: number }) => x.index), documents.length));
    for (const x of r.json.results) assert.deepEqual(x.document, typeof documents[x.index] === "string" ? { text: documents[x.index] } : documents[x.index]);
    assert.ok(r.json.usage.prompt_tokens > 0 && r.json.usage.total_tokens === r.json.usage.prompt_tokens + r.json.usage.completion_tokens);
    const alias = await post(port, "/rerank", { query: "x", documents: ["one", "two"] });
    assert.equal(alias.status, 200);
    assert.ok(isPermutation(alias.json.results.map((x: { index: number }) => x.index), 2));
  });

  await t.test("reasoning mode returns its rationale; sampled rankings are permutations and seeds repeat", async () => {
    const body = { query: { history: ids.slice(4, 8) }, documents: ids.slice(30, 38), mode: "reasoning", return_reasoning: true, max_reasoning_tokens: 16 };
    const r = await post(port, "/v2/rerank", body);
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json.reasoning, "string");
    assert.equal(r.json.meta.gr2.mode, "reasoning");
    assert.ok(isPermutation(r.json.meta.gr2.ranking, 8));
    const sampled = await Promise.all([1, 2, 3, 4].map((seed) => post(port, "/v2/rerank", { ...body, temperature: 1, seed })));
    for (const s of sampled) {
      assert.equal(s.status, 200, s.text);
      assert.ok(isPermutation(s.json.meta.gr2.ranking, 8));
    }
    const again = await post(port, "/v2/rerank", { ...body, temperature: 1, seed: 3 });
    assert.deepEqual(again.json.meta.gr2.ranking, sampled[2]!.json.meta.gr2.ranking, "the same seed gives the same ranking");
    assert.equal(again.json.reasoning, sampled[2]!.json.reasoning);
  });

  await t.test("POST /v1/chat/completions: n, logprobs, stop, max_tokens, streaming", async () => {
    const r = await post(port, "/v1/chat/completions", { model: session.name, messages: [{ role: "system", content: "You sell beauty products." }, { role: "user", content: "What goes with shampoo?" }], max_tokens: 6, n: 2, logprobs: true, temperature: 0.8, seed: 1 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, "chat.completion");
    assert.equal(r.json.choices.length, 2);
    for (const c of r.json.choices) {
      assert.equal(c.message.role, "assistant");
      assert.equal(typeof c.message.content, "string");
      assert.ok(["stop", "length"].includes(c.finish_reason));
      assert.ok(c.logprobs.content.length <= 6);
      for (const l of c.logprobs.content) assert.ok(l.logprob <= 0 && Array.isArray(l.bytes));
    }
    assert.equal(r.json.usage.total_tokens, r.json.usage.prompt_tokens + r.json.usage.completion_tokens);

    const long = await post(port, "/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], max_tokens: 3, temperature: 0 });
    assert.equal(long.status, 200);
    assert.ok(long.json.choices[0].finish_reason === "length" || long.json.usage.completion_tokens < 3);
    const greedy = await post(port, "/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], max_tokens: 40, temperature: 0 });
    const text: string = greedy.json.choices[0].message.content;
    if (text.length > 2) {
      const stop = text.slice(1, 2);
      const cut = await post(port, "/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], max_tokens: 40, temperature: 0, stop: [stop] });
      assert.equal(cut.json.choices[0].message.content, text.slice(0, text.indexOf(stop)));
      assert.equal(cut.json.choices[0].finish_reason, "stop");
    }
    const s = await post(port, "/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true } });
    assert.equal(s.status, 200);
    assert.match(String(s.headers["content-type"]), /text\/event-stream/);
    const events = s.text.split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)));
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), text, "the streamed text is the completion");
    assert.ok(chunks.at(-1).usage.completion_tokens > 0);
  });

  await t.test("unknown routes are 404, wrong methods 405, unknown models 404 — all JSON errors", async () => {
    const nf = await get(port, "/v1/embeddings");
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.type, "not_found_error");
    const na = await get(port, "/v2/rerank");
    assert.equal(na.status, 405);
    assert.equal(na.headers.allow, "POST");
    const del = await call(port, "DELETE", "/health");
    assert.equal(del.status, 405);
    const m = await post(port, "/v2/rerank", { model: "other", query: "x", documents: ["a"] });
    assert.equal(m.status, 404);
    assert.equal(m.json.error.param, "model");
    assert.equal(m.json.error.code, "model_not_found");
  });

  await t.test("client mistakes that need the SID map are 400s naming the field", async () => {
    let free = "";
    for (let n = 0; n < 512 && !free; n++) {
      const codes = [n % 8, (n >> 3) % 8, (n >> 6) % 8];
      if (ckpt.sids.itemOfCodes(codes) === undefined) free = `<|sid_begin|><s_a_${codes[0]}><s_b_${codes[1]}><s_c_${codes[2]}><|sid_end|>`;
    }
    const cases: [unknown, string, string][] = [
      [{ query: { history: ["no-such-item"] }, documents: ids.slice(0, 2) }, "query.history[0]", "unknown_item"],
      [{ query: "x", documents: [ids[1], { id: "nope" }] }, "documents[1].id", "unknown_item"],
      [{ query: "x", documents: [ids[1], free] }, "documents[1]", "unknown_sid"],
      [{ query: "x", documents: [{ sid: "<|sid_begin|><s_a_1><s_b_99><s_c_1><|sid_end|>" }] }, "documents[0].sid", "invalid_sid"],
      [{ query: "x", documents: [{ sid: "<|sid_begin|><s_a_1><|sid_end|>" }] }, "documents[0].sid", "invalid_sid"],
      [{ query: "x", documents: [ids[4], sidOf(4)] }, "documents[1]", "duplicate_document"],
      [{ query: "x", documents: [{ sid: sidOf(5), id: ids[6] }] }, "documents[0].sid", "sid_mismatch"],
      [{ query: "x", documents: ["same text", "same text"] }, "documents[1]", "duplicate_document"],
    ];
    for (const [body, param, code] of cases) {
      const r = await post(port, "/v2/rerank", body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`);
      assert.equal(r.json.error.param, param, r.text);
      assert.equal(r.json.error.code, code, r.text);
    }
  });

  await t.test("oversized and malformed bodies", async () => {
    const big = await post(port, "/v2/rerank", { query: "x", documents: ["a"], pad: "x".repeat(1_100_000) });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.type, "request_too_large");
    const bad = await call(port, "POST", "/v2/rerank", '{"query": "x", "documents": [');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "invalid_json");
    const empty = await call(port, "POST", "/v1/chat/completions", "");
    assert.equal(empty.status, 400);
  });

  await t.test("GET /metrics reports requests, latencies, tokens, errors and batches", async () => {
    const m = await get(port, "/metrics");
    assert.equal(m.status, 200);
    assert.match(String(m.headers["content-type"]), /text\/plain/);
    assert.ok(metric(m.text, "gr2_http_requests_total", { route: "/v2/rerank", status: "200" }) >= 2);
    assert.ok(metric(m.text, "gr2_http_requests_total", { status: "400" }) >= 8);
    assert.ok(metric(m.text, "gr2_http_request_duration_seconds_count", { route: "/v1/chat/completions" }) >= 4);
    assert.ok(metric(m.text, "gr2_generated_tokens_total", { kind: "rerank" }) > 0);
    assert.ok(metric(m.text, "gr2_prompt_tokens_total", { kind: "chat" }) > 0);
    assert.ok(metric(m.text, "gr2_errors_total", { type: "invalid_request_error" }) >= 8);
    assert.ok(metric(m.text, "gr2_batch_size_count") >= 5);
    assert.equal(metric(m.text, "gr2_queue_depth"), 0);
    assert.equal(metric(m.text, "gr2_rerank_repairs_total"), 0, "no answer needed repair");
    assert.ok(metric(m.text, "process_resident_memory_bytes") > 0);
    assert.equal(metric(m.text, "gr2_http_requests_total", { status: "500" }), 0);
  });
});

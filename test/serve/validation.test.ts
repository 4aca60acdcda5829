import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError } from "../../src/serve/errors.js";
import { parseChat, parseRerank } from "../../src/serve/validation.js";

const SID = "<|sid_begin|><s_a_1><s_b_2><s_c_3><|sid_end|>";

function rejects(fn: () => unknown, param: string | undefined, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.status, 400);
    assert.equal(e.type, "invalid_request_error");
    assert.equal(e.param, param, `param of: ${e.message}`);
    if (re) assert.match(e.message, re);
    return;
  }
  assert.fail(`expected a 400 for ${param}`);
}

test("rerank: Cohere-style strings, user objects, candidate objects and defaults", () => {
  const a = parseRerank({ model: "m", query: "shampoo", documents: ["a", "b"], top_n: 1 }, "v2");
  assert.equal(a.query.text, "shampoo");
  assert.deepEqual(a.query.history, []);
  assert.deepEqual(a.documents.map((d) => d.kind), ["auto", "auto"]);
  assert.equal(a.topN, 1);
  assert.equal(a.returnDocuments, false, "v2 does not return documents by default");
  assert.equal(a.temperature, 0);
  assert.equal(parseRerank({ query: "x", documents: ["a"] }, "v1").returnDocuments, true, "v1 does");

  const b = parseRerank({ query: { history: ["i1", SID, { id: "i3" }, { sid: SID, id: "i4" }, 7], text: "for my sister" }, documents: [{ id: "x" }, { sid: SID }, { text: "free text" }, SID], mode: "reasoning", return_reasoning: true }, "v2");
  assert.deepEqual(b.query.history.map((h) => h.kind), ["id", "sid", "id", "sid", "id"]);
  assert.deepEqual(b.query.history.map((h) => h.param), ["query.history[0]", "query.history[1]", "query.history[2].id", "query.history[3].sid", "query.history[4]"]);
  assert.deepEqual(b.documents.map((d) => d.kind), ["id", "sid", "text", "sid"]);
  assert.equal(b.mode, "reasoning");
  assert.equal(b.returnReasoning, true);
  assert.equal(b.query.text, "for my sister");
});

test("rerank: every wrong field is a 400 naming it", () => {
  const ok = { query: "q", documents: ["a", "b"] };
  rejects(() => parseRerank(null, "v2"), undefined, /JSON object/);
  rejects(() => parseRerank([], "v2"), undefined);
  rejects(() => parseRerank({ documents: ["a"] }, "v2"), "query", /required/);
  rejects(() => parseRerank({ ...ok, query: 5 }, "v2"), "query");
  rejects(() => parseRerank({ ...ok, query: { history: "i1" } }, "v2"), "query.history");
  rejects(() => parseRerank({ ...ok, query: { history: ["i1", 2.5] } }, "v2"), "query.history[1]");
  rejects(() => parseRerank({ ...ok, query: { history: [{ text: "only text" }] } }, "v2"), "query.history[0]");
  rejects(() => parseRerank({ ...ok, query: { history: ["<|sid_begin|><s_b_1><|sid_end|>"] } }, "v2"), "query.history[0]", /level 0/);
  rejects(() => parseRerank({ ...ok, query: { text: 3 } }, "v2"), "query.text");
  rejects(() => parseRerank({ query: "q" }, "v2"), "documents", /required/);
  rejects(() => parseRerank({ query: "q", documents: {} }, "v2"), "documents");
  rejects(() => parseRerank({ query: "q", documents: [] }, "v2"), "documents", /empty/);
  rejects(() => parseRerank({ query: "q", documents: Array.from({ length: 101 }, (_, i) => `d${i}`) }, "v2"), "documents", /at most 100/);
  rejects(() => parseRerank({ query: "q", documents: ["a", 3] }, "v2"), "documents[1]");
  rejects(() => parseRerank({ query: "q", documents: ["a", "  "] }, "v2"), "documents[1]", /empty/);
  rejects(() => parseRerank({ query: "q", documents: ["a", {}] }, "v2"), "documents[1]");
  rejects(() => parseRerank({ query: "q", documents: [{ sid: 12 }] }, "v2"), "documents[0].sid");
  rejects(() => parseRerank({ query: "q", documents: [{ sid: "<|sid_begin|>oops" }] }, "v2"), "documents[0].sid");
  rejects(() => parseRerank({ query: "q", documents: [{ id: {} }] }, "v2"), "documents[0].id");
  rejects(() => parseRerank({ query: "q", documents: [{ text: "" }] }, "v2"), "documents[0].text");
  rejects(() => parseRerank({ ...ok, top_n: 0 }, "v2"), "top_n");
  rejects(() => parseRerank({ ...ok, top_n: 1.5 }, "v2"), "top_n");
  rejects(() => parseRerank({ ...ok, top_n: "3" }, "v2"), "top_n");
  rejects(() => parseRerank({ ...ok, mode: "fast" }, "v2"), "mode");
  rejects(() => parseRerank({ ...ok, return_reasoning: "yes" }, "v2"), "return_reasoning");
  rejects(() => parseRerank({ ...ok, max_reasoning_tokens: -1 }, "v2"), "max_reasoning_tokens");
  rejects(() => parseRerank({ ...ok, max_reasoning_tokens: 1e9 }, "v2"), "max_reasoning_tokens");
  rejects(() => parseRerank({ ...ok, temperature: 3 }, "v2"), "temperature");
  rejects(() => parseRerank({ ...ok, model: 1 }, "v2"), "model");
  rejects(() => parseRerank({ ...ok, query: "x".repeat(30_000) }, "v2"), "query");
});

test("chat: OpenAI fields are read and checked", () => {
  const c = parseChat({ model: "m", messages: [{ role: "developer", content: "be brief" }, { role: "user", content: [{ type: "text", text: "hi " }, { type: "text", text: "there" }] }], temperature: 0, n: 2, max_tokens: 5, stop: "\n", seed: 3, logprobs: true, stream: true, stream_options: { include_usage: true } });
  assert.deepEqual(c.messages, [{ role: "system", content: "be brief" }, { role: "user", content: "hi there" }]);
  assert.equal(c.n, 2);
  assert.equal(c.maxTokens, 5);
  assert.deepEqual(c.stop, ["\n"]);
  assert.equal(c.seed, 3);
  assert.equal(c.logprobs, true);
  assert.equal(c.stream, true);
  assert.equal(c.includeUsage, true);
  assert.equal(parseChat({ messages: [{ role: "user", content: "x" }], max_completion_tokens: 9 }).maxTokens, 9);

  const m = { messages: [{ role: "user", content: "x" }] };
  rejects(() => parseChat({}), "messages");
  rejects(() => parseChat({ messages: [] }), "messages", /empty/);
  rejects(() => parseChat({ messages: "hi" }), "messages");
  rejects(() => parseChat({ messages: [null] }), "messages[0]");
  rejects(() => parseChat({ messages: [{ role: "tool", content: "x" }] }), "messages[0].role");
  rejects(() => parseChat({ messages: [{ role: "user" }] }), "messages[0].content");
  rejects(() => parseChat({ messages: [{ role: "user", content: 5 }] }), "messages[0].content");
  rejects(() => parseChat({ messages: [{ role: "user", content: [{ type: "image_url" }] }] }), "messages[0].content[0].type");
  rejects(() => parseChat({ ...m, temperature: -1 }), "temperature");
  rejects(() => parseChat({ ...m, top_p: 0 }), "top_p");
  rejects(() => parseChat({ ...m, n: 0 }), "n");
  rejects(() => parseChat({ ...m, n: 100 }), "n");
  rejects(() => parseChat({ ...m, max_tokens: 0 }), "max_tokens");
  rejects(() => parseChat({ ...m, stop: [1] }), "stop");
  rejects(() => parseChat({ ...m, stop: ["a", "b", "c", "d", "e"] }), "stop");
  rejects(() => parseChat({ ...m, seed: 1.5 }), "seed");
  rejects(() => parseChat({ ...m, logprobs: "true" }), "logprobs");
  rejects(() => parseChat({ ...m, top_logprobs: 3 }), "top_logprobs", /not supported/);
  rejects(() => parseChat({ ...m, stream: 1 }), "stream");
  rejects(() => parseChat({ ...m, stream_options: { include_usage: 1 } }), "stream_options.include_usage");
  rejects(() => parseChat({ ...m, tools: [{ type: "function" }] }), "tools");
  rejects(() => parseChat({ ...m, presence_penalty: 1 }), "presence_penalty");
  rejects(() => parseChat({ ...m, response_format: { type: "json_object" } }), "response_format");
});

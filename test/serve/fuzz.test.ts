/**
 * Thousands of malformed requests on loopback (bounded in count and time): wrong types in every
 * field, truncated and random JSON, junk bytes, oversized bodies, wrong paths and methods. The
 * server must answer each with a 4xx JSON error (never a 5xx, never a crash) and afterwards
 * still answer a good request correctly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Rng } from "../../src/util/rng.js";
import { call, get, isPermutation, metric, post, startServer } from "./helpers.js";

const COUNT = 3000;
const TIME_LIMIT_MS = 60_000;

const JUNK: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, "", " ", "x", "<|sid_begin|>", "<|im_end|>", [], [1], [null], {}, { a: 1 }, JSON.parse('{"__proto__": {"x": 1}, "constructor": 1}'), "9".repeat(400), -0, [[[]]]];

function mutate(rng: Rng, value: unknown, depth = 0): unknown {
  const r = rng.next();
  if (depth > 3 || r < 0.3) return JUNK[rng.int(JUNK.length)];
  if (Array.isArray(value)) {
    const out = [...value];
    if (out.length > 0 && rng.next() < 0.6) out[rng.int(out.length)] = mutate(rng, out[rng.int(out.length)], depth + 1);
    else if (rng.next() < 0.5) out.push(JUNK[rng.int(JUNK.length)]);
    else out.length = 0;
    return out;
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(out);
    const k = keys[rng.int(Math.max(1, keys.length))];
    if (k === undefined || rng.next() < 0.15) out[`extra${rng.int(3)}`] = JUNK[rng.int(JUNK.length)];
    else if (rng.next() < 0.25) delete out[k];
    else out[k] = mutate(rng, out[k], depth + 1);
    return out;
  }
  return JUNK[rng.int(JUNK.length)];
}

test("a few thousand malformed requests: only 4xx JSON errors, and the server still answers correctly", async (t) => {
  const { port, ckpt, close } = await startServer({ maxBodyBytes: 64 * 1024, maxQueue: 256 });
  t.after(close);
  const ids = ckpt.itemIds;
  const sid = (i: number) => ckpt.sids.sidOf(i);
  const rng = new Rng(2024);
  // Invalid by construction: each base is broken in a field the validator checks.
  const rerankBases: unknown[] = [
    { query: { history: [ids[0], sid(1)] }, documents: [] },
    { query: { history: ["missing-id"] }, documents: [ids[2], ids[3]] },
    { query: "q", documents: [ids[2], ids[2]] },
    { query: "q", documents: [{ sid: "<|sid_begin|><s_a_1><|sid_end|>" }] },
    { query: "q", documents: [ids[4], { id: "nope" }] },
    { query: 12, documents: [ids[5]] },
    { query: "q", documents: [ids[5]], top_n: -3 },
    { query: "q", documents: [ids[5]], mode: "slow" },
    { model: "not-this-one", query: "q", documents: [ids[5]] },
    { query: "q", documents: Array.from({ length: 150 }, (_, i) => `doc ${i}`) },
  ];
  const chatBases: unknown[] = [
    { messages: [] },
    { messages: [{ role: "robot", content: "hi" }] },
    { messages: [{ role: "user", content: "hi" }], temperature: "hot" },
    { messages: [{ role: "user", content: "hi" }], n: 0 },
    { messages: [{ role: "user", content: "hi" }], max_tokens: 1e7 },
    { messages: [{ role: "user", content: "hi" }], stop: [1, 2] },
    { messages: [{ role: "user" }] },
  ];
  type Req = { method: string; path: string; body?: string | Buffer };
  const make = (i: number): Req => {
    const kind = i % 10;
    if (kind < 4) return { method: "POST", path: i % 2 ? "/v1/rerank" : "/v2/rerank", body: JSON.stringify(mutate(rng, rerankBases[rng.int(rerankBases.length)])) };
    if (kind < 6) return { method: "POST", path: "/v1/chat/completions", body: JSON.stringify(mutate(rng, chatBases[rng.int(chatBases.length)])) };
    if (kind === 6) {
      // Truncated or corrupted JSON.
      const text = JSON.stringify(rerankBases[rng.int(rerankBases.length)]);
      return { method: "POST", path: "/v2/rerank", body: rng.next() < 0.5 ? text.slice(0, rng.int(text.length)) : text.replace(/[":,]/, "") + "}" };
    }
    if (kind === 7) return { method: "POST", path: rng.next() < 0.5 ? "/v2/rerank" : "/v1/chat/completions", body: Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256))) };
    if (kind === 8) {
      const paths = ["/", "/v3/rerank", "/v1/rerank/extra", "/%zz", "/v1/models/../../etc", "/metrics?x=1", "//", "/health/"];
      const methods = ["PUT", "DELETE", "PATCH", "POST", "GET", "OPTIONS"];
      const path = paths[rng.int(paths.length)]!;
      const method = methods[rng.int(methods.length)]!;
      // GETs on real GET routes are fine (200); everything else here is a 404/405/400.
      return { method, path, body: method === "GET" ? undefined : "{}" };
    }
    // Oversized bodies (over the 64 KiB limit), now and then.
    return i % 50 === 9 ? { method: "POST", path: "/v2/rerank", body: JSON.stringify({ query: "q", documents: ["x".repeat(70_000)] }) } : { method: "POST", path: "/v2/rerank", body: "[]" };
  };

  const started = performance.now();
  const statuses = new Map<number, number>();
  const bad: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < COUNT && performance.now() - started < TIME_LIMIT_MS) {
      const i = next++;
      const req = make(i);
      const r = await call(port, req.method, req.path, req.body, { headers: { "Content-Type": "application/json" } });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      const okGet = req.method === "GET" && r.status === 200;
      if (r.status >= 500 || (!okGet && r.status !== 200 && !(r.json?.error && typeof r.json.error.message === "string" && typeof r.json.error.type === "string"))) {
        if (bad.length < 5) bad.push(`${req.method} ${req.path} ${String(req.body).slice(0, 200)} → ${r.status} ${r.text.slice(0, 200)}`);
      }
      if (r.status === 200 && req.path.includes("rerank") && r.json?.meta?.gr2) {
        const k = r.json.meta.gr2.ranking.length;
        if (!isPermutation(r.json.meta.gr2.ranking, k)) bad.push(`not a permutation: ${r.text.slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
  t.diagnostic(`${sent} requests in ${Math.round(performance.now() - started)} ms; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  assert.ok(sent >= Math.min(COUNT, 1000), `only ${sent} requests in ${TIME_LIMIT_MS} ms`);
  assert.deepEqual(bad, [], `statuses ${JSON.stringify([...statuses])}`);
  assert.ok([...statuses.keys()].every((s) => s < 500), `statuses ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(400) ?? 0) > sent / 2, `statuses ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(413) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0 && (statuses.get(405) ?? 0) > 0);

  // Raw garbage on a socket: not even HTTP.
  await new Promise<void>((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.end("GARBAGE \u0000\u0001 / HTTP/9.9\r\n\r\n"));
    s.on("data", () => {});
    s.on("close", () => resolve());
    s.on("error", () => resolve());
  });

  // Still healthy and still right.
  const good = await post(port, "/v2/rerank", { query: { history: ids.slice(0, 2) }, documents: ids.slice(10, 14) });
  assert.equal(good.status, 200, good.text);
  assert.ok(isPermutation(good.json.meta.gr2.ranking, 4));
  assert.equal((await get(port, "/health")).json.status, "ok");
  const m = (await get(port, "/metrics")).text;
  assert.equal(metric(m, "gr2_http_requests_total", { status: "500" }), 0);
  assert.equal(metric(m, "gr2_errors_total", { type: "server_error" }), 0);
});

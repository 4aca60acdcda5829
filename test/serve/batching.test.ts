import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { call, get, isPermutation, metric, post, startServer, tinyCheckpoint } from "./helpers.js";

const rerankBody = (ids: string[], i: number, extra: Record<string, unknown> = {}) => ({
  query: { history: [ids[i % 50]!, ids[(i + 1) % 50]!] },
  documents: Array.from({ length: 5 }, (_, j) => ids[(i * 5 + j) % ids.length]!),
  ...extra,
});

test("concurrent requests are decoded together in batched calls", async (t) => {
  const { port, ckpt, server, close } = await startServer({ maxBatch: 8, maxWaitMs: 20 });
  t.after(close);
  const N = 16;
  const rs = await Promise.all(Array.from({ length: N }, (_, i) => post(port, "/v2/rerank", rerankBody(ckpt.itemIds, i))));
  for (const r of rs) {
    assert.equal(r.status, 200, r.text);
    assert.ok(isPermutation(r.json.meta.gr2.ranking, 5));
  }
  const m = (await get(port, "/metrics")).text;
  const batches = metric(m, "gr2_batches_total", { kind: "rerank" });
  assert.ok(batches < N, `${N} requests in ${batches} batches`);
  assert.equal(metric(m, "gr2_batch_size_sum", { kind: "rerank" }), N, "every request ran in some batch");
  assert.ok(metric(m, "gr2_batch_size_count", { kind: "rerank" }) - metric(m, "gr2_batch_size_bucket", { kind: "rerank", le: "1" }) > 0, "some batch had several rows");
  assert.ok(Math.max(...rs.map((r) => r.json.meta.gr2.batch_size)) > 1);
  assert.equal(server.queue.depth, 0);
  // Batched rows decode exactly as they would alone (greedy): compare with one request run by itself.
  const alone = await post(port, "/v2/rerank", rerankBody(ckpt.itemIds, 3));
  assert.deepEqual(alone.json.meta.gr2.ranking, rs[3]!.json.meta.gr2.ranking);
});

test("a full queue answers 429, and the server keeps serving", async (t) => {
  const { port, ckpt, close } = await startServer({ maxBatch: 1, maxQueue: 2, maxWaitMs: 0 });
  t.after(close);
  const rs = await Promise.all(Array.from({ length: 24 }, (_, i) => post(port, "/v2/rerank", rerankBody(ckpt.itemIds, i, { mode: "reasoning", max_reasoning_tokens: 8 }))));
  const by = (s: number) => rs.filter((r) => r.status === s);
  assert.ok(by(429).length > 0, `statuses: ${rs.map((r) => r.status).join(",")}`);
  assert.equal(by(429).length + by(200).length, rs.length, `statuses: ${rs.map((r) => r.status).join(",")}`);
  for (const r of by(429)) {
    assert.equal(r.json.error.type, "rate_limit_error");
    assert.equal(r.headers["retry-after"], "1");
  }
  for (const r of by(200)) assert.ok(isPermutation(r.json.meta.gr2.ranking, 5));
  const after = await post(port, "/v2/rerank", rerankBody(ckpt.itemIds, 1));
  assert.equal(after.status, 200);
  assert.ok(metric((await get(port, "/metrics")).text, "gr2_queue_rejected_total") >= by(429).length);
});

test("a request over its time limit is a 504 JSON error", async (t) => {
  const { port, ckpt, close } = await startServer({ timeoutMs: 1 });
  t.after(close);
  const r = await post(port, "/v2/rerank", rerankBody(ckpt.itemIds, 2));
  assert.equal(r.status, 504, r.text);
  assert.equal(r.json.error.type, "timeout_error");
  const h = await get(port, "/health");
  assert.equal(h.status, 200, "the server still answers");
  assert.ok(metric((await get(port, "/metrics")).text, "gr2_timeouts_total") >= 1);
});

test("graceful shutdown answers every request in progress, then refuses connections", async () => {
  const { port, ckpt, server, close } = await startServer({ maxBatch: 2, maxWaitMs: 0 });
  const N = 6;
  let answered = 0;
  const pending = Array.from({ length: N }, (_, i) => post(port, "/v2/rerank", rerankBody(ckpt.itemIds, i, { mode: "reasoning", max_reasoning_tokens: 12 })).finally(() => answered++));
  // Wait until all of them reached the server (some may already be answered: batches of 2 run meanwhile).
  await until(() => server.metrics.inflight.get() + answered >= N, "all requests reached the server");
  const stopped = server.shutdown();
  const rs = await Promise.all(pending);
  for (const r of rs) {
    assert.equal(r.status, 200, r.text);
    assert.ok(isPermutation(r.json.meta.gr2.ranking, 5));
  }
  await stopped;
  await assert.rejects(call(port, "GET", "/health", undefined, { agent: false }), /ECONNREFUSED|ECONNRESET/);
  await close();
});

test("gr2 serve: SIGTERM finishes the request in flight and exits 0", async () => {
  const ckpt = await tinyCheckpoint();
  const cli = fileURLToPath(new URL("../../src/cli/serve.js", import.meta.url));
  const child = spawn(process.execPath, [cli, "--model", ckpt.dir, "--port", "0", "--json", "--served-model-name", "tiny"], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const listening = await new Promise<{ port: number }>((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      for (const l of parts) {
        lines.push(l);
        const j = JSON.parse(l);
        if (j.event === "listening") resolve(j);
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const models = await get(listening.port, "/v1/models");
  assert.equal(models.json.data[0].id, "tiny");
  const inflight = post(listening.port, "/v2/rerank", rerankBody(ckpt.itemIds, 5, { mode: "reasoning", max_reasoning_tokens: 24 }));
  let answered = false;
  void inflight.finally(() => (answered = true));
  // Wait until the server holds it (the metrics request itself is the other one in flight), or
  // it was already answered: SIGTERM must then still exit cleanly.
  while (!answered && metric((await get(listening.port, "/metrics")).text, "gr2_inflight_requests") < 2) await new Promise((r) => setTimeout(r, 2));
  child.kill("SIGTERM");
  const r = await inflight;
  assert.equal(r.status, 200, r.text);
  assert.ok(isPermutation(r.json.meta.gr2.ranking, 5));
  assert.equal(await exited, 0, stderr);
  child.stdout.destroy();
  child.stderr.destroy();
  assert.match(stderr, /SIGTERM/);
  assert.ok(lines.some((l) => JSON.parse(l).event === "stopped"));
});

/** Polls `ok` every 2 ms; fails after `ms` instead of hanging the suite. */
async function until(ok: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

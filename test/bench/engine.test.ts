import { test } from "node:test";
import assert from "node:assert/strict";
import { benchEngine, ENGINE_BENCH_DEFAULTS } from "../../src/bench/engine.js";

test("gr2 bench engine: --answer N puts the loss on the last N tokens of each row, as an SFT step does", () => {
  const o = { ...ENGINE_BENCH_DEFAULTS, dModel: 32, layers: 2, heads: 4, kvHeads: 2, hidden: 48, vocab: 64, batch: 2, seq: 24, warmup: 0, steps: 1, decodeBatch: 1, prompt: 4, newTokens: 2 };
  const every = benchEngine(o);
  const answer = benchEngine({ ...o, answer: 3 });
  assert.equal(every.answer_tokens, 0);
  assert.equal(answer.answer_tokens, 3);
  // Same seed, same first batch: the losses differ only because they average other positions.
  assert.notEqual(answer.loss, every.loss);
  for (const r of [every, answer]) assert.ok(Number.isFinite(r.loss) && r.train_tokens_per_s > 0, JSON.stringify(r));
});

test("gr2 bench engine reports how idle pool threads wait, since that changes a step's time", () => {
  const r = benchEngine({ ...ENGINE_BENCH_DEFAULTS, dModel: 32, layers: 1, heads: 4, kvHeads: 2, hidden: 48, vocab: 64, batch: 1, seq: 8, warmup: 0, steps: 1, decodeBatch: 1, prompt: 4, newTokens: 1 });
  assert.deepEqual(Object.keys(r.thread_pools).sort(), ["OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT"]);
  assert.equal(r.thread_pools.OMP_WAIT_POLICY, process.env.OMP_WAIT_POLICY);
});

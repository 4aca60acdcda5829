import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, CancelledError } from "../../src/serve/errors.js";
import { BatchQueue } from "../../src/serve/queue.js";

/** Busy-waits (the model's batches are synchronous too). */
const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test("jobs arriving together share a batch; keys never mix; maxBatch bounds rows", async () => {
  const batches: { key: string; inputs: number[] }[] = [];
  const q = new BatchQueue<number, number>({ maxBatch: 4, maxQueue: 100, maxWaitMs: 5 }, (key, inputs) => {
    batches.push({ key, inputs });
    return inputs.map((x) => x * 10);
  });
  const jobs = [1, 2, 3, 4, 5, 6].map((x) => q.submit(x, { key: x % 2 ? "odd" : "even" }));
  const extra = q.submit(7, { key: "big", rows: 9 }); // bigger than maxBatch: runs alone
  const out = await Promise.all([...jobs, extra]);
  assert.deepEqual(out.map((o) => o.result), [10, 20, 30, 40, 50, 60, 70]);
  assert.deepEqual(batches, [
    { key: "odd", inputs: [1, 3, 5] },
    { key: "even", inputs: [2, 4, 6] },
    { key: "big", inputs: [7] },
  ]);
  assert.equal(out[0]!.batch.jobs, 3);
  assert.equal(out[6]!.batch.rows, 9);
  await q.idle();
});

test("a full queue refuses at once with 429; a deadline passed in the queue or in the batch is a 504", async () => {
  const q = new BatchQueue<number, number>({ maxBatch: 1, maxQueue: 2, maxWaitMs: 0 }, (_k, inputs) => {
    spin(30);
    return inputs;
  });
  const a = q.submit(1, { key: "k" }); // waits until the batch starts on the next turn
  const b = q.submit(2, { key: "k" });
  await assert.rejects(q.submit(3, { key: "k" }), (e: unknown) => e instanceof ApiError && e.status === 429 && e.headers["Retry-After"] === "1");
  await Promise.all([a, b]);

  const now = performance.now();
  const late = q.submit(5, { key: "k", deadline: now + 10, timeoutMs: 10 }); // its batch takes 30 ms
  await assert.rejects(late, (e: unknown) => e instanceof ApiError && e.status === 504);
  const blocker = q.submit(6, { key: "k" });
  const queued = q.submit(7, { key: "k", deadline: performance.now() + 5, timeoutMs: 5 }); // expires behind the blocker
  await assert.rejects(queued, (e: unknown) => e instanceof ApiError && e.status === 504);
  await blocker;
  await q.idle();
});

test("an aborted job leaves the queue unrun; a failing batch fails only its own jobs", async () => {
  const ran: number[] = [];
  const q = new BatchQueue<number, number>({ maxBatch: 1, maxQueue: 10, maxWaitMs: 0 }, (_k, inputs) => {
    if (inputs[0] === 13) throw new Error("unlucky");
    spin(10);
    ran.push(...inputs);
    return inputs;
  });
  const ctl = new AbortController();
  const first = q.submit(1, { key: "k" });
  const gone = q.submit(2, { key: "k", signal: ctl.signal });
  ctl.abort();
  await assert.rejects(gone, (e: unknown) => e instanceof CancelledError);
  await assert.rejects(q.submit(13, { key: "k" }), /unlucky/);
  assert.equal((await q.submit(3, { key: "k" })).result, 3);
  await first;
  assert.deepEqual(ran, [1, 3]);
  await q.idle();
});

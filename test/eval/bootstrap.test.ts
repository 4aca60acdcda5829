import assert from "node:assert/strict";
import { test } from "node:test";
import { quantile, rankMetricIntervals, Resamples, significance } from "../../src/eval/bootstrap.js";
import { pairedDifference } from "../../src/eval/evaluate.js";
import { perUserMetrics } from "../../src/rank/metrics.js";
import { Rng } from "../../src/data/rng.js";

test("a constant has a zero-width interval; paired identical methods differ by exactly 0", () => {
  const r = new Resamples(50, { samples: 200, seed: 1 });
  const ones = new Float64Array(50).fill(0.7);
  const i = r.interval(ones);
  for (const x of [i.mean, i.lo, i.hi]) assert.ok(Math.abs(x - 0.7) < 1e-12);
  const d = r.pairedDifference(ones, ones);
  assert.deepEqual([d.mean, d.lo, d.hi], [0, 0, 0]);
  assert.equal(significance(d), 0);
});

test("a Bernoulli mean: the interval covers it and has the normal-theory width", () => {
  const rng = new Rng(3);
  const n = 2000;
  const values = Float64Array.from({ length: n }, () => (rng.next() < 0.3 ? 1 : 0));
  const i = new Resamples(n, { samples: 1000, seed: 5 }).interval(values);
  assert.ok(i.lo < i.mean && i.mean < i.hi);
  const p = i.mean;
  const expected = 2 * 1.96 * Math.sqrt((p * (1 - p)) / n); // ≈ 0.040
  const width = i.hi - i.lo;
  assert.ok(Math.abs(width - expected) / expected < 0.2, `width ${width} vs ${expected}`);
});

test("seeded: the same seed gives the same interval, another seed a slightly different one", () => {
  const values = Float64Array.from({ length: 300 }, (_, u) => (u % 7) / 7);
  const a = new Resamples(300, { samples: 300, seed: 11 }).interval(values);
  const b = new Resamples(300, { samples: 300, seed: 11 }).interval(values);
  const c = new Resamples(300, { samples: 300, seed: 12 }).interval(values);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(Math.abs(a.lo - c.lo) < 0.03);
});

test("paired differences are tighter than the gap between two unpaired intervals", () => {
  const rng = new Rng(9);
  const n = 1000;
  // Users differ a lot (base), the method adds a small, consistent improvement.
  const base = Float64Array.from({ length: n }, () => rng.next());
  const better = base.map((x) => Math.min(1, x + 0.02 + (rng.next() - 0.5) * 0.01));
  const r = new Resamples(n, { samples: 500, seed: 2 });
  const d = r.pairedDifference(better, base);
  assert.ok(d.lo > 0, `paired interval should exclude zero: ${JSON.stringify(d)}`);
  assert.equal(significance(d), 1);
  const ia = r.interval(better);
  const ib = r.interval(base);
  assert.ok(ia.lo < ib.hi, "the unpaired intervals overlap");
  assert.throws(() => r.pairedDifference(better, base.subarray(1)), /paired difference/);
});

test("quantile interpolates linearly (numpy's default)", () => {
  const s = [1, 2, 3, 4];
  assert.equal(quantile(s, 0), 1);
  assert.equal(quantile(s, 1), 4);
  assert.equal(quantile(s, 0.5), 2.5);
  assert.ok(Math.abs(quantile(s, 0.25) - 1.75) < 1e-12);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.throws(() => new Resamples(5, { samples: 0 }), /positive integer/);
});

test("the rank-histogram bootstrap equals the per-user bootstrap on the same resamples", () => {
  const rng = new Rng(21);
  const n = 500;
  const ranks = Int32Array.from({ length: n }, () => 1 + rng.int(10));
  const before = Int32Array.from({ length: n }, () => 1 + rng.int(10));
  const metrics = ["recall@1", "ndcg@5", "mrr"] as const;
  const r = new Resamples(n, { samples: 200, seed: 8 });
  const fast = rankMetricIntervals(r, ranks, metrics, before);
  const a = perUserMetrics(ranks, metrics);
  const b = perUserMetrics(before, metrics);
  for (const m of metrics) {
    const slow = r.interval(a[m]);
    const slowDiff = r.pairedDifference(a[m], b[m]);
    for (const k of ["mean", "lo", "hi"] as const) {
      assert.ok(Math.abs(fast.metrics[m][k] - slow[k]) < 1e-12, `${m} ${k}`);
      assert.ok(Math.abs(fast.vsReference![m][k] - slowDiff[k]) < 1e-12, `${m} difference ${k}`);
    }
  }
  assert.equal(rankMetricIntervals(r, ranks, metrics).vsReference, null);
});

test("pairedDifference: a method that moves targets up beats its peer with an interval above zero; itself, by exactly 0", () => {
  const rng = new Rng(4);
  const b = Int32Array.from({ length: 400 }, () => 1 + Math.floor(rng.next() * 10));
  const a = b.map((r, i) => (i % 3 === 0 ? 1 : r));
  const d = pairedDifference(a, b, { seed: 1 });
  assert.ok(d["recall@1"][1] > 0 && d["ndcg@5"][1] > 0, JSON.stringify(d));
  assert.deepEqual(pairedDifference(b, b, { seed: 1 })["recall@5"], [0, 0, 0]);
  assert.throws(() => pairedDifference(a, b.subarray(1)), /400 and 399 lists/);
});

test("a ratio of two means on the same users: the point estimate, an interval around it, none when the denominator's interval reaches zero", () => {
  const rng = new Rng(4);
  const n = 1500;
  // Per-user lifts of two methods over a reference: the teacher gains on 6% of users, the student on most of the same ones.
  const teacher = Float64Array.from({ length: n }, () => (rng.next() < 0.06 ? 1 : 0));
  const student = teacher.map((t) => (t === 1 && rng.next() < 0.75 ? 1 : 0));
  const r = new Resamples(n, { samples: 500, seed: 3 });
  const q = r.ratio(student, teacher)!;
  const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
  assert.ok(Math.abs(q.mean - sum(student) / sum(teacher)) < 1e-12);
  assert.ok(q.lo < q.mean && q.mean < q.hi && q.hi <= 1, JSON.stringify(q));
  // The student's gains are a subset of the teacher's here, so the ratio is a share: its interval is about ±2 binomial s.e.
  const se = Math.sqrt((q.mean * (1 - q.mean)) / sum(teacher));
  assert.ok(Math.abs((q.hi - q.lo) / (4 * se) - 1) < 0.35, `width ${q.hi - q.lo} vs ${4 * se}`);
  // A teacher whose lift is not distinguishable from zero: no interval.
  const noisy = Float64Array.from({ length: n }, (_, u) => (u % 2 === 0 ? 1 : -1));
  assert.equal(r.ratio(student, noisy), null);
  assert.throws(() => r.ratio(student.subarray(1), teacher), /bootstrap ratio/);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { retainedLiftInterval } from "../../src/pipeline/distill.js";

test("the share of the teacher's R@1 lift a student keeps is bounded by resampling both lifts on the same lists", () => {
  // 400 lists: the incoming order has the target first on 100; the teacher fixes 60 more, the student 45 of those.
  const n = 400;
  const incoming = Int32Array.from({ length: n }, (_, i) => (i < 100 ? 1 : 2));
  const teacher = Int32Array.from({ length: n }, (_, i) => (i < 160 ? 1 : 2));
  const student = Int32Array.from({ length: n }, (_, i) => (i < 145 ? 1 : 2));
  const [lo, hi] = retainedLiftInterval(student, teacher, incoming, { samples: 400, seed: 1 })!;
  assert.ok(lo < 0.75 && 0.75 < hi && lo > 0.55 && hi < 0.9, `[${lo}, ${hi}]`);
  // A teacher no better than the incoming order: no share to bound.
  assert.equal(retainedLiftInterval(student, incoming, incoming), null);
});

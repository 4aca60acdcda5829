import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluateRanks, evaluateRerankers, vsIncomingOf } from "../../src/eval/evaluate.js";
import type { ListReranker } from "../../src/rank/baselines/reranker.js";
import type { CandidateList } from "../../src/rank/candidates.js";
import { metricAtRank } from "../../src/rank/metrics.js";
import { gradedNdcg } from "../../src/reward/rank.js";

test("graded NDCG@k: gains 2^g − 1 over the ideal order's top k; one positive of grade 1 is plain NDCG@k", () => {
  // Target (grade 2) second, a later positive (grade 1) fourth: (3/log2 3 + 1/log2 5) / (3 + 1/log2 3).
  const want = (3 / Math.log2(3) + 1 / Math.log2(5)) / (3 + 1 / Math.log2(3));
  assert.ok(Math.abs(gradedNdcg([0, 1, 2, 3, 4], [0, 2, 0, 1, 0], 5) - want) < 1e-12);
  assert.equal(gradedNdcg([1, 3, 0, 2, 4], [0, 2, 0, 1, 0], 5), 1);
  // Positives below the cut-off earn nothing; no positive at all scores 0.
  assert.equal(gradedNdcg([0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 1], 5), 0);
  assert.equal(gradedNdcg([0, 1], [0, 0], 5), 0);
  for (let r = 1; r <= 6; r++) {
    const rel = [0, 0, 0, 0, 0, 0];
    rel[r - 1] = 1;
    assert.ok(Math.abs(gradedNdcg([0, 1, 2, 3, 4, 5], rel, 5) - metricAtRank("ndcg@5", r)) < 1e-12);
  }
});

/** 60 lists with a target (grade 2) and a later positive (grade 1), both low in the incoming order. */
function gradedLists(): CandidateList[] {
  return Array.from({ length: 60 }, (_, u) => {
    const t = 3 + (u % 5); // target at incoming position 4..8
    const grades = Array.from({ length: 10 }, (_, i) => (i === t ? 2 : i === 9 ? 1 : 0));
    const candidates = Array.from({ length: 10 }, (_, i) => 100 + i);
    return { user: `u${u}`, split: "test", history: [1], candidates, target: candidates[t]!, rankPre: t + 1, scores: null, grades };
  });
}

test("graded lists: every method that gives its orders gets graded NDCG@5 and a paired difference against the incoming order", () => {
  const lists = gradedLists();
  // Puts both positives first: graded NDCG@5 of 1 on every list.
  const oracle: ListReranker = { name: "oracle", scoreLists: (ls) => ls.map((l) => Float32Array.from(l.grades!)) };
  const incoming: ListReranker = { name: "incoming", scoreLists: (ls) => ls.map((l) => Float32Array.from(l.candidates, (_, i) => -i)) };
  const ev = evaluateRerankers(lists, [incoming, oracle], { samples: 200, seed: 1 });
  assert.equal(ev.graded!.lists, 60);
  assert.equal(ev.graded!.positives, 2);
  const inc = ev.methods.find((m) => m.name === "incoming")!.graded!;
  const best = ev.methods.find((m) => m.name === "oracle")!.graded!;
  assert.ok(Math.abs(inc["ndcg@5"].mean - ev.graded!.incoming.mean) < 1e-12);
  assert.equal(inc.vsIncoming.mean, 0);
  assert.ok(Math.abs(best["ndcg@5"].mean - 1) < 1e-12);
  assert.ok(best.vsIncoming.lo > 0);
  const json = vsIncomingOf(ev.methods.find((m) => m.name === "oracle")!);
  assert.ok(json["graded_ndcg@5"]![0] > 0.3);
  // Promoting the later positive alone beats the incoming order on graded NDCG, not on the target's R@1.
  const later = Int32Array.from(lists, (l) => l.rankPre + 1);
  const byRanks = evaluateRanks(lists, [{ name: "later-first", ranks: later, orders: lists.map((l) => [9, ...l.candidates.map((_, i) => i).filter((i) => i !== 9)]) }], { samples: 200, seed: 1 });
  const m = byRanks.methods[0]!;
  assert.ok(m.vsIncoming["recall@1"].mean === 0 && m.vsIncoming["ndcg@5"].hi < 0);
  assert.ok(m.graded!.vsIncoming.lo > 0);
});

test("lists without grades: no graded metric, the reports unchanged", () => {
  const lists = gradedLists().map(({ grades: _g, ...l }) => l);
  const ev = evaluateRanks(lists, [{ name: "incoming", ranks: Int32Array.from(lists, (l) => l.rankPre), orders: lists.map((l) => l.candidates.map((_, i) => i)) }], { samples: 50 });
  assert.equal(ev.graded, undefined);
  assert.equal(ev.methods[0]!.graded, undefined);
  assert.deepEqual(Object.keys(vsIncomingOf(ev.methods[0]!)), ["recall@1", "recall@5", "ndcg@5"]);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { leaveOneOut } from "../../src/data/split.js";
import type { Item } from "../../src/data/types.js";
import type { CandidateList } from "../../src/rank/candidates.js";
import { candidateEvidence, evidenceSource, listEvidence, localSource, parseEvidenceSet, popularityBands, withheldFor } from "../../src/rank/evidence/features.js";
import { evidenceClause, evidenceMark, evidenceSuffix } from "../../src/rank/evidence/render.js";
import { answerOrder, EvidenceScorer, featureNames, scoreEvidence, withScoreRanks } from "../../src/rank/evidence/scorer.js";
import { TrainIndex } from "../../src/rank/evidence/train-index.js";
import { rerankedRanks } from "../../src/rank/baselines/reranker.js";
import { buildRerankPrompt } from "../../src/prompt/rerank-prompt.js";
import { Rng } from "../../src/data/rng.js";

const item = (i: number, brand: string, cat: string): Item => ({ index: i, id: `i${i}`, title: `item ${i}`, categories: [cat], brand });

test("co-purchase counts withhold a train-position list's own purchase of its target and what follows", () => {
  // User u0 buys 0 → 1 → 2; user u1 buys 0 → 1. A list of u0 at position 1 (history [0], target 1)
  // must not count u0's own 0 → 1.
  const train = [[0, 1, 2], [0, 1]];
  const idx = TrainIndex.build(train, 4);
  assert.equal(idx.coPurchase(0, 1), 2);
  const w = withheldFor({ trainOf: (u) => ({ u0: train[0], u1: train[1] })[u] }, { user: "u0", history: [0] })!;
  assert.deepEqual(w, { sequence: [0, 1, 2], from: 1 });
  assert.equal(idx.coPurchase(0, 1, w), 1, "u0's own transition is withheld");
  assert.equal(idx.coPurchase(0, 2, w), 0);
  assert.equal(idx.popularityOf(1, w), 1);
  assert.equal(idx.popularityOf(0, w), 2, "purchases before the position stay");
  // A pair that also occurs before the position keeps counting: that purchase is history.
  const idx2 = TrainIndex.build([[0, 1, 0, 1]], 2);
  assert.equal(idx2.coPurchase(0, 1, { sequence: [0, 1, 0, 1], from: 2 }), 1);
  // Valid and test lists come after the whole train prefix: nothing withheld.
  assert.equal(withheldFor({ trainOf: () => train[0] }, { user: "u0", history: [0, 1, 2] }), undefined);
  // A history that is not the prefix (another user's data) is not matched.
  assert.equal(withheldFor({ trainOf: () => train[0] }, { user: "u0", history: [1] }), undefined);
});

test("candidate evidence names the anchor with the most co-buyers, and overlaps with the recent history", () => {
  const items = [item(0, "A", "x"), item(1, "A", "y"), item(2, "B", "x"), item(3, "B", "z"), item(4, "C", "y")];
  // 2 follows 1 for three users, 0 for one; 3 follows nothing.
  const train = [[0, 2], [1, 2], [1, 2], [1, 2], [4, 3]];
  const src = evidenceSource(items, train);
  const [e2, e3] = candidateEvidence(src, [0, 1], [2, 3]);
  assert.equal(e2!.coBuy, 4);
  assert.equal(e2!.coBuyBest, 3);
  assert.equal(e2!.coBuyAfter, 1, "history index of item 1");
  assert.equal(e2!.sameCategory, 1, "item 0 shares category x");
  assert.equal(e2!.sameBrand, 0);
  assert.equal(e3!.coBuy, 0);
  assert.equal(e3!.coBuyAfter, -1);
  assert.equal(evidenceClause(e2!, "cobuy"), "co-bought: 4 after #2 (the most)");
  assert.equal(evidenceClause(e3!, "all"), "co-bought: 0 | popularity: low | same category: 0 | same brand: 0");
  assert.equal(evidenceSuffix(e2!, "cobuy"), "(4!)");
  assert.equal(evidenceClause(e2!, "none"), "");
  // A product line: co-bought after a purchase of its own brand.
  const lineItems = [item(0, "A", "x"), item(1, "B", "y"), item(2, "A", "z"), item(3, "C", "z")];
  const [m2, m3] = candidateEvidence(evidenceSource(lineItems, [[0, 2], [0, 2], [1, 3]]), [0, 1], [2, 3]);
  assert.equal(m2!.coBuyLine, 2, "item 2 follows item 0 of its brand A twice");
  assert.equal(m3!.coBuyLine, 0, "item 3 follows item 1 of another brand");
  assert.match(evidenceClause(m2!, "all"), /^co-bought: 2 after #1, same brand \(the most\) \| popularity: \w+ \| same category: 0 \| same brand: 1$/);
  assert.equal(evidenceMark(m2!, "all"), "*");
  assert.equal(evidenceMark(m2!, "cobuy"), "", "the line needs brands");
  assert.equal(evidenceMark(m3!, "all"), "");
  assert.throws(() => parseEvidenceSet("some"), /unknown evidence set "some"/);
  // Bands split the bought items in tertiles.
  const [hi, mid] = popularityBands(Int32Array.from([0, 1, 2, 3, 4, 5, 6]));
  assert.ok(hi > mid);
  // A served request's items map back to catalogue indices; text-only items (-1) have no evidence.
  const local = localSource(src, [items[1]!, items[2]!, { index: 2, id: "t", title: "free text", categories: [] }], [1, 2, -1]);
  const [l2, lt] = candidateEvidence(local, [0], [1, 2]);
  assert.equal(l2!.coBuy, 3);
  assert.equal(lt!.coBuy, 0);
});

/** Lists where the target is the candidate with co-purchase evidence half of the time, placed anywhere. */
function plantedLists(n: number, seed: number): { lists: CandidateList[]; src: ReturnType<typeof evidenceSource> } {
  const K = 10;
  const items = Array.from({ length: 40 }, (_, i) => item(i, `b${i % 5}`, `c${i % 4}`));
  const rng = new Rng(seed);
  const train: number[][] = [];
  const lists: CandidateList[] = [];
  for (let l = 0; l < n; l++) {
    const anchor = rng.int(40);
    const cands = Array.from(rng.sample(40, K + 1)).filter((c) => c !== anchor).slice(0, K);
    const linked = cands[rng.int(K)]!;
    for (let r = 0; r < 3; r++) train.push([anchor, linked]);
    const target = rng.chance(0.5) ? linked : cands[rng.int(K)]!;
    lists.push({ user: `u${l}`, split: "valid", history: [anchor], candidates: cands, target, rankPre: cands.indexOf(target) + 1, scores: null });
  }
  return { lists, src: evidenceSource(items, train) };
}

test("the evidence scorer learns what the evidence says, and with no evidence keeps the incoming order", () => {
  const { lists, src } = plantedLists(300, 1);
  const scorer = EvidenceScorer.fit(src, lists.slice(0, 200), "cobuy");
  assert.deepEqual(scorer.model.features, featureNames("cobuy"));
  const w = Object.fromEntries(scorer.model.features.map((f, i) => [f, scorer.model.weights[i]!]));
  assert.ok(w.log_cobuy! + w.cobuy_any! + w.cobuy_list_max! > 1, JSON.stringify(w));
  const test = lists.slice(200);
  const r1 = (ranks: Int32Array) => ranks.filter((r) => r === 1).length / ranks.length;
  const incoming = r1(Int32Array.from(test, (l) => l.rankPre));
  const scored = r1(rerankedRanks(test, scorer.scoreLists(test)));
  assert.ok(scored > incoming + 0.2, `scorer R@1 ${scored} vs incoming ${incoming}`);
  // Position only: the fitted order is the incoming one whenever earlier places are likelier.
  assert.throws(() => new EvidenceScorer(src, { ...scorer.model, set: "all" }), /weights for features/);
  // Re-fitting gives the same weights (convex loss, deterministic from zero).
  assert.deepEqual(EvidenceScorer.fit(src, lists.slice(0, 200), "cobuy").model, scorer.model);
});

test("the prompt shows each candidate's evidence, computed against the history it shows", async () => {
  const ds = generateSynthetic({ users: 60, items: 50, seed: 2, productLines: 0.8 });
  const split = leaveOneOut(ds.interactions);
  const items = ds.catalogue.items;
  const source = evidenceSource(items, split.train, ds.interactions.userIds);
  const ex = split.test[0]!;
  const list = { user: ds.interactions.userIds[ex.user]!, history: ex.history, candidates: [ex.target, ...items.slice(0, 9).map((i) => i.index).filter((i) => i !== ex.target)].slice(0, 10) };
  const ctx = { items, sidOf: (i: number) => `<s_${i}>`, evidence: { source, set: "all" as const } };
  const p = await buildRerankPrompt(ctx, list, { format: "labels", maxHistory: 5 });
  const text = p.messages[1]!.content;
  const expected = candidateEvidence(source, p.history, list.candidates);
  assert.deepEqual(p.evidence, expected);
  list.candidates.forEach((c, u) => assert.ok(text.includes(`<s_${c}> ${String.fromCharCode(65 + u)}: `) && text.includes(evidenceClause(expected[u]!, "all")), `candidate ${u}`));
  assert.match(text, /co-bought = customers who bought/);
  // No evidence set: no evidence lines and the prompt is unchanged otherwise.
  const none = await buildRerankPrompt({ ...ctx, evidence: { source, set: "none" } }, list, { format: "labels", maxHistory: 5 });
  assert.equal(none.evidence, null);
  assert.doesNotMatch(none.messages[1]!.content, /co-bought/);
  // The direct policy's SIDs-only prompt carries the compact form.
  const direct = await buildRerankPrompt(ctx, list, { format: "labels", layout: "sids", maxHistory: 5 });
  assert.ok(direct.messages[1]!.content.includes(`A${evidenceMark(expected[0]!, "all")}<s_${list.candidates[0]}>${evidenceSuffix(expected[0]!, "all")}`));
  // A list inside the train prefix withholds its own target's purchase.
  const seq = split.train[0]!;
  const inside = { user: ds.interactions.userIds[0]!, history: seq.slice(0, 2), candidates: [seq[2]!, ...list.candidates.filter((c) => c !== seq[2]).slice(0, 9)] };
  const withheld = listEvidence(source, inside);
  const naive = candidateEvidence(source, inside.history, inside.candidates);
  assert.ok(withheld[0]!.popularity === naive[0]!.popularity - 1, "the target's own purchase is not counted");
});

test("the ranked set shows each candidate's rank under the fitted scorer, which never reads that rank", async () => {
  const { lists, src } = plantedLists(300, 1);
  const scorer = EvidenceScorer.fit(src, lists.slice(0, 200), "ranked");
  assert.deepEqual(scorer.model.features, featureNames("all"), "the same features as `all`: the rank is not one");
  const list = lists[250]!;
  const ev = listEvidence(src, list);
  const ranked = withScoreRanks(scorer.model, ev);
  const s = scoreEvidence(scorer.model, ev);
  const order = ranked.map((e, i) => i).sort((a, b) => ranked[a]!.scoreRank! - ranked[b]!.scoreRank!);
  assert.deepEqual(ranked.map((e) => e.scoreRank).sort((a, b) => a! - b!), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (let r = 1; r < order.length; r++) assert.ok(s[order[r - 1]!]! >= s[order[r]!]!, "rank follows the score");
  assert.deepEqual(Array.from(scoreEvidence(scorer.model, ranked)), Array.from(s), "the scorer ignores the rank it produced");
  // Ties keep the incoming order.
  const flat = { ...scorer.model, weights: scorer.model.weights.map(() => 0) };
  assert.deepEqual(withScoreRanks(flat, ev).map((e) => e.scoreRank), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // Rendered first, in both layouts' forms; other sets never show it.
  const top = ranked[order[0]!]!;
  assert.match(evidenceSuffix(top, "ranked"), /^\(r1,\d+!?,[hml]c?b?\)$/);
  assert.match(evidenceClause(top, "ranked"), /^evidence rank: 1 \| co-bought: /);
  assert.doesNotMatch(evidenceSuffix(top, "all"), /r1/);
  // A prompt shows it only with the scorer's weights, and says so when they are missing.
  const items = Array.from({ length: 60 }, (_, i) => item(i, `b${i % 5}`, `c${i % 4}`));
  const ctx = { items, sidOf: (i: number) => `<s_${i}>`, evidence: { source: src, set: "ranked" as const } };
  await assert.rejects(buildRerankPrompt(ctx, list, { format: "labels", layout: "sids" }), /"ranked" evidence set needs the evidence scorer's weights/);
  const p = await buildRerankPrompt({ ...ctx, evidence: { ...ctx.evidence, scorer: scorer.model } }, list, { format: "labels", layout: "sids" });
  assert.deepEqual(p.evidence!.map((e) => e.scoreRank), ranked.map((e) => e.scoreRank));
  assert.ok(p.messages[1]!.content.includes(`<s_${list.candidates[order[0]!]}>(r1,`), p.messages[1]!.content);
});

test("the teacher's answer: its first picks, then the others in the order shown", () => {
  assert.deepEqual(answerOrder([3, 1, 0, 2, 4], 2), [3, 1, 0, 2, 4]);
  assert.deepEqual(answerOrder([4, 2, 3, 0, 1], 2), [4, 2, 0, 1, 3]);
  assert.deepEqual(answerOrder([4, 2, 3, 0, 1], 1), [4, 0, 1, 2, 3]);
  // Shown in another order (a shuffled prompt): the rest follow it.
  assert.deepEqual(answerOrder([4, 2, 3, 0, 1], 1, [3, 2, 1, 0, 4]), [4, 3, 2, 1, 0]);
  assert.deepEqual(answerOrder([1, 0], 5), [1, 0], "a head longer than the list is the whole order");
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { leaveOneOut } from "../../src/data/split.js";
import { Rng } from "../../src/data/rng.js";
import type { Item } from "../../src/data/types.js";
import { mineComplements } from "../../src/prompt/complements.js";
import { sanitizeRationale } from "../../src/prompt/output-format.js";
import { buildRerankPrompt, type PromptContext } from "../../src/prompt/rerank-prompt.js";
import { parseSid } from "../../src/sid/sidmap.js";
import { EvidenceTeacher, renderFact, type EvidenceContext, type EvidenceTrace, type Fact } from "../../src/teacher/evidence-teacher.js";
import { plackettLuceLogProb, samplePlackettLuce } from "../../src/teacher/plackett-luce.js";
import type { TeacherList, TraceMode } from "../../src/teacher/teacher.js";
import { TrainIndex } from "../../src/rank/evidence/train-index.js";
import { makeLists, makeSidMap, makeWorld, type World } from "../prompt/helpers.js";

const cat = (it: Item) => it.categories.join(" > ");

/**
 * Checks one fact against the raw data, recomputing everything from the train sequences
 * directly (not through TrainIndex or the complement miner), so a bug there cannot hide here.
 */
function checkFact(f: Fact, env: { items: readonly Item[]; train: readonly (readonly number[])[]; recent: number[]; anchors: number[]; candidates: number[]; sidOf: (i: number) => string }): void {
  const idx = new Map(env.items.map((it, i) => [it.id, i]));
  const item = (id: string) => {
    const i = idx.get(id);
    assert.ok(i !== undefined, `fact names unknown item ${id}`);
    return i;
  };
  const ids = (xs: number[]) => xs.map((i) => env.items[i]!.id);
  const where = JSON.stringify(f);
  switch (f.kind) {
    case "history_category":
      assert.equal(f.of, env.recent.length, where);
      assert.deepEqual(f.items, ids(env.recent.filter((i) => cat(env.items[i]!) === f.category)), where);
      return;
    case "history_brand":
      assert.equal(f.of, env.recent.length, where);
      assert.deepEqual(f.items, ids(env.recent.filter((i) => env.items[i]!.brand === f.brand)), where);
      return;
    case "category_overlap": {
      const c = item(f.item);
      assert.ok(env.candidates.includes(c), where);
      assert.equal(cat(env.items[c]!), f.category, where);
      assert.deepEqual(f.history, ids(env.recent.filter((i) => cat(env.items[i]!) === f.category)), where);
      assert.ok(f.history.length > 0, where);
      return;
    }
    case "brand_overlap": {
      const c = item(f.item);
      assert.equal(env.items[c]!.brand, f.brand, where);
      assert.deepEqual(f.history, ids(env.recent.filter((i) => env.items[i]!.brand === f.brand)), where);
      assert.ok(f.history.length > 0, where);
      return;
    }
    case "co_purchase": {
      const c = item(f.item);
      const a = item(f.after);
      assert.ok(env.anchors.includes(a), `${where}: anchor is one of the last items`);
      const users = env.train.filter((s) => s.some((x, t) => x === a && s.slice(t + 1, t + 1 + f.window).includes(c))).length;
      assert.equal(f.users, users, where);
      assert.ok(users > 0, where);
      return;
    }
    case "complement": {
      const c = item(f.item);
      assert.equal(cat(env.items[c]!), f.to, where);
      assert.deepEqual(f.history, ids(env.recent.filter((i) => cat(env.items[i]!) === f.from)), where);
      assert.ok(f.history.length > 0 && f.from !== f.to, where);
      let n = 0, out = 0, inn = 0, total = 0;
      for (const s of env.train) {
        for (let t = 1; t < s.length; t++) {
          const x = cat(env.items[s[t - 1]!]!), y = cat(env.items[s[t]!]!);
          total++;
          if (x === f.from) out++;
          if (y === f.to) inn++;
          if (x === f.from && y === f.to) n++;
        }
      }
      assert.equal(f.count, n, where);
      assert.ok(Math.abs(f.lift - n / out / (inn / total)) < 0.006, `${where}: lift ${n / out / (inn / total)}`);
      return;
    }
    case "sid_prefix": {
      const a = parseSid(env.sidOf(item(f.item)));
      const b = parseSid(env.sidOf(item(f.other)));
      assert.ok(env.recent.includes(item(f.other)), where);
      let n = 0;
      while (n < a.length && a[n] === b[n]) n++;
      assert.equal(f.length, n, where);
      assert.equal(f.prefix, a.slice(0, n).map((code, l) => `<s_${String.fromCharCode(97 + l)}_${code}>`).join(""), where);
      return;
    }
    case "popularity": {
      const count = (i: number) => env.train.reduce((s, seq) => s + seq.filter((x) => x === i).length, 0);
      const c = item(f.item);
      const counts = env.candidates.map(count);
      assert.equal(f.count, count(c), where);
      assert.equal(f.of, env.candidates.length, where);
      assert.equal(f.rank, 1 + counts.filter((x) => x > f.count).length, where);
      assert.equal(f.tied, counts.filter((x) => x === f.count).length > 1, where);
      return;
    }
    case "upstream": {
      assert.equal(f.position, env.candidates.indexOf(item(f.item)) + 1, where);
      assert.equal(f.of, env.candidates.length, where);
      return;
    }
    case "no_link": {
      const c = item(f.item);
      const it = env.items[c]!;
      assert.ok(!env.recent.some((h) => cat(env.items[h]!) === cat(it) && cat(it) !== ""), where);
      assert.ok(!env.recent.some((h) => it.brand !== undefined && env.items[h]!.brand === it.brand), where);
      for (const a of env.anchors) assert.ok(!env.train.some((s) => s.some((x, t) => x === a && s.slice(t + 1, t + 4).includes(c))), `${where}: no co-purchase`);
      return;
    }
  }
}

/** Checks a whole trace: every sentence is its facts' rendering (or the ranking), every fact is true. */
function checkTrace(w: { context: EvidenceContext; train: readonly (readonly number[])[] }, list: TeacherList, shownHistory: number[], ev: EvidenceTrace, explanation: string, ranking: number[], shownOrder: readonly number[], labels?: readonly string[]): void {
  const items = w.context.items;
  const idx = new Map(items.map((it, i) => [it.id, i]));
  const sidOfId = (id: string) => w.context.sidOf(idx.get(id)!);
  const recent = shownHistory.slice(-5);
  const anchors = recent.slice(-3);
  assert.deepEqual(ev.recent, recent.map((i) => items[i]!.id), "evidence compares with the shown history's last 5 items");
  assert.deepEqual(ev.anchors, anchors.map((i) => items[i]!.id));
  assert.equal(explanation, sanitizeRationale(ev.sentences.map((s) => s.text).join(" ")));
  const [pattern, ...rest] = ev.sentences;
  const selection = rest.pop()!;
  if (pattern!.facts.length > 0) assert.equal(pattern!.text, `Step 1, pattern: ${pattern!.facts.map((f) => renderFact(f, sidOfId)).join("; ")}.`);
  else assert.match(pattern!.text, /^Step 1, pattern: (there are no earlier purchases to compare with|the recent purchases are .*)\.$/);
  // The labels format cites a candidate by its SID, then its letter in the prompt.
  const top = ranking.slice(0, rest.length).map((u) => w.context.sidOf(list.candidates[u]!) + (labels ? ` ${labels[u]}` : ""));
  rest.forEach((s, j) => {
    const clauses = s.facts.map((f, k) => (k === 0 ? renderFact(f, sidOfId) : `it ${renderFact(f, sidOfId)}`)).join("; ");
    assert.equal(s.text, `${j === 0 ? "Step 2, matching: " : ""}${top[j]} ${clauses}.`);
    assert.ok(s.facts.every((f) => !("item" in f) || f.item === items[list.candidates[ranking[j]!]!]!.id), "a candidate's sentence states facts about that candidate only");
    // Popularity, then the upstream place close every sentence, unless the prompt shuffled the candidates.
    const upstreamShown = shownOrder.every((u, i) => u === i);
    assert.deepEqual(s.facts.slice(upstreamShown ? -2 : -1).map((f) => f.kind), upstreamShown ? ["popularity", "upstream"] : ["popularity"]);
  });
  assert.equal(selection.facts.length, 0);
  assert.equal(selection.text, `Step 3, selection: ${top[0]} first${top.length > 1 ? `, then ${top.length === 2 ? top[1] : `${top[1]} and ${top[2]}`}` : ""}${ranking.length > top.length ? "; the other candidates follow in the order shown" : ""}.`);
  // The teacher orders what it explains; the rest keep the order the prompt shows.
  assert.deepEqual(ranking.slice(top.length), shownOrder.filter((u) => !ranking.slice(0, top.length).includes(u)));
  for (const s of ev.sentences) for (const f of s.facts) checkFact(f, { items, train: w.train, recent, anchors, candidates: [...list.candidates], sidOf: w.context.sidOf });
}

function teacherFor(world: World, o: ConstructorParameters<typeof EvidenceTeacher>[1] = {}) {
  const items = world.dataset.catalogue.items;
  const context: EvidenceContext = { items, sidOf: world.context.sidOf, train: TrainIndex.build(world.split.train, items.length), complements: world.complements };
  return { teacher: new EvidenceTeacher(context, o), context };
}

test("every stated fact is true of the train data, and every sentence is only its facts (targeted and rejection)", async () => {
  const world = makeWorld(120, 150, 7);
  const { teacher, context } = teacherFor(world, { temperature: 1, seed: 3 });
  const lists = makeLists(world.split.valid, world.dataset.catalogue.items.length, world.dataset.interactions.userIds, "valid");
  const kinds = new Set<string>();
  for (const mode of ["targeted", "rejection"] as TraceMode[]) {
    for (const [n, list] of lists.entries()) {
      // Every third prompt shuffles its candidates: then the upstream place may not be cited.
      // Every other one asks for the labels format: candidates cited by letter and SID.
      const shuffleSeed = n % 3 === 2 ? n : undefined;
      const format = n % 2 === 1 ? "labels" : "json";
      const prompt = await buildRerankPrompt(world.context, list, { format, maxHistory: mode === "targeted" ? 20 : 4, shuffleSeed });
      const [a] = await teacher.attempts({ list, prompt, teacherPrompt: prompt, mode, attempt: 0, count: 1 });
      assert.ok(a!.parsed.ok, a!.raw);
      if (mode === "targeted") assert.equal(a!.parsed.ranking[0], list.candidates.indexOf(list.target));
      assert.ok(!a!.raw.includes("actually bought") && !/target/i.test(a!.raw), "the rationale never refers to the hidden target");
      checkTrace({ context, train: world.split.train }, list, prompt.history, a!.evidence!, a!.parsed.explanation, a!.parsed.ranking, prompt.shownOrder, format === "labels" ? prompt.candidateNames : undefined);
      if (format === "labels") assert.match(a!.raw, /\nRanking:( [A-J]){10}$/);
      for (const s of a!.evidence!.sentences) for (const f of s.facts) kinds.add(f.kind);
    }
  }
  for (const k of ["history_category", "history_brand", "category_overlap", "brand_overlap", "co_purchase", "complement", "sid_prefix", "popularity", "upstream", "no_link"]) {
    assert.ok(kinds.has(k), `the data exercises fact kind ${k}`);
  }
});

test("SIDs-only prompts: the rationale cites candidates letter first and opens with the matching step", async () => {
  const world = makeWorld(120, 150, 7);
  const { teacher } = teacherFor(world, { temperature: 1, seed: 3, explain: 2 });
  const lists = makeLists(world.split.valid, world.dataset.catalogue.items.length, world.dataset.interactions.userIds, "valid").slice(0, 12);
  for (const list of lists) {
    const prompt = await buildRerankPrompt(world.context, list, { format: "labels", layout: "brief", maxHistory: 4 });
    const [a] = await teacher.attempts({ list, prompt, teacherPrompt: prompt, mode: "rejection", attempt: 0, count: 1 });
    assert.ok(a!.parsed.ok, a!.raw);
    const [first, second] = a!.parsed.ranking;
    // The letter alone: the prompt shows each letter beside its SID.
    const cite = (u: number) => prompt.candidateNames[u]!;
    const sentences = a!.evidence!.sentences.map((s) => s.text);
    // The first pick is the answer's first choice, right after a fixed lead, as in the prompt's `F*<sid>` order.
    assert.ok(sentences[0]!.startsWith(`Step 1, matching: ${cite(first!)} `), sentences[0]);
    assert.ok(!sentences[0]!.startsWith(`Step 1, matching: ${cite(first!)} ${world.context.sidOf(list.candidates[first!]!)}`), sentences[0]);
    assert.ok(sentences[1]!.startsWith(`${cite(second!)} `), sentences[1]);
    assert.match(sentences[2]!, /^Step 2, pattern: /);
    // No selection step: the ranking line says it.
    assert.equal(sentences.length, 3);
    assert.doesNotMatch(a!.raw, /Step 3/);
    assert.ok(a!.raw.startsWith(`Step 1, matching: ${prompt.candidateNames[first!]} `));
    assert.match(a!.raw, new RegExp(`\\nRanking: ${prompt.candidateNames[first!]}( [A-J]){9}$`));
  }
});

test("only the train split is cited: co-purchases, complements and popularity that exist only in valid/test positions are not", async () => {
  // Categories: h in "Hair > Shampoo", c in "Hair > Conditioner", d in "Skin > Serum", fillers in "Nails".
  const mk = (index: number, title: string, categories: string[], brand: string): Item => ({ index, id: `i${index}`, title, categories, brand });
  const items: Item[] = [
    mk(0, "Shampoo H", ["Hair", "Shampoo"], "B1"),
    mk(1, "Conditioner C", ["Hair", "Conditioner"], "B2"),
    mk(2, "Serum D", ["Skin", "Serum"], "B3"),
    ...Array.from({ length: 12 }, (_, k) => mk(3 + k, `Polish ${k}`, ["Nails", "Polish"], `N${k}`)),
  ];
  // h → c happens only at (valid, test) positions: s[n-2] = h, s[n-1] = c. h → d happens in train.
  const sequences = [
    [3, 4, 0, 1], // train [3, 4]; valid 0; test 1
    [5, 6, 7, 0, 1], // train [5, 6, 7]; valid 0; test 1
    [8, 0, 1], // train [8]; valid 0; test 1
    [0, 2, 9, 10, 11], // train [0, 2, 9]: h → d, the only real co-purchase
    [12, 13, 14, 3, 5],
  ];
  const split = leaveOneOut({ userIds: sequences.map((_, u) => `u${u}`), sequences });
  for (const s of split.train) assert.ok(!s.some((x, t) => x === 0 && s[t + 1] === 1), "h → c is not in the train split");
  const dataset = { catalogue: { name: "toy", items }, interactions: { userIds: [], sequences }, report: { files: [], skipped: {}, notes: [] } };
  const sids = makeSidMap(dataset);
  const complements = mineComplements(split.train, items, { minCount: 1, minLift: 0 });
  const world = { dataset, split, sids, complements, context: { items, sidOf: (i: number) => sids.sidOf(i), complements } as PromptContext } as World;
  const { teacher, context } = teacherFor(world);
  // A list whose history ends with h and whose candidates hold c (leaky) and d (real).
  const list = { user: "u9", split: "test", history: [12, 0], candidates: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], target: 1 };
  const prompt = await buildRerankPrompt(world.context, list, { format: "compact" });
  const [a] = await teacher.attempts({ list, prompt, teacherPrompt: prompt, mode: "targeted", attempt: 0, count: 1 });
  assert.ok(a!.parsed.ok);
  const facts = a!.evidence!.sentences.flatMap((s) => s.facts);
  const aboutC = facts.filter((f) => "item" in f && f.item === "i1");
  assert.ok(!aboutC.some((f) => f.kind === "co_purchase" || f.kind === "complement"), JSON.stringify(aboutC));
  assert.deepEqual(aboutC.find((f) => f.kind === "popularity"), { kind: "popularity", item: "i1", count: 0, rank: 9, of: 10, tied: true }, "c was never bought in train (nor was i10)");
  assert.ok(!a!.raw.includes("by 1 training user") || facts.some((f) => f.kind === "co_purchase" && f.item === "i2"));
  checkTrace({ context, train: split.train }, list, prompt.history, a!.evidence!, a!.parsed.explanation, a!.parsed.ranking, prompt.shownOrder);
  // The real train co-purchase (h → d) is found and stated when d is explained.
  const ev = (await teacher.attempts({ list: { ...list, target: 2 }, prompt, teacherPrompt: prompt, mode: "targeted", attempt: 0, count: 1 }))[0]!.evidence!;
  const dFacts = ev.sentences.flatMap((s) => s.facts).filter((f) => "item" in f && f.item === "i2");
  assert.deepEqual(dFacts.find((f) => f.kind === "co_purchase"), { kind: "co_purchase", item: "i2", after: "i0", users: 1, window: 3 });
  assert.ok(dFacts.some((f) => f.kind === "complement" && f.from === "Hair > Shampoo" && f.count === 1));
});

test("Plackett–Luce: τ = 0 sorts, sampling is seeded, first picks follow softmax(score/τ)", () => {
  const scores = [0.5, 2, 1, 0];
  assert.deepEqual(samplePlackettLuce(scores, 0, new Rng(1)), [1, 2, 0, 3]);
  assert.deepEqual(samplePlackettLuce([1, 1, 0], 0, new Rng(1)), [0, 1, 2], "ties keep upstream order");
  assert.deepEqual(samplePlackettLuce(scores, 1, new Rng(9)), samplePlackettLuce(scores, 1, new Rng(9)));
  const rng = new Rng(4);
  const n = 20_000;
  const first = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) first[samplePlackettLuce(scores, 1, rng)[0]!]!++;
  const z = scores.reduce((s, x) => s + Math.exp(x), 0);
  scores.forEach((s, i) => assert.ok(Math.abs(first[i]! / n - Math.exp(s) / z) < 0.015, `item ${i}: ${first[i]! / n} vs ${Math.exp(s) / z}`));
  // The log-probabilities of all 6 rankings of 3 items sum to 1.
  const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const total = perms.reduce((s, p) => s + Math.exp(plackettLuceLogProb([0.3, -1, 2], p, 0.7)), 0);
  assert.ok(Math.abs(total - 1) < 1e-12);
});

test("train index: popularity and co-purchase users within the window", () => {
  const idx = TrainIndex.build([[0, 1, 2, 3, 4], [1, 0, 1], [0, 4]], 5, { window: 2 });
  assert.deepEqual([...idx.popularity], [3, 3, 1, 1, 2]);
  assert.equal(idx.coPurchase(0, 1), 2, "two users have 1 within 2 after 0 (the second user twice, counted once)");
  assert.equal(idx.coPurchase(0, 2), 1);
  assert.equal(idx.coPurchase(0, 3), 0, "3 is 3 positions after 0: outside the window");
  assert.equal(idx.coPurchase(0, 4), 1);
  assert.throws(() => TrainIndex.build([[7]], 5), /outside/);
});

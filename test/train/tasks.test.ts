import { test } from "node:test";
import assert from "node:assert/strict";
import { leaveOneOut } from "../../src/data/split.js";
import { itemText } from "../../src/data/text.js";
import { Rng } from "../../src/util/rng.js";
import {
  CandidatesTask,
  CaptionTask,
  DEFAULT_MIXTURE,
  FRAGMENTS,
  GeneralTextTask,
  MidtrainCorpus,
  PersonaTask,
  SequentialTask,
  TaskContext,
  TaskSampler,
  TrainPositions,
  packRow,
  parseMixture,
  rowsToBatch,
  type TaskExample,
} from "../../src/train/midtrain-tasks.js";
import { fixture, heldOutFixture } from "./tasks-fixture.test.js";

const contains = (hay: readonly number[], needle: readonly number[]) => {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
};

test("sequential: history SIDs → the next item's SID, from the train prefixes only", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const ctx = await TaskContext.create(ds, sidMap, tokenizer);
  const split = leaveOneOut(ds.interactions, { skipShortUsers: true });
  const positions = new TrainPositions(split.train);
  const task = new SequentialTask(ctx, positions, 4);
  assert.equal(task.size, split.train.reduce((a, p) => a + Math.max(0, p.length - 1), 0));
  for (let i = 0; i < task.size; i += 7) {
    const { prompt, target } = task.example(i);
    const { user, history, target: item } = positions.at(i, 4);
    const prefix = split.train[user]!;
    const k = prefix.indexOf(item);
    assert.ok(k >= 1, "the target sits inside the user's train prefix, after at least one item");
    assert.deepEqual(history, prefix.slice(Math.max(0, k - 4), k), "history is the (last 4) items before it");
    // The answer spells exactly the next item's SID, then end-of-text.
    assert.equal(tokenizer.decodeSync(target), sidMap.sidOf(item) + "<|endoftext|>");
    assert.equal(tokenizer.decodeSync(prompt), FRAGMENTS.history + history.map((h) => sidMap.sidOf(h)).join("") + FRAGMENTS.next);
  }
});

test("no valid or test target appears in any history-based training example", async () => {
  const { ds, tokenizer, sidMap, heldOut } = heldOutFixture();
  const ctx = await TaskContext.create(ds, sidMap, tokenizer);
  const split = leaveOneOut(ds.interactions);
  for (const e of [...split.valid, ...split.test]) assert.ok(heldOut.has(e.target), "fixture: held-out targets");
  const positions = new TrainPositions(split.train);
  const heldSids = [...heldOut].map((i) => ctx.sids[i]!);
  for (const task of [new SequentialTask(ctx, positions, 50), new PersonaTask(ctx, positions, 50), new CandidatesTask(ctx, positions, 50, 4)]) {
    assert.ok(task.size > 0);
    for (let i = 0; i < task.size; i++) {
      const { prompt, target } = task.example(i);
      for (const sid of heldSids) assert.ok(!contains(prompt, sid) && !contains(target, sid), `${task.name} example ${i} leaks a held-out item`);
    }
  }
});

test("candidates: history + K shuffled SIDs with the next item → the next item first, then every other candidate in the order shown", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const ctx = await TaskContext.create(ds, sidMap, tokenizer);
  const split = leaveOneOut(ds.interactions, { skipShortUsers: true });
  const positions = new TrainPositions(split.train);
  const task = new CandidatesTask(ctx, positions, 4, 5);
  assert.equal(task.size, positions.size);
  const firstShown = new Map<number, number>();
  for (let i = 0; i < task.size; i += 3) {
    const { history, shown, answer } = task.lists(i);
    const { target: item, history: h } = positions.at(i, 4);
    assert.deepEqual(history, h);
    assert.equal(shown.length, 5);
    assert.equal(new Set(shown).size, 5, "distinct candidates");
    assert.equal(answer[0], item, "the next item first");
    assert.deepEqual(answer.slice(1), shown.filter((c) => c !== item), "then the others, as shown");
    const pos = shown.indexOf(item);
    firstShown.set(pos, (firstShown.get(pos) ?? 0) + 1);
    const { prompt, target } = task.example(i);
    const sid = (x: number) => sidMap.sidOf(x);
    assert.equal(tokenizer.decodeSync(prompt), FRAGMENTS.history + history.map(sid).join("") + FRAGMENTS.candidates + shown.map(sid).join("") + FRAGMENTS.ranking);
    assert.equal(tokenizer.decodeSync(target), answer.map(sid).join("") + "<|endoftext|>");
    assert.deepEqual(task.example(i), { prompt, target }, "a pure function of i");
  }
  // The next item sits anywhere in the shown list: no position to learn instead of the item.
  assert.equal(firstShown.size, 5, JSON.stringify([...firstShown]));
});

test("captioning: SID → item text and item text → SID, for every item", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const ctx = await TaskContext.create(ds, sidMap, tokenizer);
  const task = new CaptionTask(ctx);
  assert.equal(task.size, 2 * ds.catalogue.items.length);
  for (const item of [0, 5, ds.catalogue.items.length - 1]) {
    const text = itemText(ds.catalogue.items[item]!);
    const fwd = task.example(2 * item);
    assert.equal(tokenizer.decodeSync(fwd.prompt), FRAGMENTS.item + sidMap.sidOf(item) + FRAGMENTS.is);
    assert.equal(tokenizer.decodeSync(fwd.target), text + "<|endoftext|>");
    const rev = task.example(2 * item + 1);
    assert.equal(tokenizer.decodeSync(rev.prompt), FRAGMENTS.sidOf + text + FRAGMENTS.sidOfEnd);
    assert.equal(tokenizer.decodeSync(rev.target), sidMap.sidOf(item) + "<|endoftext|>");
  }
});

test("persona: a persona line, SIDs interleaved with titles, then the next SID", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const ctx = await TaskContext.create(ds, sidMap, tokenizer);
  const positions = new TrainPositions(leaveOneOut(ds.interactions, { skipShortUsers: true }).train);
  const task = new PersonaTask(ctx, positions, 3);
  const i = positions.ks.findIndex((k) => k >= 3);
  const { history, target } = positions.at(i, 3);
  const ex = task.example(i);
  const text = tokenizer.decodeSync(ex.prompt);
  assert.ok(text.startsWith(FRAGMENTS.likes), text);
  const categories = history.map((h) => ds.catalogue.items[h]!.categories.join(" > "));
  assert.ok(categories.some((c) => text.includes(c)), "names a category of the history");
  let at = text.indexOf(FRAGMENTS.likesEnd);
  for (const h of history) {
    const next = text.indexOf(sidMap.sidOf(h) + " " + ds.catalogue.items[h]!.title.slice(0, 8), at);
    assert.ok(next > at, `item ${h}'s SID then its title, in order: ${text}`);
    at = next;
  }
  assert.ok(text.endsWith(FRAGMENTS.next));
  assert.equal(tokenizer.decodeSync(ex.target), sidMap.sidOf(target) + "<|endoftext|>");
});

test("general text: one item's catalogue text after end-of-text", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const ctx = await TaskContext.create(ds, sidMap, tokenizer);
  const ex = new GeneralTextTask(ctx).example(3);
  assert.deepEqual(ex.prompt, [ctx.eos]);
  assert.equal(tokenizer.decodeSync(ex.target), itemText(ds.catalogue.items[3]!) + "<|endoftext|>");
});

test("packing: rows are full, targets only on target tokens, never across a boundary", () => {
  const ex: TaskExample = { prompt: [1, 2, 3], target: [7, 8] };
  const row = packRow(() => ex, 12);
  assert.deepEqual([...row.tokens], [1, 2, 3, 7, 8, 1, 2, 3, 7, 8, 1, 7], "the last example keeps its head when its target cannot fit");
  const b = rowsToBatch([row]);
  assert.deepEqual(b.ids.toArray(), [1, 2, 3, 7, 8, 1, 2, 3, 7, 8, 1]);
  assert.deepEqual(b.targets.toArray(), [-100, -100, 7, 8, -100, -100, -100, 7, 8, -100, 7]);
  // When the target fits, the prompt loses its oldest tokens instead.
  const left = packRow((j) => (j === 0 ? { prompt: [1, 2, 3, 4, 5, 6], target: [9] } : { prompt: [1, 2, 3], target: [7, 8] }), 11);
  assert.deepEqual([...left.tokens], [1, 2, 3, 4, 5, 6, 9, 2, 3, 7, 8]);
  assert.deepEqual([...left.isTarget], [0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1]);
  b.ids.dispose();
  b.targets.dispose();
});

test("corpus batches: full rows, masks cover exactly the targets, deterministic in (seed, step, micro)", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const corpus = await MidtrainCorpus.create(ds, sidMap, tokenizer, { maxHistory: 6 });
  const shape = { batch: 4, seqLen: 96, seed: 3 };
  const pad = tokenizer.requireId("<|pad|>");
  for (let r = 0; r < 4; r++) {
    const row = corpus.row(shape, 2, 0, r);
    assert.equal(row.tokens.length, 97);
    assert.ok(!row.tokens.includes(pad), "no padding");
    assert.ok(row.examples >= 2, "several examples per row");
  }
  const a = corpus.batch(shape, 5, 1);
  const b = corpus.batch(shape, 5, 1);
  const c = corpus.batch(shape, 6, 1);
  assert.deepEqual(a.ids.toArray(), b.ids.toArray());
  assert.deepEqual(a.targets.toArray(), b.targets.toArray());
  assert.notDeepEqual(a.ids.toArray(), c.ids.toArray());
  // Every kept target is the next input token; and the row's target tokens are exactly the kept ones.
  const ids = a.ids.toArray();
  const targets = a.targets.toArray();
  for (let r = 0; r < 4; r++) {
    const row = corpus.row(shape, 5, 1, r);
    for (let t = 0; t < 96; t++) {
      const kept = targets[r * 96 + t]! !== -100;
      assert.equal(kept, row.isTarget[t + 1] === 1);
      if (kept) assert.equal(targets[r * 96 + t], row.tokens[t + 1]);
      assert.equal(ids[r * 96 + t], row.tokens[t]);
    }
  }
  for (const t of [a, b, c]) (t.ids.dispose(), t.targets.dispose());
});

test("mixture: ratios are honoured, parsed from flags, and tasks without examples drop out", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const corpus = await MidtrainCorpus.create(ds, sidMap, tokenizer);
  const rng = new Rng(1);
  const counts = new Map<string, number>();
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const name = corpus.sampler.pick(rng).name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const [name, w] of Object.entries(DEFAULT_MIXTURE)) assert.ok(Math.abs(counts.get(name)! / n - w) < 0.015, `${name}: ${counts.get(name)! / n} vs ${w}`);
  assert.deepEqual(parseMixture("sequential=0.7, caption=0.3"), { sequential: 0.7, candidates: 0, caption: 0.3, persona: 0, general: 0 });
  assert.throws(() => parseMixture("chat=1"), /unknown task "chat"/);
  assert.throws(() => parseMixture("general=-1"), /non-negative/);
  const only = new TaskSampler(Object.values(corpus.tasks), parseMixture("caption=2,general=2"));
  assert.deepEqual(only.ratios, { caption: 0.5, general: 0.5 });
});

test("caption texts are bounded: a catalogue with 2,000-word descriptions and very long titles costs what a plain one does", async () => {
  const { ds, tokenizer, sidMap } = fixture();
  const long = { ...ds, catalogue: { ...ds.catalogue, items: ds.catalogue.items.map((it) => ({ ...it, title: `${it.title} ${"extra long title words ".repeat(40)}`, description: "long description text ".repeat(700) })) } };
  const ctx = await TaskContext.create(long, sidMap, tokenizer);
  assert.ok(ctx.texts.every((t) => t.length <= 64), `longest caption ${Math.max(...ctx.texts.map((t) => t.length))} tokens`);
  assert.ok(ctx.titles.every((t) => t.length <= 16));
  // A text under the bound is kept whole.
  const plain = await TaskContext.create(ds, sidMap, tokenizer);
  for (const [i, t] of plain.texts.entries()) {
    const whole = await tokenizer.encode(itemText(ds.catalogue.items[i]!));
    assert.deepEqual(t, whole.slice(0, 64));
  }
});

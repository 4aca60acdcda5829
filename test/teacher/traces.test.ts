import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseRerankOutput } from "../../src/prompt/parse-output.js";
import { EvidenceTeacher } from "../../src/teacher/evidence-teacher.js";
import { LlmTeacher } from "../../src/teacher/llm-teacher.js";
import { ChatClient } from "../../src/teacher/openai-client.js";
import { readJsonLines } from "../../src/teacher/trace-file.js";
import { generateTraces, statsPathFor, type TraceRecord } from "../../src/teacher/traces.js";
import { TrainIndex } from "../../src/rank/evidence/train-index.js";
import { makeLists, makeWorld, tempDir } from "../prompt/helpers.js";
import { startFakeTeacher } from "./fake-teacher.js";

const world = makeWorld(120, 150, 7);
const items = world.dataset.catalogue.items;
const lists = makeLists(world.split.valid, items.length, world.dataset.interactions.userIds, "valid");
const evidence = (seed = 0) => new EvidenceTeacher({ items, sidOf: world.context.sidOf, train: TrainIndex.build(world.split.train, items.length), complements: world.complements }, { temperature: 1, seed });
const prompt = { context: world.context, options: { maxHistory: 10 } };
const read = (path: string) => readJsonLines<TraceRecord>(path).records;

test("unfiltered mode: every list keeps the teacher's own answer (at temperature 0 its best-scored candidate first), whether or not that is the target", async () => {
  const dir = tempDir("gr2-traces-");
  const teacher = new EvidenceTeacher({ items, sidOf: world.context.sidOf, train: TrainIndex.build(world.split.train, items.length), complements: world.complements }, { temperature: 0, seed: 0 });
  const r = await generateTraces({ lists, teacher, mode: "unfiltered", prompt, format: "json", out: join(dir, "u.jsonl") });
  const records = read(join(dir, "u.jsonl"));
  assert.equal(records.length, lists.length);
  assert.equal(r.stats.accepted, lists.length);
  assert.equal(r.stats.first_attempt_rate, 1);
  let missed = 0;
  for (const rec of records) {
    const list = lists.find((l) => l.user === rec.user)!;
    assert.equal(rec.mode, "unfiltered");
    assert.ok(rec.accepted && rec.attempts === 1);
    const scores = rec.evidence!.scores;
    const best = scores.indexOf(Math.max(...scores));
    assert.equal(rec.ranking![0], best, "the first pick is the teacher's best-scored candidate");
    assert.ok(!rec.messages.some((m) => m.content.includes("actually bought")), "the target stays hidden");
    if (rec.ranking![0] !== list.candidates.indexOf(list.target)) missed++;
  }
  // What rejection sampling would have dropped is kept: lists whose target the teacher misses.
  assert.ok(missed > 0, "some kept answers do not rank the target first");
});

test("rejection mode: accepted traces rank the target first; statistics add up; more attempts accept a superset", async () => {
  const dir = tempDir("gr2-traces-");
  const run = (maxAttempts: number) => generateTraces({ lists, teacher: evidence(), mode: "rejection", maxAttempts, prompt, format: "json", out: join(dir, `r${maxAttempts}.jsonl`) });
  const r4 = await run(4);
  const records = read(join(dir, "r4.jsonl"));
  assert.equal(records.length, lists.length);
  for (const rec of records) {
    const list = lists.find((l) => l.user === rec.user)!;
    const target = list.candidates.indexOf(list.target);
    assert.equal(rec.mode, "rejection");
    assert.equal(rec.teacher, "evidence");
    assert.equal(rec.samples, rec.attempts, "the evidence teacher draws one answer at a time");
    assert.ok(rec.attempts >= 1 && rec.attempts <= 4);
    assert.deepEqual(rec.failures, {});
    const parsed = parseRerankOutput(rec.response!, { format: "json", candidateSids: rec.candidate_sids });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.ranking, rec.ranking);
    assert.equal(rec.rank_re, rec.ranking!.indexOf(target) + 1);
    if (rec.accepted) assert.equal(rec.ranking![0], target);
    else {
      assert.equal(rec.attempts, 4);
      assert.notEqual(rec.ranking![0], target);
    }
    assert.ok(!rec.messages.some((m) => m.content.includes("actually bought")), "the target stays hidden");
    assert.equal(rec.teacher_messages, undefined, "the evidence teacher reads no prompt");
    assert.equal(rec.target, items[list.target]!.id);
    assert.equal(rec.rank_pre, list.rankPre);
    assert.ok(rec.evidence && rec.evidence.sentences.length >= 3);
  }
  const s = r4.stats;
  assert.equal(s.lists, lists.length);
  assert.equal(s.accepted, records.filter((r) => r.accepted).length);
  assert.equal(s.acceptance_rate, Math.round((s.accepted / s.lists) * 1e4) / 1e4);
  assert.equal(Object.values(s.attempts.histogram).reduce((a, b) => a + b, 0), lists.length);
  assert.equal(s.attempts.total, records.reduce((a, r) => a + r.attempts, 0));
  assert.equal(Object.values(s.by_rank_pre).reduce((a, b) => a + b.lists, 0), lists.length);
  assert.deepEqual(JSON.parse(readFileSync(statsPathFor(join(dir, "r4.jsonl")), "utf8")), s);
  // The evidence is informative on the planted catalogue: the first draw hits the target well above chance (1/10).
  assert.ok(s.first_attempt_rate > 0.15, `first-attempt hit rate ${s.first_attempt_rate}`);
  assert.ok(s.acceptance_rate > s.first_attempt_rate);
  // Attempt k uses the same seed in both runs, so every list accepted within 4 is accepted within 8, at the same attempt.
  const r8 = await run(8);
  const more = new Map(read(join(dir, "r8.jsonl")).map((r) => [r.user, r]));
  for (const rec of records.filter((r) => r.accepted)) {
    assert.ok(more.get(rec.user)!.accepted);
    assert.equal(more.get(rec.user)!.attempts, rec.attempts);
  }
  assert.ok(r8.stats.accepted >= r4.stats.accepted);
});

test("targeted mode: every list accepted at once with the target first", async () => {
  const dir = tempDir("gr2-traces-");
  const r = await generateTraces({ lists, teacher: evidence(), mode: "targeted", prompt: { ...prompt, shuffle: true, seed: 2 }, format: "compact", out: join(dir, "t.jsonl") });
  assert.equal(r.stats.acceptance_rate, 1);
  assert.equal(r.stats.attempts.mean, 1);
  assert.equal(r.stats.reordered, 0);
  for (const rec of read(join(dir, "t.jsonl"))) {
    assert.equal(rec.rank_re, 1);
    assert.equal(rec.reordered, false);
    assert.match(rec.response!, /\nRanking: (<\|sid_begin\|>.*?<\|sid_end\|>){10}$/);
    assert.notDeepEqual(rec.shown_order, rec.candidates.map((_, i) => i), "shuffled");
  }
});

test("resumable: lists already in the file are skipped, a torn last line is repaired, other runs' files are refused", async () => {
  const dir = tempDir("gr2-traces-");
  const out = join(dir, "resume.jsonl");
  const base = { teacher: evidence(), mode: "rejection" as const, maxAttempts: 2, prompt, format: "json" as const, out };
  const first = await generateTraces({ ...base, lists: lists.slice(0, 30) });
  assert.deepEqual([first.written, first.skipped], [30, 0]);
  appendFileSync(out, '{"user": "user-999", "spl'); // a crash mid-write
  assert.equal(readJsonLines(out).tornBytes > 0, true);
  const second = await generateTraces({ ...base, lists });
  assert.deepEqual([second.written, second.skipped], [90, 30]);
  const records = read(out);
  assert.equal(records.length, lists.length);
  assert.equal(new Set(records.map((r) => r.user)).size, lists.length);
  assert.equal(readJsonLines(out).tornBytes, 0);
  assert.equal(second.stats.lists, lists.length, "statistics cover the whole file");
  // Same seeds: a resumed run writes what one run would have.
  const fresh = join(dir, "fresh.jsonl");
  await generateTraces({ ...base, lists, out: fresh });
  const byUser = (rs: TraceRecord[]) => new Map(rs.map((r) => [r.user, JSON.stringify(r)]));
  assert.deepEqual(byUser(read(fresh)), byUser(records));
  const third = await generateTraces({ ...base, lists });
  assert.deepEqual([third.written, third.skipped], [0, lists.length]);
  await assert.rejects(generateTraces({ ...base, lists, mode: "targeted" }), /holds rejection traces by "evidence"; this run makes targeted traces/);
});

test("LLM teacher through the client: targeted reveal, reordering, fenced JSON, invalid answers, batches, cache", async () => {
  const server = await startFakeTeacher({ badEvery: 3 });
  const dir = tempDir("gr2-traces-");
  const cacheDir = join(dir, "cache");
  const teacher = (batch: number) => new LlmTeacher(new ChatClient({ baseUrl: server.url, model: "big-teacher", cacheDir, concurrency: 3, maxRetries: 0 }), { batch, temperature: 1, seed: 1 });
  const some = lists.slice(0, 12);

  const t = await generateTraces({ lists: some, teacher: teacher(1), mode: "targeted", maxAttempts: 3, prompt, format: "compact", out: join(dir, "llm-t.jsonl") });
  const tRecords = read(join(dir, "llm-t.jsonl"));
  for (const rec of tRecords) {
    assert.equal(rec.teacher, "openai:big-teacher");
    assert.ok(rec.teacher_messages!.at(-1)!.content.includes(`actually bought ${rec.candidate_sids[rec.candidates.indexOf(rec.target)]}`));
    assert.ok(rec.teacher_messages!.at(-1)!.content.includes('"recommendations"'), "the teacher is asked for JSON");
    assert.ok(!rec.messages.at(-1)!.content.includes("actually bought"), "the student's prompt hides the target");
    assert.ok(rec.messages.at(-1)!.content.includes("Ranking: "), "the student's prompt asks for the compact format");
    if (!rec.accepted) continue;
    assert.equal(rec.rank_re, 1);
    assert.equal(rec.reordered, true, "the fake teacher ranks the target second; the trace puts it first");
    assert.ok(rec.raw_response!.startsWith("```json"));
    const parsed = parseRerankOutput(rec.response!, { format: "compact", candidateSids: rec.candidate_sids });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.ranking, rec.ranking);
    assert.match(rec.explanation!, /^The history points to /);
  }
  assert.ok(t.stats.parse_failures.not_json! > 0, "invalid answers are counted");
  assert.equal(t.stats.reordered, t.stats.accepted);
  assert.ok(t.stats.acceptance_rate > 0.5);

  const requestsBefore = server.requests.length;
  const r = await generateTraces({ lists: some, teacher: teacher(3), mode: "rejection", maxAttempts: 7, prompt, format: "json", out: join(dir, "llm-r.jsonl") });
  for (const rec of read(join(dir, "llm-r.jsonl"))) {
    assert.equal(rec.teacher_messages, undefined, "rejection with the same format: the teacher reads the student's prompt");
    assert.ok(rec.samples >= rec.attempts && rec.samples <= 7);
    if (rec.accepted) assert.equal(rec.ranking![0], rec.candidates.indexOf(rec.target));
    else assert.equal(rec.attempts, 7);
  }
  const batches = server.requests.slice(requestsBefore);
  assert.ok(batches.every((q) => q.n <= 3));
  assert.equal(new Set(batches.map((q) => `${q.prompt}|${q.seed}`)).size, batches.length, "every batch has its own seed");
  assert.ok(r.stats.samples >= r.stats.attempts.total);

  // A re-run into a new file costs no request: every answer comes from the cache.
  const before = server.requests.length;
  const again = await generateTraces({ lists: some, teacher: teacher(3), mode: "rejection", maxAttempts: 7, prompt, format: "json", out: join(dir, "llm-r2.jsonl") });
  assert.equal(server.requests.length, before);
  assert.deepEqual(again.stats.attempts, r.stats.attempts);
  assert.ok(existsSync(cacheDir));
});

test("a student in a SIDs-only layout: the LLM teacher still reads the full layout with item text", async () => {
  const server = await startFakeTeacher();
  const dir = tempDir("gr2-traces-");
  const teacher = new LlmTeacher(new ChatClient({ baseUrl: server.url, model: "big-teacher", cacheDir: join(dir, "cache"), concurrency: 2, maxRetries: 0 }), { batch: 2, temperature: 1, seed: 1 });
  await generateTraces({ lists: lists.slice(0, 4), teacher, mode: "rejection", maxAttempts: 4, prompt: { ...prompt, options: { ...prompt.options, layout: "brief" } }, format: "labels", out: join(dir, "brief.jsonl") });
  const records = read(join(dir, "brief.jsonl"));
  assert.equal(records.length, 4);
  for (const rec of records) {
    const student = rec.messages.at(-1)!.content;
    const teacherPrompt = rec.teacher_messages!.at(-1)!.content;
    assert.match(student, /^History, oldest first: /, "the student's prompt is the SIDs-only one");
    assert.match(teacherPrompt, /Purchase history/, "the teacher's prompt is the full layout");
    const firstCandidate = items.find((it) => it.id === rec.candidates[0])!;
    assert.ok(teacherPrompt.includes(firstCandidate.title) && !student.includes(firstCandidate.title), "item titles for the teacher only");
    if (rec.accepted) assert.match(rec.response!, /\nRanking:( [A-J]){10}$/);
  }
});

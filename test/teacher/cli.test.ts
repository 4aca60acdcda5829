import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tracesCommand } from "../../src/cli/traces.js";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { leaveOneOut } from "../../src/data/split.js";
import { parseRerankOutput } from "../../src/prompt/parse-output.js";
import { writeCandidateLists, type CandidateList } from "../../src/rank/candidates.js";
import { writeSidMap } from "../../src/sid/sidmap.js";
import { readJsonLines } from "../../src/teacher/trace-file.js";
import type { TraceRecord } from "../../src/teacher/traces.js";
import { makeLists, makeSidMap, tempDir } from "../prompt/helpers.js";
import { startFakeTeacher } from "./fake-teacher.js";

const USERS = 60, ITEMS = 100, SEED = 5;

async function fixture() {
  const dir = tempDir("gr2-traces-cli-");
  const ds = generateSynthetic({ users: USERS, items: ITEMS, seed: SEED });
  const split = leaveOneOut(ds.interactions);
  const ids = ds.catalogue.items.map((it) => it.id);
  const lists = [
    ...makeLists(split.valid, ITEMS, ds.interactions.userIds, "valid", 1),
    ...makeLists(split.test, ITEMS, ds.interactions.userIds, "test", 2),
  ].map((l): CandidateList => ({ ...l, split: l.split as "valid" | "test", scores: null }));
  const candidates = join(dir, "candidates.jsonl");
  writeCandidateLists(candidates, lists, ids);
  const sids = join(dir, "sid_map.json");
  await writeSidMap(sids, makeSidMap(ds));
  const run = join(dir, "run");
  const data = ["--dataset", "synthetic", "--users", String(USERS), "--items", String(ITEMS), "--seed", String(SEED)];
  return { dir, run, candidates, sids, data, lists };
}

function capture() {
  let out = "", err = "";
  return { io: { out: (t: string) => void (out += t), err: (t: string) => void (err += t), tty: false }, out: () => out, err: () => err };
}

test("gr2 traces generate --teacher evidence: valid-split traces, stats, manifest, and a resumed re-run", async () => {
  const f = await fixture();
  const args = ["generate", "--run", f.run, "--candidates", f.candidates, "--sids", f.sids, ...f.data, "--teacher", "evidence", "--mode", "rejection", "--max-attempts", "3", "--format", "compact", "--shuffle", "--json"];
  const c = capture();
  assert.equal(await tracesCommand(args, c.io), 0, c.err());
  const summary = JSON.parse(c.out());
  assert.equal(summary.lists, USERS, "the valid split only, by default");
  assert.equal(summary.written, USERS);
  assert.equal(summary.mode, "rejection");
  assert.equal(summary.teacher, "evidence");
  const out = join(f.run, "traces", "evidence-rejection.jsonl");
  const records = readJsonLines<TraceRecord>(out).records;
  assert.equal(records.length, USERS);
  for (const r of records) {
    assert.equal(r.split, "valid");
    assert.equal(r.format, "compact");
    assert.ok(parseRerankOutput(r.response!, { format: "compact", candidateSids: r.candidate_sids }).ok);
  }
  assert.ok(existsSync(summary.stats_file));
  const manifest = JSON.parse(readFileSync(join(f.run, "run.json"), "utf8"));
  assert.equal(manifest.stages["traces-rejection"].status, "done");
  assert.equal(manifest.stages["traces-rejection"].outputs.traces, join("traces", "evidence-rejection.jsonl"));
  assert.equal(manifest.stages["traces-rejection"].metrics.lists, USERS);

  const again = capture();
  assert.equal(await tracesCommand([...args, "--split", "all"], again.io), 0, again.err());
  const resumed = JSON.parse(again.out());
  assert.deepEqual([resumed.written, resumed.skipped, resumed.lists, resumed.resumed], [USERS, USERS, 2 * USERS, true]);
});

test("gr2 traces generate --teacher openai against a local OpenAI-compatible server", async () => {
  const f = await fixture();
  const server = await startFakeTeacher();
  const c = capture();
  const code = await tracesCommand(
    ["generate", "--run", f.run, "--candidates", f.candidates, "--sids", f.sids, ...f.data, "--teacher", "openai", "--base-url", `${server.url}/v1`, "--model", "tiny/teacher:1", "--mode", "targeted", "--limit", "5"],
    c.io,
  );
  assert.equal(code, 0, c.err());
  assert.match(c.out(), /targeted traces by openai:tiny\/teacher:1: 5\/5 accepted \(100\.0%\)/);
  const out = join(f.run, "traces", "openai-tiny_teacher_1-targeted.jsonl");
  assert.equal(readJsonLines<TraceRecord>(out).records.length, 5);
  assert.equal(server.requests.length, 5);
  assert.ok(existsSync(join(f.run, "cache", "chat")), "answers are cached in the run folder");
});

test("usage errors are one line naming the problem, exit code 2", async () => {
  const f = await fixture();
  const cases: [string[], RegExp][] = [
    [["generate", "--candidates", f.candidates], /missing --run/],
    [["generate", "--run", f.run, "--candidates", f.candidates, "--sids", f.sids, ...f.data, "--teacher", "evidence"], /missing --mode targeted\|rejection\|unfiltered/],
    [["generate", "--run", f.run, "--candidates", f.candidates, "--sids", f.sids, ...f.data, "--teacher", "gpt", "--mode", "targeted"], /--teacher must be one of evidence, openai/],
    [["generate", "--run", f.run, "--candidates", f.candidates, "--sids", f.sids, ...f.data, "--teacher", "openai", "--mode", "targeted"], /missing --model/],
    [["generate", "--run", f.run, "--candidates", f.candidates, "--sids", f.sids, ...f.data, "--teacher", "evidence", "--mode", "targeted", "--budget", "500"], /--budget needs a tokenizer/],
    [["frobnicate"], /unknown subcommand "frobnicate"/],
  ];
  for (const [args, expected] of cases) {
    const c = capture();
    assert.equal(await tracesCommand(args, c.io), 2, args.join(" "));
    assert.match(c.err(), expected);
    assert.equal(c.err().trim().split("\n").length, 1);
  }
});

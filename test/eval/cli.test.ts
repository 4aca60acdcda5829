import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { evalCommand } from "../../src/cli/eval.js";
import { rankCommand } from "../../src/cli/rank.js";
import { captureIo, tempDir } from "../rank/helpers.js";

// Default negatives: `hits` (candidates-hits.jsonl), a list for each user whose target the ranker puts in its top 10.
const SMALL = ["--dataset", "synthetic", "--users", "300", "--items", "100", "--seed", "4"];

test("gr2 rank train + candidates on a small synthetic catalogue", async () => {
  const dir = tempDir("gr2-cli-");
  const train = captureIo();
  assert.equal(await rankCommand(["train", ...SMALL, "--ranker", "item-knn", "--out", join(dir, "knn"), "--json"], train.io), 0, train.err());
  const trained = JSON.parse(train.out());
  assert.equal(trained.ranker, "item-knn");
  assert.ok(trained.full_ranking.test["recall@10"] > 0);

  const cand = captureIo();
  const file = join(dir, "lists.jsonl");
  assert.equal(await rankCommand(["candidates", ...SMALL, "--ranker", join(dir, "knn"), "--out", file, "--json"], cand.io), 0, cand.err());
  const meta = JSON.parse(cand.out());
  const { valid, test } = meta.splits;
  assert.equal(test.examples, 300);
  assert.ok(test.users > 0 && test.users < 300, `only the ranker's hits get a list (${test.users} of 300)`);
  // The share of users with a list is the ranker's full-ranking Recall@10 on that split.
  assert.ok(Math.abs(test.users / 300 - test.full_ranking["recall@10"]) < 1e-3);
  assert.equal(test.rank_pre.reduce((a: number, b: number) => a + b, 0), test.users);
  assert.equal(meta.lists, valid.users + test.users);
  assert.equal(readFileSync(file, "utf8").trim().split("\n").length, meta.lists);
  assert.ok(existsSync(`${file}.meta.json`));
});

test("gr2 rank candidates --test-window: test lists with graded positives, more of them than under leave-one-out", async () => {
  const dir = tempDir("gr2-cli-");
  const lists = async (window: string[]) => {
    const name = window.length ? "window" : "loo";
    const io = captureIo();
    assert.equal(await rankCommand(["train", ...SMALL, ...window, "--ranker", "item-knn", "--out", join(dir, name), "--json"], io.io), 0, io.err());
    const file = join(dir, `${name}.jsonl`);
    const cand = captureIo();
    assert.equal(await rankCommand(["candidates", ...SMALL, ...window, "--ranker", join(dir, name), "--out", file, "--splits", "test", "--json"], cand.io), 0, cand.err());
    return readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { target: string; candidates: string[]; grades?: number[] });
  };
  const loo = await lists([]);
  const windowed = await lists(["--test-window", "4"]);
  assert.ok(loo.every((l) => l.grades === undefined));
  assert.ok(windowed.length > loo.length, `${windowed.length} lists with a window of 4, ${loo.length} without`);
  for (const l of windowed) {
    assert.equal(l.grades![l.candidates.indexOf(l.target)], 2);
    assert.ok(l.grades!.every((g) => g === 0 || g === 1 || g === 2));
  }
  assert.ok(windowed.some((l) => l.grades!.filter((g) => g > 0).length > 1), "some lists hold several positives");
});

test("gr2 eval baselines --json prints the summary line and writes the report", async () => {
  const out = join(tempDir("gr2-cli-"), "run");
  const run = captureIo();
  const args = ["baselines", ...SMALL, "--out", out, "--epochs", "2", "--listwise-epochs", "2", "--bootstrap", "100", "--json"];
  assert.equal(await evalCommand(args, run.io), 0, run.err());
  const lines = run.out().trim().split("\n");
  assert.equal(lines.length, 1, "one JSON line on stdout");
  const s = JSON.parse(lines[0]!);
  const lists = readFileSync(join(out, "candidates-hits.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(s.users, lists.filter((l) => l.split === "test").length);
  for (const k of ["recall@5", "ndcg@5", "recall@10", "ndcg@10"]) assert.equal(typeof s.sasrec_full[k], "number");
  for (const name of ["incoming", "random", "popularity", "listwise", "listwise-no-position"]) {
    for (const k of ["recall@1", "recall@5", "ndcg@5"]) assert.equal(typeof s.rerank[name][k], "number", `${name} ${k}`);
  }
  assert.ok(s.vs_incoming.listwise["recall@1"].lo <= s.vs_incoming.listwise["recall@1"].diff);
  for (const f of ["report.md", "report.json", "metrics.svg", "positions.svg", "ranker/ranker.json", "listwise/listwise.json", "candidates-hits.jsonl"]) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  // A second run reuses the ranker and the lists from the run folder.
  const again = captureIo();
  assert.equal(await evalCommand([...args.filter((a) => a !== "--json"), "--no-ablation", "--no-png"], again.io), 0, again.err());
  assert.match(again.err(), /using the sasrec ranker/);
  assert.match(again.err(), /reading candidate lists/);
  assert.match(again.out(), /listwise +recall@1/);
});

test("usage errors: one line on stderr, exit code 2", async () => {
  for (const [cmd, args, expected] of [
    [rankCommand, ["train", "--out", "x"], /missing --dataset/],
    [rankCommand, ["train", ...SMALL], /missing --out/],
    [rankCommand, ["train", ...SMALL, "--out", "x", "--ranker", "bm25"], /--ranker must be one of/],
    [rankCommand, ["candidates", ...SMALL, "--out", "x", "--ranker", "x", "--negatives", "best"], /unknown negatives/],
    [rankCommand, ["frobnicate"], /unknown subcommand/],
    [evalCommand, ["baselines", "--dataset", "synthetic", "--users", "zero"], /--users expects an integer/],
    [evalCommand, ["baselines", "--bogus"], /Unknown option/],
    [evalCommand, [], /missing subcommand/],
  ] as const) {
    const c = captureIo();
    assert.equal(await cmd([...args], c.io), 2);
    assert.match(c.err(), expected);
    assert.equal(c.err().trim().split("\n").length, 1, c.err());
    assert.equal(c.out(), "");
  }
  const help = captureIo();
  assert.equal(await evalCommand(["help"], help.io), 0);
  assert.match(help.out(), /gr2 eval baselines/);
});

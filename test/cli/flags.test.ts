/**
 * The one flag API (src/cli/args.ts) as the commands use it: the dataset flags with --seed as
 * the catalogue's seed everywhere (old spellings read as deprecated aliases), number and integer
 * flags whose errors name the flag and what it expects, and subcommand dispatch by runSubcommands.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { datasetFlags, integerFlag, numberFlag, requiredFlag, UsageError } from "../../src/cli/args.js";
import { serveDatasetArgs } from "../../src/cli/bench-serve.js";
import { rankCommand } from "../../src/cli/rank.js";
import { sidCommand } from "../../src/cli/sid.js";
import { tracesCommand } from "../../src/cli/traces.js";
import { parsePolicies } from "../../src/cli/pipeline.js";

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gr2-cli-flags-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

type Command = (args: string[], io: { out: (t: string) => void; err: (t: string) => void }) => Promise<number>;

async function run(cmd: Command, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const code = await cmd(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** A usage error: exit code 2, nothing on stdout, one stderr line `gr2 <name>: …` matching `expected`. */
async function assertUsageError(cmd: Command, name: string, args: string[], expected: RegExp): Promise<void> {
  const r = await run(cmd, args);
  assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
  assert.equal(r.out, "");
  assert.match(r.err, expected, args.join(" "));
  assert.match(r.err, new RegExp(`^gr2 ${name}: [^\\n]+\\(gr2 ${name} help\\)\\n$`), `one line: ${JSON.stringify(r.err)}`);
}

/** For assert.throws: a UsageError whose message matches. */
const usage = (expected: RegExp) => (err: unknown) => err instanceof UsageError && expected.test(err.message);

const DATA = ["--dataset", "synthetic", "--users", "60", "--items", "40"];

test("numberFlag and integerFlag: the fallback when absent; errors name the flag and what it expects", () => {
  assert.equal(numberFlag({}, "lr", 0.5), 0.5);
  assert.equal(numberFlag({ lr: "1e-3" }, "lr", undefined, { min: 0 }), 0.001);
  assert.throws(() => numberFlag({ dropout: "1.5" }, "dropout", undefined, { min: 0, max: 0.99 }), usage(/^--dropout expects a number in \[0, 0\.99\], got "1\.5"$/));
  assert.throws(() => numberFlag({ lr: "-1" }, "lr", undefined, { min: 0 }), usage(/--lr expects a number ≥ 0, got "-1"/));
  assert.throws(() => numberFlag({ lr: "fast" }, "lr", 1), usage(/--lr expects a number, got "fast"/));
  assert.equal(integerFlag({}, "size", 2), undefined);
  assert.equal(integerFlag({ seed: "-3" }, "seed"), -3);
  assert.throws(() => integerFlag({ size: "1" }, "size", 2), usage(/--size expects an integer ≥ 2, got "1"/));
  assert.throws(() => integerFlag({ epochs: "1.5" }, "epochs", 1), usage(/--epochs expects an integer ≥ 1, got "1\.5"/));
  assert.equal(requiredFlag({ out: "x" }, "out", "DIR"), "x");
  assert.throws(() => requiredFlag({}, "out", "DIR"), usage(/^missing --out DIR$/));
});

test("datasetFlags: counts are integers ≥ 1, --seed any integer; --dataset required where asked; an old seed spelling warns", () => {
  assert.deepEqual(datasetFlags({ users: "60", items: "40", seed: "7" }), { name: "synthetic", dataDir: undefined, users: 60, items: 40, seed: 7 });
  assert.throws(() => datasetFlags({}, { required: true }), usage(/^missing --dataset NAME$/));
  assert.throws(() => datasetFlags({ users: "0" }), usage(/--users expects an integer ≥ 1, got "0"/));
  assert.throws(() => datasetFlags({ items: "3.5" }), usage(/--items expects an integer ≥ 1, got "3\.5"/));
  assert.throws(() => datasetFlags({ seed: "x" }), usage(/--seed expects an integer, got "x"/));
  const warnings: string[] = [];
  const old = datasetFlags({ dataset: "synthetic", "data-users": "9", users: "100", "data-seed": "4", seed: "5" }, { usersFlag: "data-users", seedAlias: "data-seed", warn: (t) => warnings.push(t) });
  assert.deepEqual([old.users, old.seed], [9, 4], "--data-users gives the size; the old --data-seed the catalogue's seed");
  assert.deepEqual(warnings, ["warning: --data-seed is deprecated; use --seed"]);
  assert.throws(() => datasetFlags({ "data-seed": "x" }, { seedAlias: "data-seed" }), usage(/--data-seed expects an integer, got "x"/));
  // gr2 bench serve forwards the flags to gr2 serve under their one spelling.
  assert.deepEqual(serveDatasetArgs(datasetFlags({ dataset: "synthetic", users: "60", "dataset-seed": "42" }, { seedAlias: "dataset-seed" })), ["--dataset", "synthetic", "--users", "60", "--seed", "42"]);
});

test("gr2 rank train --seed seeds the catalogue; bad numbers are one-line usage errors naming the flag", async () => {
  const dir = tempDir();
  const r = await run(rankCommand, ["train", ...DATA, "--seed", "3", "--ranker", "popularity", "--out", join(dir, "pop"), "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).dataset, "synthetic(users=60, items=40, seed=3)");
  const train = ["train", ...DATA, "--out", join(dir, "x")];
  await assertUsageError(rankCommand, "rank", [...train, "--seed", "three"], /--seed expects an integer, got "three"/);
  await assertUsageError(rankCommand, "rank", [...train, "--epochs", "1.5"], /--epochs expects an integer ≥ 1, got "1\.5"/);
  await assertUsageError(rankCommand, "rank", [...train, "--dropout", "1"], /--dropout expects a number in \[0, 0\.99\], got "1"/);
  await assertUsageError(rankCommand, "rank", [...train, "--loss", "hinge"], /--loss must be one of ce, bce, got "hinge"/);
  await assertUsageError(rankCommand, "rank", [...train, "--users", "0"], /--users expects an integer ≥ 1, got "0"/);
  await assertUsageError(rankCommand, "rank", ["candidates", ...DATA, "--ranker", join(dir, "pop"), "--out", join(dir, "c.jsonl"), "--size", "1"], /--size expects an integer ≥ 2, got "1"/);
  await assertUsageError(rankCommand, "rank", ["candidates", ...DATA, "--out", join(dir, "c.jsonl")], /missing --ranker DIR/);
  await assertUsageError(rankCommand, "rank", [], /missing subcommand \(train or candidates\)/);
});

test("gr2 sid build: --seed seeds the catalogue and the build, --sid-seed the build; --data-seed still works, with a warning", async () => {
  const dir = tempDir();
  const sid = ["build", ...DATA, "--levels", "2", "--codebook-size", "8", "--embed", "tfidf", "--json"];
  const build = async (name: string, flags: string[]) => {
    const r = await run(sidCommand, [...sid, ...flags, "--out", join(dir, name)]);
    assert.equal(r.code, 0, r.err);
    return { map: readFileSync(join(dir, name, "sid_map.json"), "utf8"), err: r.err };
  };
  const seed = await build("seed", ["--seed", "5"]);
  assert.equal(seed.err, "");
  const split = await build("split", ["--seed", "5", "--sid-seed", "5"]);
  assert.equal(split.map, seed.map, "--sid-seed defaults to --seed");
  const old = await build("old", ["--data-seed", "5", "--seed", "5"]);
  assert.equal(old.map, seed.map, "the old spelling: --data-seed the catalogue, --seed the build");
  assert.equal(old.err, "gr2 sid: warning: --data-seed is deprecated; use --seed\n");
  const other = await build("other", ["--seed", "6", "--sid-seed", "5"]);
  assert.notEqual(other.map, seed.map, "--seed picks the catalogue");

  const usage = await run(sidCommand, ["help"]);
  assert.match(usage.out, /--data-seed S, the old spelling of the catalogue's\s+seed, is deprecated/);
  await assertUsageError(sidCommand, "sid", [...sid, "--out", join(dir, "x"), "--sid-seed=-1"], /--sid-seed expects an integer ≥ 0, got "-1"/);
  await assertUsageError(sidCommand, "sid", [...sid, "--out", join(dir, "x"), "--data-seed", "x"], /--data-seed expects an integer, got "x"/);
  await assertUsageError(sidCommand, "sid", ["ablate", "--users", "60"], /missing --dataset NAME/);
});

test("gr2 traces: runSubcommands dispatch and args.ts flag errors", async () => {
  await assertUsageError(tracesCommand, "traces", [], /missing subcommand \(generate or view\)/);
  await assertUsageError(tracesCommand, "traces", ["frobnicate"], /unknown subcommand "frobnicate" \(expected generate or view\)/);
  const generate = ["generate", "--run", "r", "--candidates", "c", "--sids", "s", ...DATA, "--teacher", "evidence", "--mode", "targeted"];
  await assertUsageError(tracesCommand, "traces", [...generate, "--temperature=-1"], /--temperature expects a number ≥ 0, got "-1"/);
  await assertUsageError(tracesCommand, "traces", [...generate, "--max-attempts", "0"], /--max-attempts expects an integer ≥ 1, got "0"/);
  await assertUsageError(tracesCommand, "traces", ["generate", "--run", "r", "--candidates", "c", "--sids", "s", "--teacher", "evidence"], /missing --dataset NAME/);
});

test("gr2 bench, lm and ablate dispatch their subcommands like the others", () => {
  for (const [args, expected] of [
    [["bench", "frobnicate"], /^gr2 bench: unknown subcommand "frobnicate" \(expected engine, attention or serve\) \(gr2 bench help\)\n$/],
    [["lm"], /^gr2 lm: missing subcommand \(logits\) \(gr2 lm help\)\n$/],
    [["ablate", "rewards", "--run", "r", "--users", "many"], /^gr2 ablate: --users expects an integer ≥ 1, got "many" \(gr2 ablate help\)\n$/],
    [["ablate", "rewards", "--run", "r", "--dataset", "synthetic", "--max-prompt-tokens", "12"], /^gr2 ablate: --max-prompt-tokens expects an integer ≥ 64, got "12" \(gr2 ablate help\)\n$/],
    [["bench", "serve", "--model", "m", "--dataset", "synthetic", "--seed", "x"], /^gr2 bench serve: --seed expects an integer, got "x"\n/],
    [["bench", "engine", "--seq", "64", "--answer", "65"], /^gr2 bench: --answer expects an integer from 0 \(every position\) to --seq \(64\), got 65 \(gr2 bench help\)\n$/],
  ] as const) {
    const r = spawnSync(process.execPath, ["dist/src/cli/main.js", ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, args.join(" "));
    assert.equal(r.stdout, "");
    assert.match(r.stderr, expected);
    if (args[1] === "serve") assert.match(r.stderr, /--dataset-seed S, the old spelling of the\s+catalogue's seed, is deprecated/, "the usage follows");
  }
});

test("datasetFlags: --product-lines is a probability for the synthetic catalogue", () => {
  assert.equal(datasetFlags({ dataset: "synthetic", "product-lines": "0.8" }).productLines, 0.8);
  assert.equal("productLines" in datasetFlags({ dataset: "synthetic" }), false);
  assert.throws(() => datasetFlags({ dataset: "synthetic", "product-lines": "1.5" }), /--product-lines expects a number in \[0, 1\], got "1.5"/);
});

test("--help prints the usage text and exits 0 for every command and subcommand", () => {
  for (const args of [["pretrain"], ["midtrain"], ["pipeline"], ["demo"], ["eval", "baselines"], ["eval", "generative"], ["bench", "engine"], ["bench", "attention"], ["bench", "serve"], ["serve"], ["data"], ["traces"]]) {
    for (const flag of ["--help", "-h"]) {
      const r = spawnSync(process.execPath, ["dist/src/cli/main.js", ...args, flag], { encoding: "utf8" });
      assert.equal(r.status, 0, `${args.join(" ")} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, /usage:\s+gr2 /, `${args.join(" ")} ${flag}`);
    }
  }
});

test("--policies reads a comma-separated list of the pipeline's policies and names what it expected", () => {
  assert.deepEqual(parsePolicies("direct"), ["direct"]);
  assert.deepEqual(parsePolicies("reasoning, direct,direct"), ["reasoning", "direct"]);
  assert.throws(() => parsePolicies("direct,cot"), (e: unknown) => e instanceof UsageError && /"cot" is not a policy; expected a comma-separated list of reasoning, direct/.test(e.message));
  assert.throws(() => parsePolicies(","), UsageError);
});

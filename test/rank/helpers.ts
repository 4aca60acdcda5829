/** Shared by the rank and eval tests: temporary folders, small datasets, fake rankers and lists. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { DataError } from "../../src/data/errors.js";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { leaveOneOut } from "../../src/data/split.js";
import { Rng } from "../../src/data/rng.js";
import type { Dataset, Split } from "../../src/data/types.js";
import type { CandidateList, ListSplit } from "../../src/rank/candidates.js";
import type { Ranker } from "../../src/rank/ranker.js";
import { setNumThreads } from "../../src/torch/index.js";

// node --test runs test files in parallel processes; on 2 shared cores, several multi-threaded
// libtorch processes spin against each other and run many times slower. Our tensors are tiny.
setNumThreads(1);

export function tempDir(prefix = "gr2-rank-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function syntheticSplit(users: number, items: number, seed = 7): { dataset: Dataset; split: Split; numItems: number } {
  const dataset = generateSynthetic({ users, items, seed });
  return { dataset, split: leaveOneOut(dataset.interactions), numItems: dataset.catalogue.items.length };
}

/** A ranker whose scores are a fixed row (the same for every history). */
export class FixedRanker implements Ranker {
  readonly name = "fixed";
  readonly numItems: number;
  constructor(readonly row: Float32Array) {
    this.numItems = row.length;
  }
  scores(histories: readonly (readonly number[])[]): Float32Array[] {
    return histories.map(() => this.row.slice());
  }
}

/**
 * Lists where the incoming order is uninformative: target + (K − 1) random negatives outside
 * the history, shuffled (seeded). Any re-ranker that learns item structure should beat it.
 */
export function shuffledLists(examples: readonly { user: number; history: number[]; target: number }[], numItems: number, split: ListSplit, seed: number, K = 10): CandidateList[] {
  const rng = new Rng(seed);
  return examples.map((e) => {
    const taken = new Set([...e.history, e.target]);
    const negatives: number[] = [];
    while (negatives.length < K - 1) {
      const i = rng.int(numItems);
      if (!taken.has(i)) {
        taken.add(i);
        negatives.push(i);
      }
    }
    const candidates = rng.shuffle([e.target, ...negatives]);
    return { user: `user-${e.user + 1}`, split, history: e.history, candidates, target: e.target, rankPre: candidates.indexOf(e.target) + 1, scores: null };
  });
}

/** Asserts a DataError whose one-line message names `file:line` and matches `expected`. */
export function assertDataError(fn: () => unknown, file: string, line: number, expected: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${String(caught)}`);
  assert.ok(caught.message.includes(`${file}:${line}: `), `message should name ${file}:${line}: ${caught.message}`);
  assert.match(caught.message, expected);
  assert.ok(!caught.message.includes("\n"));
}

/** Collects what a CLI command prints. */
export function captureIo(): { io: { out: (t: string) => void; err: (t: string) => void; tty: boolean }; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return { io: { out: (t) => (out += t), err: (t) => (err += t), tty: false }, out: () => out, err: () => err };
}

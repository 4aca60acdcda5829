import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../../src/torch/index.js";
import { makeConfig } from "../../src/lm/config.js";
import { DecoderLM } from "../../src/lm/model.js";
import { generate } from "../../src/lm/generate.js";
import { TokenTrie } from "../../src/lm/trie.js";
import { constrainedBeamSearch } from "../../src/lm/beam.js";
import { train } from "../../src/train/loop.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// A toy SID vocabulary: begin 20, end 21, level-a codes 22..25, level-b 26..28, level-c 29..30.
const BEGIN = 20, END = 21;
const CODES: [number, number, number][] = [
  [0, 0, 0], [0, 1, 0], [0, 2, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0], [2, 0, 0], [2, 1, 0], [2, 2, 0], [3, 0, 0],
];
const sidTokens = ([a, b, c]: [number, number, number]) => [BEGIN, 22 + a, 26 + b, 29 + c, END];
const ITEMS = CODES.map(sidTokens);
const config = makeConfig({ vocabSize: 32, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, maxPositions: 64 });

test("trie: allowed continuations, values, forced prefix, bad inserts", () => {
  const trie = TokenTrie.fromSequences(ITEMS);
  assert.equal(trie.size, 10);
  assert.equal(trie.depth, 5);
  assert.deepEqual(trie.allowed([]), [BEGIN]);
  assert.deepEqual(trie.allowed([BEGIN]).sort(), [22, 23, 24, 25]);
  assert.deepEqual(trie.allowed([BEGIN, 23]).sort(), [26, 27]);
  assert.deepEqual(trie.allowed([BEGIN, 23, 26]).sort(), [29, 30]);
  assert.deepEqual(trie.allowed([BEGIN, 25, 26]), [29]);
  assert.deepEqual(trie.allowed([BEGIN, 25, 26, 29]), [END]);
  assert.deepEqual(trie.allowed(ITEMS[9]!), [], "complete");
  assert.deepEqual(trie.allowed([BEGIN, 25, 27]), [], "no item (3, 1, ·)");
  assert.equal(trie.valueOf(ITEMS[4]!), 4);
  assert.equal(trie.valueOf([BEGIN, 23, 26]), undefined);
  assert.deepEqual(trie.forcedPrefix(), [BEGIN]);
  assert.throws(() => trie.insert(ITEMS[2]!, 99), /inserted twice/);
  assert.throws(() => trie.insert([BEGIN, 22, 26], 99), /prefix/);
  assert.throws(() => trie.insert([...ITEMS[0]!, 5], 99), /prefix/);
});

test("trie constraint: generate() can only sample valid items", () => {
  torch.manualSeed(3);
  const model = new DecoderLM(config);
  const trie = TokenTrie.fromSequences(ITEMS);
  const out = generate(model, [[1, 2, 3], [4], [5, 6]], { maxNewTokens: 5, temperature: 1.5, constraint: trie.constraint(32) });
  for (const tokens of out.tokens) assert.notEqual(trie.valueOf(tokens), undefined, `[${tokens}] is an item`);
  model.dispose();
});

/** Exact score of every item for one prompt by teacher forcing: Σ log p over the branching steps. */
function exactScores(model: DecoderLM, trie: TokenTrie, prompt: number[]): number[] {
  return torch.noGrad(() =>
    torch.tidy(() =>
      ITEMS.map((seq) => {
        const ids = [...prompt, ...seq];
        const logp = model.forward(torch.int64(ids, [1, ids.length])).logSoftmax(-1).toFloat32Array();
        let score = 0;
        for (let i = 1; i < seq.length; i++) {
          if (trie.allowed(seq.slice(0, i)).length < 2) continue; // forced: contributes 0
          score += logp[(prompt.length + i - 1) * 32 + seq[i]!]!;
        }
        return score;
      }),
    ),
  );
}

test("beam search = exhaustive scoring when the beam holds every item; KV-cache rows follow their beams", () => {
  torch.manualSeed(5);
  const model = new DecoderLM(config);
  const trie = TokenTrie.fromSequences(ITEMS);
  const prompts = [[1, 2, 3, 4, 5], [6], [7, 8, 9], [10, 11, 12, 13, 14, 15, 16]];
  // Batches of 3 mix prompt lengths (left padding) and leave a batch of 1.
  const live = torch.liveTensors();
  const results = constrainedBeamSearch(model, prompts, { beams: 10, trie, batchSize: 3 });
  assert.equal(torch.liveTensors(), live, "the cache and every step's tensors are freed");
  prompts.forEach((prompt, p) => {
    const exact = exactScores(model, trie, prompt);
    const hyps = results[p]!;
    assert.equal(hyps.length, 10);
    assert.deepEqual(new Set(hyps.map((h) => h.value)).size, 10, "distinct items");
    for (const h of hyps) {
      assert.deepEqual(h.tokens, ITEMS[h.value]);
      assert.ok(Math.abs(h.score - exact[h.value]!) < 1e-4, `prompt ${p} item ${h.value}: beam ${h.score} vs exact ${exact[h.value]}`);
    }
    for (let i = 1; i < hyps.length; i++) assert.ok(hyps[i - 1]!.score >= hyps[i]!.score, "best first");
  });
  // A narrower beam that still keeps every first-level prefix finds the exact top 4.
  const narrow = constrainedBeamSearch(model, prompts, { beams: 4, trie, batchSize: 2 });
  prompts.forEach((prompt, p) => {
    const exact = exactScores(model, trie, prompt);
    const best = exact.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 4).map(([, i]) => i);
    assert.deepEqual(narrow[p]!.map((h) => h.value), best);
  });
  model.dispose();
});

test("beam search finds a planted answer and emits only valid items", () => {
  // Learn prompt token p (1..10) → item p-1: a few dozen steps on ten sequences.
  torch.manualSeed(7);
  const model = new DecoderLM(config);
  const rows = ITEMS.map((seq, i) => [i + 1, ...seq]);
  const dir = mkdtempSync(join(tmpdir(), "gr2-beam-"));
  try {
    train(model, dir, { steps: 80, lr: 2e-2, minLr: 2e-2, warmupSteps: 5, weightDecay: 0, gradClip: 1, gradAccum: 1, precision: "fp32", checkpointEvery: 1000 }, {
      batch: () => {
        const t = torch.int64(rows.flat(), [rows.length, 6]);
        return { ids: t.narrow(1, 0, 5), targets: t.narrow(1, 1, 5) };
      },
    }, { resume: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const trie = TokenTrie.fromSequences(ITEMS);
  const results = constrainedBeamSearch(model, ITEMS.map((_, i) => [i + 1]), { beams: 5, trie, batchSize: 4 });
  results.forEach((hyps, i) => {
    assert.equal(hyps[0]!.value, i, `prompt ${i + 1} → item ${i}`);
    for (const h of hyps) assert.equal(trie.valueOf(h.tokens), h.value);
  });
  model.dispose();
});

test("beam search rejects what it cannot do", () => {
  const model = new DecoderLM(config);
  const ragged = new TokenTrie();
  ragged.insert([1, 2], 0);
  ragged.insert([1, 3, 4], 1);
  assert.throws(() => constrainedBeamSearch(model, [[1]], { beams: 2, trie: ragged }), /same length/);
  assert.throws(() => constrainedBeamSearch(model, [[]], { beams: 2, trie: TokenTrie.fromSequences(ITEMS) }), /at least one token/);
  assert.throws(() => constrainedBeamSearch(model, [[1]], { beams: 0, trie: TokenTrie.fromSequences(ITEMS) }), /positive integer/);
  model.dispose();
});

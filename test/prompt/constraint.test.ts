import assert from "node:assert/strict";
import { test } from "node:test";
import * as torch from "../../src/torch/index.js";
import { makeConfig } from "../../src/lm/config.js";
import { generateSynthetic } from "../../src/data/synthetic.js";
import { itemText } from "../../src/data/text.js";
import { generate } from "../../src/lm/generate.js";
import { TextTokenizer } from "../../src/lm/tokenizer.js";
import { DecoderLM } from "../../src/lm/model.js";
import { permutationConstraint } from "../../src/prompt/constraint.js";
import { candidateNames, formatOutput, GRAMMARS, type OutputFormat } from "../../src/prompt/output-format.js";
import { parseRerankOutput } from "../../src/prompt/parse-output.js";
import { formatSid } from "../../src/sid/sidmap.js";
import { CODEBOOK, tokenizer } from "./helpers.js";

const tok = tokenizer();
const stop = tok.requireId("<|im_end|>");

/** A random tiny model over the test tokenizer's vocabulary: its free output is gibberish. */
function randomModel(seed: number): DecoderLM {
  torch.manualSeed(seed);
  return new DecoderLM(makeConfig({ vocabSize: tok.vocabSize, hiddenSize: 32, numLayers: 1, numHeads: 2, intermediateSize: 48, maxPositions: 512 }));
}

/** Candidate lists sharing SID prefixes (the trie must branch below the first level). */
function candidateLists(rows: number, K: number): string[][] {
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: K }, (_, i) => formatSid([(r + i) % 2, i % CODEBOOK, (Math.floor(i / CODEBOOK) + r) % CODEBOOK])),
  );
}

const decode = (ids: readonly number[]) => tok.decodeSync(ids.filter((t) => t !== stop));

/** How `format` names each list's candidates: their SIDs, or letters in a per-row shuffled order shown. */
function namesOf(format: OutputFormat, lists: readonly string[][]): string[][] {
  return lists.map((sids, r) => candidateNames(format, sids, sids.map((_, i) => (i * 3 + r) % sids.length)));
}

for (const format of ["json", "compact", "labels"] as const satisfies readonly OutputFormat[]) {
  test(`${format}: sampling from a random model under the constraint always yields a valid permutation`, async () => {
    const model = randomModel(format === "json" ? 1 : 2);
    const lists = candidateLists(6, 10);
    const names = namesOf(format, lists);
    const c = await permutationConstraint({ tokenizer: tok, format, candidates: names, maxRationaleTokens: 16 });
    const prompt = await tok.encode("Rank the candidates:");
    for (const temperature of [1.5, 0]) {
      const r = generate(model, lists.map(() => prompt), { maxNewTokens: c.maxNewTokens, temperature, stopTokens: [stop], constraint: c.constraint });
      const outcome = c.outcome(r.tokens);
      r.tokens.forEach((tokens, b) => {
        assert.equal(r.finish[b], "stop", `row ${b} reached its stop token within maxNewTokens`);
        const text = decode(tokens);
        assert.ok(text.startsWith(GRAMMARS[format].prefix));
        const parsed = parseRerankOutput(text, { format, candidateSids: lists[b]!, candidateNames: names[b]! });
        assert.ok(parsed.ok, `row ${b} (t=${temperature}): ${parsed.ok ? "" : `${parsed.reason}: ${parsed.detail}`}\n${text}`);
        assert.deepEqual([...parsed.ranking].sort((x, y) => x - y), lists[b]!.map((_, i) => i));
        assert.deepEqual(outcome[b]!.ranking, parsed.ranking);
        assert.equal(outcome[b]!.complete, true);
        // Each span holds exactly the tokens of the name ranked there.
        outcome[b]!.spans.forEach(([start, end], r) => assert.equal(tok.decodeSync(tokens.slice(start, end)), GRAMMARS[format].lead + names[b]![parsed.ranking[r]!]!));
      });
    }
    model.dispose();
  });
}

test("without the constraint the same random model does not produce parseable answers", async () => {
  const model = randomModel(1);
  const lists = candidateLists(4, 10);
  const prompt = await tok.encode("Rank the candidates:");
  const r = generate(model, lists.map(() => prompt), { maxNewTokens: 60, temperature: 1.5, stopTokens: [stop] });
  r.tokens.forEach((tokens, b) => assert.equal(parseRerankOutput(decode(tokens), { format: "json", candidateSids: lists[b]! }).ok, false));
  model.dispose();
});

test("no rationale (a direct policy) and one candidate list for every row", async () => {
  const model = randomModel(3);
  const list = candidateLists(1, 10);
  const c = await permutationConstraint({ tokenizer: tok, format: "json", candidates: list, maxRationaleTokens: 0 });
  const prompt = await tok.encode("Rank:");
  const r = generate(model, [prompt, prompt, prompt], { maxNewTokens: c.maxNewTokens, temperature: 2, stopTokens: [stop], constraint: c.constraint });
  const seen = new Set<string>();
  for (const tokens of r.tokens) {
    const parsed = parseRerankOutput(decode(tokens), { format: "json", candidateSids: list[0]! });
    assert.ok(parsed.ok);
    assert.equal(parsed.explanation, "");
    seen.add(parsed.ranking.join());
  }
  assert.ok(seen.size > 1, "rows sample different permutations");
  model.dispose();
});

test("the rationale can end with a merged closer token and the header is completed", async () => {
  // Teacher-forcing through the constraint: feed a canonical encoded answer token by token.
  const list = candidateLists(1, 10)[0]!;
  for (const format of ["json", "compact"] as const) {
    const c = await permutationConstraint({ tokenizer: tok, format, candidates: [list], maxRationaleTokens: 200 });
    const text = `${GRAMMARS[format].prefix}Shampoo then conditioner.${GRAMMARS[format].closer}${GRAMMARS[format].header}${list.join(GRAMMARS[format].separator)}${GRAMMARS[format].closing}`;
    const ids = [...(await tok.encode(text)), stop];
    const V = tok.vocabSize;
    for (let step = 0; step < ids.length; step++) {
      const mask = torch.tidy(() => Array.from(c.constraint(step, [ids.slice(0, step)], torch.tensor(new Float32Array(V), [1, V]))!.data<"bool">()));
      assert.equal(mask[ids[step]!], 1, `${format}: token ${step} (${JSON.stringify(tok.decodeSync([ids[step]!]))}) of the canonical answer is allowed`);
    }
    const { ranking, complete } = c.outcome([ids])[0]!;
    assert.deepEqual({ ranking, complete }, { ranking: list.map((_, i) => i), complete: true });
  }
});

test("closer tokens that carry part of the header, and tokens that would break the format, are handled", async () => {
  // A tokenizer whose vocabulary merges punctuation the way large BPEs do.
  const corpus = generateSynthetic({ users: 5, items: 100, seed: 1 }).catalogue.items.map(itemText);
  const t = TextTokenizer.train(corpus, { vocabSize: 400 });
  t.addSidTokens({ levels: 3, codebookSize: CODEBOOK });
  const [dotQuote, quoteSep, closeAll, dotNl, nlHeader] = t.addTokens(['."', '", "', '"]}', ".\n", "\nRanking: "], { special: false });
  const end = t.requireId("<|im_end|>");
  const list = candidateLists(1, 10)[0]!;
  const V = t.vocabSize;
  const maskAt = (c: Awaited<ReturnType<typeof permutationConstraint>>, ids: number[]) =>
    torch.tidy(() => Array.from(c.constraint(ids.length, [ids], torch.tensor(new Float32Array(V), [1, V]))!.data<"bool">()));
  const cases: [OutputFormat, string, number][] = [
    ["json", "Shampoo then conditioner.", dotQuote!], // closer with nothing after it
    ["json", "Shampoo then conditioner", quoteSep!], // closer followed by `, "`: part of the header
    ["compact", "Shampoo then conditioner.", dotNl!],
    ["compact", "Shampoo then conditioner", nlHeader!], // closer followed by the whole header
  ];
  for (const [format, rationale, closer] of cases) {
    const g = GRAMMARS[format];
    const c = await permutationConstraint({ tokenizer: t, format, candidates: [list], maxRationaleTokens: 200, stopToken: end });
    const text = `${g.prefix}${rationale}${g.closer}${g.header}${list.join(g.separator)}${g.closing}`;
    const ids = [...(await t.encode(text)), end];
    assert.ok(ids.includes(closer), `${format} ${JSON.stringify(rationale)}: the canonical encoding uses the merged closer`);
    ids.forEach((id, step) => assert.equal(maskAt(c, ids.slice(0, step))[id], 1, `${format}: token ${step} ${JSON.stringify(t.decodeSync([id]))} allowed`));
    const { ranking, complete } = c.outcome([ids])[0]!;
    assert.deepEqual({ ranking, complete }, { ranking: list.map((_, i) => i), complete: true });
    if (format === "json") {
      // In the rationale: `"]}` would end the JSON early and is never allowed; the stop token neither.
      const inRationale = maskAt(c, (await t.encode(`${g.prefix}Shampoo`)));
      assert.equal(inRationale[closeAll!], 0);
      assert.equal(inRationale[end], 0);
      assert.equal(inRationale[t.requireId("<|im_start|>")], 0);
    }
  }
});

for (const format of ["json", "compact"] as const satisfies readonly OutputFormat[]) {
  test(`${format}: firstViolation finds where a free answer left the grammar: the unknown SID's wrong code, the code that can only repeat`, async () => {
    const lists = candidateLists(2, 10);
    const c = await permutationConstraint({ tokenizer: tok, format, candidates: lists, maxRationaleTokens: 200 });
    const sids = lists[1]!;
    const encode = async (text: string) => [...(await tok.encode(text))];
    const answer = (ranking: readonly string[]) => formatOutput(format, "the first two share a category with the last purchase", ranking);
    // Tokens up to (not including) ranking entry k, then `codes` of that entry's SID tokens.
    const at = async (ranking: readonly string[], k: number, codes: number) =>
      (await encode(answer(ranking).slice(0, answer(ranking).indexOf(ranking[k]!, answer(ranking).indexOf(GRAMMARS[format].header))))).length + 1 + codes;

    const valid = [...sids].reverse();
    assert.equal(c.firstViolation(await encode(answer(valid)), 1), null);
    assert.equal(c.firstViolation([...(await encode(answer(valid))), stop], 1), null, "with its stop token too");

    // Entry 4 (index 3) keeps the first two codes of a candidate but changes the last one.
    const codes = sids[3]!.match(/\d+/g)!.map(Number);
    const unknown = formatSid([codes[0]!, codes[1]!, (codes[2]! + 7) % CODEBOOK]);
    assert.ok(!sids.includes(unknown));
    const withUnknown = valid.map((s) => (s === sids[3] ? unknown : s));
    assert.equal(c.firstViolation(await encode(answer(withUnknown)), 1), await at(withUnknown, valid.indexOf(sids[3]!), 2));

    // Entry 6 repeats entry 2: the violation is the first code no unused candidate continues.
    const dup = [...valid];
    dup[5] = dup[1]!;
    const used = dup.slice(0, 5);
    const dupCodes = dup[1]!.match(/\d+/g)!.map(Number);
    const left = (j: number) => sids.filter((s) => !used.includes(s) && s.match(/\d+/g)!.slice(0, j + 1).every((x, i) => Number(x) === dupCodes[i]));
    const firstDead = dupCodes.findIndex((_, j) => left(j).length === 0);
    assert.ok(firstDead >= 0);
    const tokens = await encode(answer(dup));
    const expected = (await encode(answer(dup).slice(0, answer(dup).lastIndexOf(dup[1]!)))).length + 1 + firstDead;
    assert.equal(c.firstViolation(tokens, 1), expected);
    // The row picks the candidate list: under row 0's list the first ranked SID is already unknown.
    assert.ok(c.firstViolation(tokens, 0)! < expected);
  });
}

test("labels: the answer's letters encode as in the canonical text, and firstViolation finds an unknown or repeated letter", async () => {
  const sids = candidateLists(1, 10)[0]!;
  const shown = [3, 0, 9, 1, 2, 8, 4, 5, 6, 7];
  const names = candidateNames("labels", sids, shown);
  assert.equal(names[3], "A", "the first candidate shown is A");
  assert.equal(names[7], "J");
  const c = await permutationConstraint({ tokenizer: tok, format: "labels", candidates: [names], maxRationaleTokens: 200 });
  const answer = (letters: readonly string[]) => formatOutput("labels", `candidate A ${sids[3]} matches the last purchase`, letters);
  const encode = async (text: string) => [...(await tok.encode(text))];
  const valid = ["C", "A", "B", "D", "E", "F", "G", "H", "I", "J"];
  const ids = [...(await encode(answer(valid))), stop];
  assert.equal(c.firstViolation(ids), null);
  const { ranking, complete } = c.outcome([ids])[0]!;
  assert.deepEqual(ranking, valid.map((l) => names.indexOf(l)));
  assert.equal(complete, true);
  // The violation is the first token of the bad entry's letter (a lone space token may come first).
  const entryStart = async (letters: readonly string[], k: number) => (await encode(answer(letters).slice(0, answer(letters).lastIndexOf(` ${letters[k]}`)))).length;
  const unknown = [...valid];
  unknown[4] = "K";
  const atUnknown = c.firstViolation(await encode(answer(unknown)))!;
  assert.ok(atUnknown >= (await entryStart(unknown, 4)) && atUnknown <= (await entryStart(unknown, 4)) + 1, `unknown letter at ${atUnknown}`);
  assert.deepEqual(c.partAt(await encode(answer(unknown)), atUnknown), { part: "ranking", entry: 5 });
  const repeat = [...valid];
  repeat[6] = "A";
  const atRepeat = c.firstViolation(await encode(answer(repeat)))!;
  assert.ok(atRepeat >= (await entryStart(repeat, 6)) && atRepeat <= (await entryStart(repeat, 6)) + 1, `repeated letter at ${atRepeat}`);
  // More than 26 candidates cannot be lettered.
  assert.throws(() => candidateNames("labels", Array.from({ length: 27 }, (_, i) => formatSid([0, i % CODEBOOK, Math.floor(i / CODEBOOK)])), Array.from({ length: 27 }, (_, i) => i)), /at most 26 candidates/);
});

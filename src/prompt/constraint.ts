/**
 * A decoding constraint (src/lm/generate.ts `LogitConstraint`) that makes every generated
 * answer parse: the rationale is free text within the format's rules, and the ranking is a
 * valid permutation of the row's candidates, token by token.
 *
 * Per row, a small state machine over token ids walks the answer grammar of output-format.ts:
 *
 *   forced prefix  →  rationale  →  forced header  →  name  (→ forced separator → name)×(K−1)
 *                  →  forced closing + stop token  →  done
 *
 * where a candidate's name is its SID, or (labels format) a space and its letter.
 *
 * - rationale: any token whose text avoids the format's forbidden characters (JSON: `\` and
 *   control characters; compact: control characters) and is not a special token. The rationale
 *   ends with a "closer" token, one whose text contains the closer (JSON `"`, compact `\n`)
 *   followed by nothing or by a prefix of the header (so `."` or `", "` may end a JSON
 *   rationale); the rest of the header is then forced. After `maxRationaleTokens` the closer and
 *   header are forced, so every answer ends within `maxNewTokens` (the bound the factory reports).
 * - ranking: names are walked through the trie of the candidates' name token sequences,
 *   restricted to candidates not yet used; after the K-th name the closing text and the stop
 *   token are forced. A letter's sequence is its encoding (" F" is one word for a byte-level
 *   pre-tokeniser, so it encodes alike alone and inside an answer); the sequences must be
 *   prefix-free, so a complete name is never the start of another.
 *
 * Forced texts are encoded once by the tokenizer, so forced spans use the same ids an encoded
 * training answer would have around the SIDs (SID tokens are added tokens, so the text between
 * two SIDs is always tokenised on its own).
 *
 * Token classes are computed from each token's own decoded text. That is exact for byte-level
 * BPE: the closer and forbidden characters are ASCII, and an ASCII byte never occurs inside a
 * multi-byte UTF-8 sequence, so a token's bytes contain one exactly when its text does.
 */
import { tensor, type Tensor } from "../torch/index.js";
import type { LogitConstraint } from "../lm/generate.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { parseSid } from "../sid/sidmap.js";
import { GRAMMARS, type OutputFormat, type OutputGrammar } from "./output-format.js";

export interface PermutationConstraintOptions {
  tokenizer: TextTokenizer;
  format: OutputFormat;
  /**
   * Per row, the candidates' names (`RerankPrompt.candidateNames`: SIDs, or letters for the
   * labels format), any order; a single list applies to every row.
   */
  candidates: readonly (readonly string[])[];
  /** Most rationale tokens before the ranking is forced (0 = no rationale: a direct policy). */
  maxRationaleTokens: number;
  /** The token that ends the answer. Default: `<|im_end|>` (ChatML's end of turn). */
  stopToken?: number;
  /** The prompt already ends with the format's prefix (e.g. prefilled `{"explanation": "`). Default false. */
  prefilled?: boolean;
}

export interface PermutationConstraint {
  constraint: LogitConstraint;
  /** New tokens enough for any answer under this constraint: pass at least this as `maxNewTokens`. */
  maxNewTokens: number;
  /**
   * Per row, after generation (pass `GenerateResult.tokens`): the candidates' indices (into
   * that row's `candidates`) in generated order, the token span [start, end) of each of those
   * names, and whether the answer reached its stop token.
   */
  outcome(generated: readonly (readonly number[])[]): { ranking: number[]; spans: [number, number][]; complete: boolean }[];
  /**
   * For an answer decoded without the constraint: the index of its first token the grammar
   * does not allow (an unknown SID's first wrong code or letter, the token that can only repeat
   * a used candidate, a broken header), or null if every token is allowed. This is where an invalid
   * answer went wrong, which DAPO's `formatCredit: "first_error"` uses. `row` picks the
   * candidate list (default 0). Independent of any generation in progress.
   */
  firstViolation(tokens: readonly number[], row?: number): number | null;
  /**
   * Which part of the answer token `at` falls in, given the tokens before it are allowed:
   * the rationale, forced format text (header, separators, closing), or ranking entry k
   * (1-based). With firstViolation or a constrained decode's first override, it says where
   * an answer went wrong.
   */
  partAt(tokens: readonly number[], at: number, row?: number): AnswerPart;
}

/** A part of the answer: see `PermutationConstraint.partAt`. */
export type AnswerPart = { part: "rationale" } | { part: "format" } | { part: "ranking"; entry: number };

/** Per tokenizer and format: which tokens may appear in a rationale and which close it. */
interface VocabClasses {
  size: number;
  /** 1 where the token may be generated in the rationale (closers included). */
  rationale: Uint8Array;
  /** Closer token id → characters of the header its text already contains. */
  closerRest: Map<number, number>;
}

const classCache = new WeakMap<TextTokenizer, Map<string, VocabClasses>>();

function vocabClasses(tok: TextTokenizer, g: OutputGrammar): VocabClasses {
  let perTok = classCache.get(tok);
  if (!perTok) classCache.set(tok, (perTok = new Map()));
  const V = tok.vocabSize;
  const cached = perTok.get(g.format);
  if (cached && cached.size === V) return cached;
  const rationale = new Uint8Array(V);
  const closerRest = new Map<number, number>();
  for (let id = 0; id < V; id++) {
    if (tok.isSpecial(id)) continue;
    const text = tok.decodeSync([id]);
    if (text === "") continue; // unknown id or a token that decodes to nothing
    const at = text.indexOf(g.closer);
    const body = at < 0 ? text : text.slice(0, at);
    if (g.forbidden.test(body)) continue;
    if (at < 0) {
      rationale[id] = 1;
      continue;
    }
    const rest = text.slice(at + g.closer.length);
    if (g.header.startsWith(rest)) {
      rationale[id] = 1;
      closerRest.set(id, rest.length);
    }
  }
  const classes = { size: V, rationale, closerRest };
  perTok.set(g.format, classes);
  return classes;
}

type Phase =
  | { kind: "forced"; ids: readonly number[]; at: number; then: Phase }
  | { kind: "rationale"; n: number }
  | { kind: "name"; prefix: number[] }
  | { kind: "done" };

interface Row {
  /** Candidates' name token sequences. */
  seqs: number[][];
  used: number[];
  /** Token span [start, end) of each used name, in generated order. */
  spans: [number, number][];
  phase: Phase;
  consumed: number;
}

/** Builds the constraint (async: the forced texts are encoded once, up front). */
export async function permutationConstraint(o: PermutationConstraintOptions): Promise<PermutationConstraint> {
  const tok = o.tokenizer;
  const g = GRAMMARS[o.format];
  const byLabel = g.names === "label";
  if (!byLabel && !tok.sid) throw new Error("permutation constraint: the tokenizer has no SID tokens (addSidTokens first)");
  if (o.candidates.length === 0) throw new Error("permutation constraint: no candidate lists");
  if (!(Number.isInteger(o.maxRationaleTokens) && o.maxRationaleTokens >= 0)) throw new RangeError(`maxRationaleTokens must be an integer ≥ 0, got ${o.maxRationaleTokens}`);
  const stop = o.stopToken ?? tok.tokenToId("<|im_end|>");
  if (stop === undefined) throw new Error("permutation constraint: the tokenizer has no <|im_end|>; pass stopToken");

  const enc = async (text: string) => (text === "" ? [] : tok.encode(text));
  const labelSeqs = new Map<string, number[]>();
  const seqOf = async (name: string): Promise<number[]> => {
    if (!byLabel) return tok.sidTokenIds(parseSid(name, tok.sid!.levels, tok.sid!.codebookSize));
    let seq = labelSeqs.get(name);
    if (!seq) labelSeqs.set(name, (seq = await enc(g.lead + name)));
    return seq;
  };
  const seqsOf: number[][][] = [];
  for (const [row, names] of o.candidates.entries()) {
    if (names.length === 0) throw new Error(`permutation constraint: row ${row} has no candidates`);
    const seqs = await Promise.all(names.map(seqOf));
    if (new Set(seqs.map((s) => s.join(","))).size !== seqs.length) throw new Error(`permutation constraint: row ${row} names a candidate twice`);
    seqsOf.push(seqs);
  }
  // SIDs all have the same length, so distinct ones are prefix-free; letters depend on how the
  // tokenizer encodes them, checked once over every letter used.
  const letterKeys = [...labelSeqs].map(([name, s]) => [name, `${s.join(",")},`] as const);
  const clash = letterKeys.find(([, k]) => letterKeys.some(([, other]) => other !== k && other.startsWith(k)));
  if (clash) throw new Error(`permutation constraint: the tokens of candidate letter ${JSON.stringify(clash[0])} begin another letter's`);
  const classes = vocabClasses(tok, g);
  const prefixIds = await enc(g.prefix);
  const headerRest = await Promise.all(Array.from({ length: g.header.length + 1 }, (_, r) => enc(g.header.slice(r))));
  const closerHeader = await enc(g.closer + g.header);
  const separatorIds = await enc(g.separator);
  const closingIds = await enc(g.closing);

  const L = Math.max(...seqsOf.flat().map((s) => s.length));
  const K = Math.max(...seqsOf.map((s) => s.length));
  const maxNewTokens =
    (o.prefilled ? 0 : prefixIds.length) +
    o.maxRationaleTokens +
    Math.max(closerHeader.length, 1 + Math.max(...headerRest.map((h) => h.length))) +
    K * L +
    (K - 1) * separatorIds.length +
    closingIds.length +
    1;

  const forced = (ids: readonly number[], then: Phase): Phase => ({ kind: "forced", ids, at: 0, then });
  const afterName = (row: Row): Phase =>
    row.used.length === row.seqs.length ? forced([...closingIds, stop], { kind: "done" }) : forced(separatorIds, { kind: "name", prefix: [] });
  /** Skips exhausted forced spans and forces the ranking when the rationale is at its limit. */
  const settle = (p: Phase): Phase => {
    for (;;) {
      if (p.kind === "forced" && p.at >= p.ids.length) p = p.then;
      else if (p.kind === "rationale" && p.n >= o.maxRationaleTokens) p = forced(closerHeader, { kind: "name", prefix: [] });
      else return p;
    }
  };
  /** Name sequences still possible after `prefix` (the trie walk, over the unused candidates). */
  const matching = (row: Row, prefix: readonly number[]) =>
    row.seqs.filter((s, i) => !row.used.includes(i) && prefix.every((t, j) => s[j] === t));

  let rows: Row[] = [];
  const reset = (B: number) => {
    if (seqsOf.length !== 1 && seqsOf.length !== B) throw new Error(`permutation constraint: ${seqsOf.length} candidate lists for a batch of ${B} rows`);
    rows = Array.from({ length: B }, (_, b) => freshRow(b));
  };

  /** Moves `row` past `token`; false (and the row unchanged) when its state does not allow the token. */
  const advance = (row: Row, token: number): boolean => {
    const p = row.phase;
    switch (p.kind) {
      case "done":
        return true;
      case "forced":
        if (token !== p.ids[p.at]) return false;
        row.phase = settle({ ...p, at: p.at + 1 });
        return true;
      case "rationale": {
        if (!(token < classes.size && classes.rationale[token])) return false;
        const rest = classes.closerRest.get(token);
        row.phase = settle(rest === undefined ? { kind: "rationale", n: p.n + 1 } : forced(headerRest[rest]!, { kind: "name", prefix: [] }));
        return true;
      }
      case "name": {
        const prefix = [...p.prefix, token];
        const left = matching(row, prefix);
        if (left.length === 0) return false;
        // Names are prefix-free: a sequence as long as the prefix is the one complete name.
        const whole = left.find((s) => s.length === prefix.length);
        if (!whole) {
          row.phase = { kind: "name", prefix };
          return true;
        }
        row.used.push(row.seqs.indexOf(whole));
        row.phase = settle(afterName(row));
        return true;
      }
    }
  };
  const freshRow = (b: number): Row => ({
    seqs: seqsOf[seqsOf.length === 1 ? 0 : b]!,
    used: [],
    spans: [],
    phase: settle(o.prefilled ? { kind: "rationale", n: 0 } : forced(prefixIds, { kind: "rationale", n: 0 })),
    consumed: 0,
  });

  /** A fresh row for `row`'s candidates walked over tokens[0..end): its state, and the first token it did not allow (null if none). */
  const walk = (tokens: readonly number[], row: number, end: number): { state: Row; violation: number | null } => {
    const state = freshRow(row);
    for (let t = 0; t < Math.min(end, tokens.length); t++) if (!advance(state, tokens[t]!)) return { state, violation: t };
    return { state, violation: null };
  };

  const allow = (mask: Uint8Array, offset: number, V: number, row: Row): void => {
    const p = row.phase;
    switch (p.kind) {
      case "done":
        mask.fill(1, offset, offset + V);
        return;
      case "forced":
        mask[offset + p.ids[p.at]!] = 1;
        return;
      case "rationale":
        mask.set(classes.rationale.subarray(0, Math.min(V, classes.size)), offset);
        return;
      case "name":
        for (const s of matching(row, p.prefix)) mask[offset + s[p.prefix.length]!] = 1;
        return;
    }
  };

  /** Brings every row's state up to its generated tokens (starting afresh for a new generation). */
  const sync = (generated: readonly (readonly number[])[], step: number | null) => {
    const B = generated.length;
    // A new generation: step 0, another batch size, or rows shorter than what was consumed.
    if (step === 0 || rows.length !== B || generated.some((t, b) => t.length < rows[b]!.consumed)) reset(B);
    generated.forEach((tokens, b) => {
      const row = rows[b]!;
      for (; row.consumed < tokens.length; row.consumed++) {
        const token = tokens[row.consumed]!;
        const starts = row.phase.kind === "name" && row.phase.prefix.length === 0;
        const used = row.used.length;
        if (starts) row.spans.push([row.consumed, row.consumed]);
        if (!advance(row, token)) throw new Error(`permutation constraint: row ${b} generated token ${token} (${JSON.stringify(tok.decodeSync([token]))}), which the ${row.phase.kind} state does not allow`);
        if (row.used.length > used) row.spans[row.spans.length - 1]![1] = row.consumed + 1;
      }
    });
  };

  const constraint: LogitConstraint = (step, generated, logits: Tensor) => {
    const B = generated.length;
    sync(generated, step);
    const V = logits.size(1);
    const mask = new Uint8Array(B * V);
    rows.forEach((row, b) => allow(mask, b * V, V, row));
    return tensor(mask, [B, V], { dtype: "bool", device: logits.device });
  };

  return {
    constraint,
    maxNewTokens,
    outcome: (generated) => {
      // The stop token is sampled after the last constraint call: feed the tail first.
      sync(generated, null);
      return rows.map((r) => ({ ranking: [...r.used], spans: r.spans.slice(0, r.used.length).map(([a, b]) => [a, b]), complete: r.phase.kind === "done" }));
    },
    firstViolation: (tokens, row = 0) => walk(tokens, row, tokens.length).violation,
    partAt: (tokens, at, row = 0) => {
      const { state, violation } = walk(tokens, row, at);
      if (violation !== null) throw new RangeError(`partAt: token ${violation} of row ${row} is already outside the answer grammar (ask for at most ${violation})`);
      const p = state.phase;
      return p.kind === "rationale" ? { part: "rationale" } : p.kind === "name" ? { part: "ranking", entry: state.used.length + 1 } : { part: "format" };
    },
  };
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { candidateNames, formatOutput, sanitizeRationale } from "../../src/prompt/output-format.js";
import { PARSE_FAILURE_REASONS, parseRerankOutput, type ParseFailureReason, type ParseResult } from "../../src/prompt/parse-output.js";
import { formatSid } from "../../src/sid/sidmap.js";

const sids = Array.from({ length: 10 }, (_, i) => formatSid([i % 4, (i * 3) % 8, i]));
const stranger = formatSid([7, 7, 7]);
const order = [3, 0, 9, 1, 2, 8, 4, 7, 5, 6];
const json = (o: unknown) => JSON.stringify(o);
const opts = { candidateSids: sids } as const;

function fails(r: ParseResult, reason: ParseFailureReason, detail?: RegExp): void {
  assert.equal(r.ok, false, `expected ${reason}`);
  if (r.ok) return;
  assert.equal(r.reason, reason, r.detail);
  if (detail) assert.match(r.detail, detail);
}

test("valid JSON answers give the permutation as upstream indices and the explanation", () => {
  const text = formatOutput("json", "Shampoo then conditioner.", order.map((i) => sids[i]!));
  assert.equal(text, `{"explanation": "Shampoo then conditioner.", "recommendations": [${order.map((i) => `"${sids[i]}"`).join(", ")}]}`);
  const r = parseRerankOutput(text, { format: "json", ...opts });
  assert.ok(r.ok);
  assert.deepEqual(r.ranking, order);
  assert.equal(r.explanation, "Shampoo then conditioner.");
  assert.deepEqual(r.sids, order.map((i) => sids[i]!));
  // Any JSON spacing, surrounding whitespace, and escaped characters are fine.
  const compactJson = `\n  ${json({ recommendations: sids, explanation: 'say "hi"\n' })}  \n`;
  const r2 = parseRerankOutput(compactJson, { format: "json", ...opts });
  assert.ok(r2.ok);
  assert.deepEqual(r2.ranking, sids.map((_, i) => i));
  assert.equal(r2.explanation, 'say "hi"\n');
});

test("valid compact answers, with and without a rationale", () => {
  const text = formatOutput("compact", "Conditioner follows shampoo.", order.map((i) => sids[i]!));
  assert.equal(text, `Conditioner follows shampoo.\nRanking: ${order.map((i) => sids[i]!).join("")}`);
  const r = parseRerankOutput(text, { format: "compact", ...opts });
  assert.ok(r.ok);
  assert.deepEqual(r.ranking, order);
  assert.equal(r.explanation, "Conditioner follows shampoo.");
  const spaced = `Line one.\nLine two.\nRanking: ${order.map((i) => sids[i]!).join(", ")}\n`;
  const r2 = parseRerankOutput(spaced, { format: "compact", ...opts });
  assert.ok(r2.ok);
  assert.equal(r2.explanation, "Line one.\nLine two.");
  const bare = parseRerankOutput(formatOutput("compact", "", sids), { format: "compact", ...opts });
  assert.ok(bare.ok);
  assert.equal(bare.explanation, "");
});

test("labels answers name candidates by the letter of the position shown, and map back to upstream indices", () => {
  const shown = [4, 2, 0, 1, 3, 5, 6, 7, 8, 9]; // upstream 4 is shown first, as A
  const names = candidateNames("labels", sids, shown);
  assert.deepEqual(names, ["C", "D", "B", "E", "A", "F", "G", "H", "I", "J"]);
  const lo = { format: "labels", candidateSids: sids, candidateNames: names } as const;
  const text = formatOutput("labels", "candidate B matches.", order.map((i) => names[i]!));
  assert.equal(text, `candidate B matches.\nRanking: ${order.map((i) => names[i]!).join(" ")}`);
  const r = parseRerankOutput(text, lo);
  assert.ok(r.ok);
  assert.deepEqual(r.ranking, order);
  assert.deepEqual(r.sids, order.map((i) => sids[i]!), "the SIDs of the letters chosen");
  assert.ok(parseRerankOutput(`x\nRanking: ${order.map((i) => names[i]!).join(", ")}\n`, lo).ok, "commas between letters");
  fails(parseRerankOutput("x\nRanking: A B K", lo), "unknown_sid", /entry 3 K is not one of the 10 candidates' letters/);
  fails(parseRerankOutput("x\nRanking: A B A", lo), "duplicate", /entry 3 A repeats/);
  fails(parseRerankOutput("x\nRanking: A B C", lo), "incomplete", /3 of 10 candidates ranked; missing letters/);
  fails(parseRerankOutput("x\nRanking: A B Cat", lo), "malformed_sid", /after 2 letters: unexpected text "Cat"/);
  fails(parseRerankOutput(`x\nRanking: ${sids[0]}`, lo), "malformed_sid");
  fails(parseRerankOutput("A B C", lo), "missing_field");
  const partial = parseRerankOutput("x\nRanking: A B A", lo);
  assert.ok(!partial.ok && partial.partial.length === 2);
  assert.throws(() => parseRerankOutput(text, { format: "labels", candidateSids: sids }), /needs candidateNames/);
});

test("code fences are refused unless allowed, and then only around the whole answer", () => {
  const body = formatOutput("json", "x", sids);
  fails(parseRerankOutput("```json\n" + body + "\n```", { format: "json", ...opts }), "not_json");
  const fenced = parseRerankOutput("```json\n" + body + "\n```\n", { format: "json", ...opts, allowCodeFence: true });
  assert.ok(fenced.ok);
  assert.ok(parseRerankOutput("```\n" + body + "```", { format: "json", ...opts, allowCodeFence: true }).ok);
  fails(parseRerankOutput("Here you go:\n```json\n" + body + "\n```", { format: "json", ...opts, allowCodeFence: true }), "not_json");
  fails(parseRerankOutput("```json\n\n```", { format: "json", ...opts, allowCodeFence: true }), "empty");
});

test("every failure reason, with details naming the problem", () => {
  const p = (text: string, extra = {}) => parseRerankOutput(text, { format: "json", ...opts, ...extra });
  fails(p("   \n"), "empty");
  fails(p("{explanation: 'x'}"), "not_json");
  fails(p(`${formatOutput("json", "x", sids)} trailing`), "not_json");
  fails(p(`[${json(sids)}]`), "not_object", /array/);
  fails(p("42"), "not_object", /number/);
  fails(p(json({ explanation: "x" })), "missing_field", /"recommendations"/);
  fails(p(json({ recommendations: sids })), "missing_field", /"explanation"/);
  fails(p(json({ explanation: 3, recommendations: sids })), "wrong_type", /"explanation"/);
  fails(p(json({ explanation: "x", recommendations: sids.join("") })), "wrong_type", /array/);
  fails(p(json({ explanation: "x", recommendations: [...sids.slice(0, 9), 5] })), "wrong_type", /\[9\]/);
  fails(p(json({ explanation: "x", recommendations: sids, confidence: 0.9 })), "extra_field", /"confidence"/);
  assert.ok(p(json({ explanation: "x", recommendations: sids, confidence: 0.9 }), { allowExtraFields: true }).ok);
  fails(p(json({ explanation: "x", recommendations: [sids[0], "item 7", ...sids.slice(1)] })), "malformed_sid", /entry 2/);
  fails(p(json({ explanation: "x", recommendations: [sids[0], "<|sid_begin|><s_a_1><s_b_2><|sid_end|>", ...sids.slice(1)] })), "malformed_sid", /2 levels, expected 3/);
  fails(p(json({ explanation: "x", recommendations: [sids[0], stranger, ...sids.slice(1)] })), "unknown_sid", /entry 2/);
  fails(p(json({ explanation: "x", recommendations: [sids[0], sids[1], sids[0], ...sids.slice(2)] })), "duplicate", /entry 3 .* rank 1/);
  fails(p(json({ explanation: "x", recommendations: sids.slice(0, 7) })), "incomplete", /7 of 10 candidates ranked; missing/);
  fails(p(json({ explanation: "x", recommendations: [] })), "incomplete", /0 of 10/);
  const c = (text: string) => parseRerankOutput(text, { format: "compact", ...opts });
  fails(c(""), "empty");
  fails(c(`Because.\n${sids.join("")}`), "missing_field", /Ranking:/);
  fails(c(`x\nRanking: ${sids.slice(0, 5).join("")} and the rest`), "malformed_sid", /after 5 SIDs/);
  fails(c(`x\nRanking: ${sids[0]}${stranger}${sids.slice(1).join("")}`), "unknown_sid");
  fails(c(`x\nRanking: ${sids[0]}${sids[0]}${sids.slice(1).join("")}`), "duplicate");
  fails(c(`x\nRanking: ${sids.slice(0, 9).join("")}`), "incomplete");
  // Every declared reason is exercised above.
  assert.equal(PARSE_FAILURE_REASONS.length, 10);
});

test("the first bad entry decides, and `partial` keeps the valid entries before it", () => {
  const r = parseRerankOutput(json({ explanation: "x", recommendations: [sids[4], sids[2], stranger, sids[2]] }), { format: "json", ...opts });
  assert.ok(!r.ok);
  assert.equal(r.reason, "unknown_sid");
  assert.deepEqual(r.partial, [4, 2]);
  const d = parseRerankOutput(`x\nRanking: ${sids[1]}${sids[1]} junk`, { format: "compact", ...opts });
  assert.ok(!d.ok);
  assert.equal(d.reason, "duplicate", "an earlier duplicate wins over later junk");
  assert.deepEqual(d.partial, [1]);
});

test("SIDs are compared by their codes, so spacing at a SID's ends does not matter", () => {
  const padded = sids.map((s) => ` ${s} `);
  const r = parseRerankOutput(json({ explanation: "x", recommendations: padded }), { format: "json", ...opts });
  assert.ok(r.ok);
  assert.deepEqual(r.sids, sids);
});

test("sanitizeRationale makes any text safe for both formats", () => {
  const s = sanitizeRationale('  He said "buy"\\n\tnow\n\u0001ok \ud800 ');
  assert.equal(s, "He said 'buy'/n now ok");
  for (const format of ["json", "compact"] as const) {
    const r = parseRerankOutput(formatOutput(format, 'quote " back\\slash\nnew line', sids), { format, ...opts });
    assert.ok(r.ok, format);
    assert.equal(r.explanation, "quote ' back/slash new line");
  }
});

/**
 * The strict parser of a re-ranker's answer. It returns either a valid permutation of the
 * candidates (indices into the candidate list in upstream order, plus the explanation) or a
 * typed failure, so that rewards, evaluation and trace filtering all count the same failures
 * the same way.
 *
 * What is tolerated, and nothing else:
 * - whitespace around the whole answer;
 * - with `allowCodeFence` (off by default; teachers' answers turn it on): one Markdown code
 *   fence wrapping the whole answer (```` ```json … ``` ```` or ```` ``` … ``` ````), since chat
 *   models add them even when told not to;
 * - whitespace inside a SID string's ends (`parseSid` trims), and in the compact and labels
 *   formats, whitespace or commas between entries.
 *
 * Failure reasons, checked in this order:
 *   empty          the answer is blank
 *   not_json       (json) JSON.parse fails, including text before or after the object
 *   not_object     (json) valid JSON but not an object
 *   missing_field  (json) "explanation" or "recommendations" absent; (compact) no "Ranking:" line
 *   wrong_type     (json) "explanation" not a string, "recommendations" not an array of strings
 *   extra_field    (json) another key, unless `allowExtraFields`
 *   malformed_sid  an entry is not a well-formed SID (or, compact, text that is not a SID;
 *                  labels, text that is not a letter)
 *   unknown_sid    a well-formed SID (labels: a letter) that is not one of the candidates
 *   duplicate      a candidate named twice
 *   incomplete     fewer than K candidates named
 * Entries are checked in order, so the first bad entry decides the reason; `partial` holds the
 * valid entries before it (e.g. for graded rewards or diagnostics).
 */
import { parseSid } from "../sid/sidmap.js";
import { GRAMMARS, type OutputFormat } from "./output-format.js";

export type ParseFailureReason =
  | "empty"
  | "not_json"
  | "not_object"
  | "missing_field"
  | "wrong_type"
  | "extra_field"
  | "malformed_sid"
  | "unknown_sid"
  | "duplicate"
  | "incomplete";

export const PARSE_FAILURE_REASONS: readonly ParseFailureReason[] = [
  "empty", "not_json", "not_object", "missing_field", "wrong_type", "extra_field", "malformed_sid", "unknown_sid", "duplicate", "incomplete",
];

export interface ParseSuccess {
  ok: true;
  /** ranking[r] = upstream index of the candidate placed at rank r (0 = first). A permutation of 0..K-1. */
  ranking: number[];
  explanation: string;
  /** The candidates' SIDs, in ranked order. */
  sids: string[];
}

export interface ParseFailure {
  ok: false;
  reason: ParseFailureReason;
  /** What exactly was wrong, for logs and trace viewers. */
  detail: string;
  /** Upstream indices of the valid entries before the failure, in order. */
  partial: number[];
}

export type ParseResult = ParseSuccess | ParseFailure;

export interface ParseOptions {
  format: OutputFormat;
  /** The candidates' SIDs in upstream order. */
  candidateSids: readonly string[];
  /**
   * How the answer names the candidates, in upstream order (`candidateNames` of output-format.ts;
   * `RerankPrompt.candidateNames`). Required by the labels format; SID formats name by SID.
   */
  candidateNames?: readonly string[];
  /** Accept one code fence around the whole answer (default false). */
  allowCodeFence?: boolean;
  /** Accept JSON keys besides "explanation" and "recommendations" (default false). */
  allowExtraFields?: boolean;
}

const FENCE = /^```[A-Za-z0-9_-]*[ \t]*\r?\n([\s\S]*?)\r?\n?```$/;
const SID_AT = /<\|sid_begin\|>(?:<s_[a-z]_\d+>)+<\|sid_end\|>/y;
const LABEL_AT = /[A-Z](?![\p{L}\p{N}])/uy;

function failure(reason: ParseFailureReason, detail: string, partial: number[] = []): ParseFailure {
  return { ok: false, reason, detail, partial };
}

const show = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/**
 * Checks the entries in order and builds the permutation (shared by every format). SID entries
 * are compared by their codes, so whitespace inside a SID does not matter; letters as written.
 */
function rankEntries(entries: readonly string[], explanation: string, o: ParseOptions): ParseResult {
  const K = o.candidateSids.length;
  const byLabel = GRAMMARS[o.format].names === "label";
  const names = byLabel ? o.candidateNames : o.candidateSids;
  if (!names || names.length !== K) throw new RangeError(`parseRerankOutput: the ${o.format} format needs candidateNames, one per candidate`);
  const levels = byLabel ? 0 : parseSid(names[0]!).length;
  const keyOf = (name: string) => (byLabel ? name.trim() : parseSid(name, levels).join(","));
  const index = new Map(names.map((n, i) => [keyOf(n), i]));
  const ranking: number[] = [];
  const seen = new Set<number>();
  for (let r = 0; r < entries.length; r++) {
    const entry = entries[r]!;
    let key: string;
    try {
      key = keyOf(entry);
    } catch (e) {
      return failure("malformed_sid", `entry ${r + 1} ${show(entry)}: ${(e as Error).message.replace(/^invalid SID "[^"]*": /, "")}`, ranking);
    }
    const i = index.get(key);
    if (i === undefined) return failure("unknown_sid", `entry ${r + 1} ${entry.trim()} is not one of the ${K} candidates${byLabel ? "' letters" : ""}`, ranking);
    if (seen.has(i)) return failure("duplicate", `entry ${r + 1} ${entry.trim()} repeats candidate ${i + 1} (already at rank ${ranking.indexOf(i) + 1})`, ranking);
    seen.add(i);
    ranking.push(i);
  }
  if (ranking.length < K) {
    const missing = names.filter((_, i) => !seen.has(i));
    return failure("incomplete", `${ranking.length} of ${K} candidates ranked; missing ${byLabel ? "letters " : ""}${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""}`, ranking);
  }
  return { ok: true, ranking, explanation, sids: ranking.map((i) => o.candidateSids[i]!) };
}

function parseJson(text: string, o: ParseOptions): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return failure("not_json", (e as Error).message);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return failure("not_object", `expected a JSON object, got ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`);
  }
  const obj = value as Record<string, unknown>;
  for (const field of ["explanation", "recommendations"]) {
    if (!(field in obj)) return failure("missing_field", `no "${field}" field`);
  }
  if (typeof obj.explanation !== "string") return failure("wrong_type", `"explanation" must be a string, got ${JSON.stringify(obj.explanation)?.slice(0, 60)}`);
  const recs = obj.recommendations;
  if (!Array.isArray(recs)) return failure("wrong_type", `"recommendations" must be an array, got ${typeof recs}`);
  const bad = recs.findIndex((r) => typeof r !== "string");
  if (bad >= 0) return failure("wrong_type", `"recommendations"[${bad}] must be a SID string, got ${JSON.stringify(recs[bad])?.slice(0, 60)}`);
  if (!o.allowExtraFields) {
    const extra = Object.keys(obj).filter((k) => k !== "explanation" && k !== "recommendations");
    if (extra.length > 0) return failure("extra_field", `unexpected field${extra.length > 1 ? "s" : ""} ${extra.map((k) => JSON.stringify(k)).join(", ")}`);
  }
  return rankEntries(recs as string[], obj.explanation, o);
}

/** The compact and labels formats: a rationale, then a line of SIDs or letters after "Ranking:". */
function parseRankingLine(text: string, o: ParseOptions): ParseResult {
  const header = GRAMMARS[o.format].header.trim(); // "Ranking:"
  const entryAt = GRAMMARS[o.format].names === "label" ? LABEL_AT : SID_AT;
  // The ranking is the last line that starts with the header; everything before is the rationale.
  const last = text.lastIndexOf(`\n${header}`);
  const at = last >= 0 ? last + 1 : text.startsWith(header) ? 0 : -1;
  if (at < 0) return failure("missing_field", `no line starting with "${header}"`);
  const explanation = text.slice(0, at).trim();
  const body = text.slice(at + header.length);
  const entries: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < body.length && /[\s,]/.test(body[pos]!)) pos++;
    if (pos >= body.length) break;
    entryAt.lastIndex = pos;
    const m = entryAt.exec(body);
    if (!m) {
      // A bad entry: report it through rankEntries so `partial` is filled consistently.
      const partial = rankEntries(entries, explanation, o);
      const done = partial.ok ? partial.ranking : partial.reason === "incomplete" ? partial.partial : null;
      if (done === null) return partial;
      const what = entryAt === LABEL_AT ? "letter" : "SID";
      return failure("malformed_sid", `after ${entries.length} ${what}${entries.length === 1 ? "" : "s"}: unexpected text ${show(body.slice(pos))}`, done);
    }
    entries.push(m[0]);
    pos = entryAt.lastIndex;
  }
  return rankEntries(entries, explanation, o);
}

/** Parses one answer (see the file comment for what is tolerated and the failure reasons). */
export function parseRerankOutput(output: string, o: ParseOptions): ParseResult {
  if (o.candidateSids.length === 0) throw new RangeError("parseRerankOutput: no candidate SIDs");
  let text = output.trim();
  if (text === "") return failure("empty", "the answer is blank");
  if (o.allowCodeFence) {
    const m = FENCE.exec(text);
    if (m) text = m[1]!.trim();
    if (text === "") return failure("empty", "the code fence is empty");
  }
  return o.format === "json" ? parseJson(text, o) : parseRankingLine(text, o);
}

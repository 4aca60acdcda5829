/**
 * The answer formats a re-ranker may be asked for, defined once so that the prompt's
 * instructions, the teachers' written answers, the parser and the decoding constraint agree
 * character for character.
 *
 * - `json` (the paper's): `{"explanation": "<rationale>", "recommendations": ["<sid>", …]}`
 * - `compact` (for small models: ~40% fewer tokens around the SIDs, no JSON punctuation to
 *   learn): `<rationale>\nRanking: <sid><sid>…<sid>` — one line of rationale, then the SIDs
 *   back to back (each SID is delimited by its own begin/end tokens, so no separator is needed).
 * - `labels` (for the smallest models): the prompt letters its candidates `A`, `B`, … in the
 *   order shown, the rationale cites them by SID and letter, and the ranking names them by
 *   letter: `<rationale>\nRanking: F A B C D E G H I J`. Re-rankers built on chat LLMs name
 *   passages by identifier the same way (RankGPT's `[2] > [1]`). A small model that copies a
 *   ranking of ten six-token SIDs gets about one token in 120 wrong, so a third of its answers
 *   fail to parse; ten one-token letters leave it nothing to miscopy (docs/benchmarks.md).
 *
 * Every answer is `prefix + rationale + closer + header + name₁ + separator + name₂ … + closing`,
 * where a candidate's name is its SID, or `lead` + its letter; `OutputGrammar` names those
 * pieces, which is what the decoding constraint walks.
 */

export type OutputFormat = "json" | "compact" | "labels";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["json", "compact", "labels"];

export interface OutputGrammar {
  format: OutputFormat;
  /** Text before the rationale. */
  prefix: string;
  /** The single character that ends the rationale. */
  closer: string;
  /** Text after the closer, up to the first name (SID or letter). */
  header: string;
  /** Text between two names. */
  separator: string;
  /** Text after the last name. */
  closing: string;
  /** Characters the rationale may not contain (besides the closer), or the answer would not parse. */
  forbidden: RegExp;
  /** How the ranking names a candidate: by its SID, or by its letter in the prompt. */
  names: "sid" | "label";
  /** Text before each name in the ranking (labels: a space, so each letter is a word of its own). */
  lead: string;
}

/** Control characters (C0, DEL, C1) and lone surrogates: never valid inside a JSON string. */
const CONTROL = "\\u0000-\\u001f\\u007f-\\u009f";

export const GRAMMARS: Readonly<Record<OutputFormat, OutputGrammar>> = {
  json: {
    format: "json",
    prefix: '{"explanation": "',
    closer: '"',
    header: ', "recommendations": ["',
    separator: '", "',
    closing: '"]}',
    // A raw backslash would start an escape; control characters must be escaped in JSON.
    forbidden: new RegExp(`[\\\\${CONTROL}]`),
    names: "sid",
    lead: "",
  },
  compact: {
    format: "compact",
    prefix: "",
    closer: "\n",
    header: "Ranking: ",
    separator: "",
    closing: "",
    forbidden: new RegExp(`[${CONTROL}]`),
    names: "sid",
    lead: "",
  },
  labels: {
    format: "labels",
    prefix: "",
    closer: "\n",
    header: "Ranking:",
    separator: "",
    closing: "",
    forbidden: new RegExp(`[${CONTROL}]`),
    names: "label",
    lead: " ",
  },
};

/** Candidate letters, in the order the prompt shows the candidates (so at most 26 candidates). */
export const CANDIDATE_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** The letter of the j-th candidate shown (0-based). */
export function candidateLabel(j: number): string {
  const label = CANDIDATE_LABELS[j];
  if (label === undefined || !Number.isInteger(j)) throw new RangeError(`candidate ${j + 1}: the labels format names at most ${CANDIDATE_LABELS.length} candidates`);
  return label;
}

/**
 * How an answer in `format` names each candidate, in upstream order: its SID, or the letter of
 * the position the prompt shows it at (`shownOrder[j]` = upstream index of the j-th shown).
 */
export function candidateNames(format: OutputFormat, candidateSids: readonly string[], shownOrder: readonly number[]): string[] {
  if (GRAMMARS[format].names === "sid") return [...candidateSids];
  const names = new Array<string>(candidateSids.length);
  shownOrder.forEach((u, j) => (names[u] = candidateLabel(j)));
  return names;
}

/**
 * Makes a rationale safe for both formats: double quotes become single quotes, backslashes
 * become slashes, line breaks and tabs become spaces, other control characters and lone
 * surrogates are dropped, runs of spaces collapse. Teachers' rationales go through this before
 * they are written, so every trace is text the decoding constraint could have produced.
 */
export function sanitizeRationale(text: string): string {
  return text
    .replace(/"/g, "'")
    .replace(/\\/g, "/")
    .replace(/[\t\n\r\u000b\u000c\u0085\u2028\u2029]/g, " ")
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, "")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "")
    .replace(/ {2,}/g, " ")
    .trim();
}

/**
 * Writes an answer in `format`. The rationale is sanitised (see `sanitizeRationale`); the
 * candidates' names (SIDs or letters, see `candidateNames`) are written as given, in order. The
 * JSON form equals `JSON.stringify`'s output with ", " and ": " spacing, and parses back with
 * `parseRerankOutput`.
 */
export function formatOutput(format: OutputFormat, rationale: string, names: readonly string[]): string {
  const g = GRAMMARS[format];
  return g.prefix + sanitizeRationale(rationale) + g.closer + g.header + names.map((n) => g.lead + n).join(g.separator) + g.closing;
}

/** One line describing the expected answer, for the prompt's instructions. */
export function formatInstructions(format: OutputFormat, k: number): string {
  if (format === "json") {
    return (
      `Answer with JSON only, in exactly this form: {"explanation": "<your reasoning in one paragraph, citing items by SID>", ` +
      `"recommendations": ["<SID>", "<SID>", …]}. "recommendations" lists all ${k} candidate SIDs, most likely first, each exactly once.`
    );
  }
  if (format === "labels") {
    return (
      `Answer in exactly two lines: first your reasoning in one line, citing candidates by SID and letter; then "Ranking:" followed by ` +
      `the letters of all ${k} candidates, most likely first, each exactly once.`
    );
  }
  return (
    `Answer in exactly two lines: first your reasoning in one line, citing items by SID; then "Ranking: " followed by all ${k} ` +
    `candidate SIDs written back to back, most likely first, each exactly once.`
  );
}

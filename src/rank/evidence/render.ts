/**
 * Evidence as the prompt shows it: a few fixed phrases after each candidate line, or a short
 * suffix after each SID in the direct policy's SIDs-only prompt. The phrases are the same on
 * every line, zeros included ("co-bought: 0"), so a small model compares like with like across
 * the ten candidates; the history item a co-purchase follows is named by its number in the
 * prompt's history list (`#7`), not by its SID, which would cost ~6 tokens a line.
 */
import { showsCobuy, showsLine, showsMeta, showsRank, type CandidateEvidence, type EvidenceSet } from "./features.js";

/**
 * The full layout's clause for one candidate, e.g. `co-bought: 5 after #7 | popularity: high |
 * same category: 2 | same brand: 0`; `shownFrom` is the history index of the prompt's item #1
 * (older items were cut), "" for the `none` set.
 */
export function evidenceClause(e: CandidateEvidence, set: EvidenceSet, shownFrom = 0): string {
  const parts: string[] = [];
  if (showsRank(set) && e.scoreRank !== undefined) parts.push(`evidence rank: ${e.scoreRank}`);
  if (showsCobuy(set)) {
    const where = e.coBuyAfter >= shownFrom && e.coBuyBest > 0 ? ` after #${e.coBuyAfter - shownFrom + 1}` : "";
    // "same brand" here: co-bought after a purchase of its own brand (a product line).
    const line = showsLine(set) && e.coBuyLine > 0 ? ", same brand" : "";
    parts.push(`co-bought: ${e.coBuy}${where}${line}${e.coBuyTop ? " (the most)" : ""}`);
  }
  if (showsMeta(set)) {
    parts.push(`popularity: ${e.band}`, `same category: ${e.sameCategory}`, `same brand: ${e.sameBrand}`);
    if (e.repeat) parts.push("bought before");
  }
  return parts.join(" | ");
}

/**
 * The direct policy's compact form after a SID: `(5,h)` = co-bought 5, popularity high;
 * `(5!,hcb)` = the list's most co-bought, in a recent category and brand; `(r2,5!,hcb)` the
 * same, second under the evidence scorer (the `ranked` set); "" for `none`.
 */
export function evidenceSuffix(e: CandidateEvidence, set: EvidenceSet): string {
  const parts: string[] = [];
  if (showsRank(set) && e.scoreRank !== undefined) parts.push(`r${e.scoreRank}`);
  if (showsCobuy(set)) parts.push(`${e.coBuy}${e.coBuyTop ? "!" : ""}`);
  if (showsMeta(set)) parts.push(e.band[0]! + (e.sameCategory > 0 ? "c" : "") + (e.sameBrand > 0 ? "b" : ""));
  return parts.length > 0 ? `(${parts.join(",")})` : "";
}

/**
 * The compact form's product-line marker, `*` right after a candidate's letter: co-bought after
 * a purchase of its own brand (`coBuyLine`); "" otherwise or without the `all` set.
 */
export function evidenceMark(e: CandidateEvidence, set: EvidenceSet): string {
  return showsLine(set) && e.coBuyLine > 0 ? "*" : "";
}

/**
 * Evidence as the prompt shows it: a few fixed phrases after each candidate line, or a short
 * suffix after each SID in the direct policy's SIDs-only prompt. The phrases are the same on
 * every line, zeros included ("co-bought: 0"), so a small model compares like with like across
 * the ten candidates; the history item a co-purchase follows is named by its number in the
 * prompt's history list (`#7`), not by its SID, which would cost ~6 tokens a line.
 */
import { showsCobuy, showsMeta, type CandidateEvidence, type EvidenceSet } from "./features.js";

/**
 * The full layout's clause for one candidate, e.g. `co-bought: 5 after #7 | popularity: high |
 * same category: 2 | same brand: 0`; `shownFrom` is the history index of the prompt's item #1
 * (older items were cut), "" for the `none` set.
 */
export function evidenceClause(e: CandidateEvidence, set: EvidenceSet, shownFrom = 0): string {
  const parts: string[] = [];
  if (showsCobuy(set)) {
    const where = e.coBuyAfter >= shownFrom && e.coBuyBest > 0 ? ` after #${e.coBuyAfter - shownFrom + 1}` : "";
    parts.push(`co-bought: ${e.coBuy}${where}${e.coBuyTop ? " (the most)" : ""}`);
  }
  if (showsMeta(set)) {
    parts.push(`popularity: ${e.band}`, `same category: ${e.sameCategory}`, `same brand: ${e.sameBrand}`);
    if (e.repeat) parts.push("bought before");
  }
  return parts.join(" | ");
}

/** The direct policy's compact form after a SID: `(5,h)` = co-bought 5, popularity high; "" for `none`. */
export function evidenceSuffix(e: CandidateEvidence, set: EvidenceSet): string {
  const parts: string[] = [];
  if (showsCobuy(set)) parts.push(`${e.coBuy}${e.coBuyTop ? "!" : ""}`);
  if (showsMeta(set)) parts.push(e.band[0]! + (e.sameCategory > 0 ? "c" : "") + (e.sameBrand > 0 ? "b" : ""));
  return parts.length > 0 ? `(${parts.join(",")})` : "";
}

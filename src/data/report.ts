/**
 * Helpers for the `ReadReport` every reader returns: nothing is dropped or repaired silently,
 * each deliberate skip is counted under a reason that says what and why.
 */
import type { ReadReport } from "./types.js";

export function newReport(files: string[] = []): ReadReport {
  return { files, skipped: {}, notes: [] };
}

/** Adds `count` under `reason`; a zero count adds nothing, so reports list only what happened. */
export function countSkip(report: ReadReport, reason: string, count = 1): void {
  if (count > 0) report.skipped[reason] = (report.skipped[reason] ?? 0) + count;
}

/**
 * Turns timestamped interaction rows (RecBole .inter, MovieLens u.data, JSONL events) into
 * per-user, time-ordered sequences.
 *
 * Order: by (timestamp, row index in the file). Timestamps tie a lot (MovieLens: 50,561 ratings
 * share a second with another rating of the same user), so a fixed tie-breaker is required for
 * reproducible splits; the row index is the one RecBole and SASRec preprocessing effectively
 * use (a stable sort of the file's rows).
 */
import { countSkip } from "./report.js";
import { MIN_SEQUENCE_FOR_SPLIT } from "./split.js";
import type { Interactions, ReadReport } from "./types.js";

export interface Event {
  user: string;
  item: number;
  /** Timestamp (any monotonic unit); equal values are ordered by `row`. */
  time: number;
  /** Position of the row in its file (or in the reader's event stream). */
  row: number;
  rating?: number;
}

export interface GroupOptions {
  /** Keep only events whose rating is at least this (events without a rating are kept). */
  minRating?: number;
  /**
   * After filtering, drop users with fewer items than this (counted in the report). Default: 1,
   * or, with `minRating`, the 3 items a leave-one-out split needs.
   */
  minUserItems?: number;
  /**
   * Order of users in the result: "numeric" sorts integer-looking ids by value (MovieLens),
   * "first-seen" keeps the order in which users first appear in the file.
   */
  userOrder?: "numeric" | "first-seen";
}

export function groupByUser(events: readonly Event[], report: ReadReport, options: GroupOptions = {}): Interactions {
  const byUser = new Map<string, Event[]>();
  let belowRating = 0;
  for (const e of events) {
    // Register the user before filtering, so a user whose every rating is filtered out is
    // counted as dropped rather than vanishing.
    let list = byUser.get(e.user);
    if (!list) byUser.set(e.user, (list = []));
    if (options.minRating !== undefined && e.rating !== undefined && e.rating < options.minRating) {
      belowRating++;
      continue;
    }
    list.push(e);
  }
  countSkip(report, `interactions rated below ${options.minRating}`, belowRating);

  let users = [...byUser.keys()];
  if (options.userOrder === "numeric") users.sort(compareIds);
  const minItems = options.minUserItems ?? (options.minRating === undefined ? 1 : MIN_SEQUENCE_FOR_SPLIT);
  const short = users.filter((u) => byUser.get(u)!.length < minItems);
  if (short.length > 0) {
    countSkip(report, `users with fewer than ${minItems} interactions after filtering`, short.length);
    countSkip(report, "interactions of dropped users", short.reduce((sum, u) => sum + byUser.get(u)!.length, 0));
    users = users.filter((u) => byUser.get(u)!.length >= minItems);
  }

  const sequences = users.map((u) => byUser.get(u)!.sort(byTimeThenRow).map((e) => e.item));
  return { userIds: users, sequences };
}

function byTimeThenRow(a: Event, b: Event): number {
  return a.time - b.time || a.row - b.row;
}

/** Integer ids by value, then anything else as strings: "2" < "10" < "abc". */
function compareIds(a: string, b: string): number {
  const na = /^\d+$/.test(a) ? Number(a) : Number.NaN;
  const nb = /^\d+$/.test(b) ? Number(b) : Number.NaN;
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb || (a < b ? -1 : a > b ? 1 : 0);
  if (!Number.isNaN(na)) return -1;
  if (!Number.isNaN(nb)) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

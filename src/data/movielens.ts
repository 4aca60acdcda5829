/**
 * Reader for MovieLens 100K (GroupLens, 1998), the folder `ml-100k/` as distributed:
 *
 * - `u.data`: TAB-separated `user_id item_id rating unix_timestamp`, one rating per line, in
 *   random order.
 * - `u.item`: `|`-separated (not TAB, whatever the README says) and ISO-8859-1 encoded:
 *   `id|title|release date|video release date|IMDb URL|` then 19 0/1 genre flags in the order
 *   of `u.genre` (`MOVIELENS_GENRES`). The genres whose flag is 1 become the item's categories.
 *
 * Each user's sequence is ordered by (timestamp, row index in u.data). Timestamps tie a lot
 * (every user has ratings sharing a second), and the row index is the tie-breaker RecBole and
 * SASRec preprocessing effectively use (a stable sort of the file). Users are ordered by id.
 *
 * With `minRating` (e.g. 4, "positives only"), lower ratings are dropped and users left with
 * fewer than 3 items (too few for leave-one-out) are dropped too; both are counted in the report
 * (see events.ts).
 */
import { join } from "node:path";
import { CatalogueBuilder } from "./catalogue.js";
import { DataError, snippet, type Where } from "./errors.js";
import { groupByUser, type Event } from "./events.js";
import { readText, splitLines } from "./files.js";
import { countSkip, newReport } from "./report.js";
import type { Dataset, ReadReport } from "./types.js";

/** The 19 genres of `u.genre`, in flag order. */
export const MOVIELENS_GENRES = [
  "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
  "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
] as const;

export interface MovieLensOptions {
  /** Keep only ratings ≥ this (1–5); users left with < 3 items are dropped. */
  minRating?: number;
}

export function readMovieLens(dir: string, options: MovieLensOptions = {}): Dataset {
  const itemFile = join(dir, "u.item");
  const dataFile = join(dir, "u.data");
  const report = newReport([dataFile, itemFile]);
  const catalogue = readMovies(itemFile, report);

  const events: Event[] = [];
  const dataFormat = { file: dataFile, delimiter: "\t", columns: ["user_id", "item_id", "rating", "timestamp"] };
  forEachRecord(dataFormat, report, (fields, where) => {
    const [user, item, rating, time] = fields;
    events.push({
      user: integer(user!, "user_id", where),
      item: catalogue.resolve(item!, where),
      rating: Number(integer(rating!, "rating", where)),
      time: Number(integer(time!, "timestamp", where)),
      row: events.length,
    });
  });
  const interactions = groupByUser(events, report, { minRating: options.minRating, userOrder: "numeric" });
  return { catalogue: catalogue.build("movielens-100k"), interactions, report };
}

function readMovies(file: string, report: ReadReport): CatalogueBuilder {
  const catalogue = new CatalogueBuilder(file);
  const columns = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", ...MOVIELENS_GENRES.map((g) => `genre ${g}`)];
  forEachRecord({ file, delimiter: "|", columns, encoding: "latin1" }, report, (fields, where) => {
    const flags = fields.slice(5);
    const bad = flags.findIndex((f) => f !== "0" && f !== "1");
    if (bad >= 0) throw new DataError(where, `expected a 0/1 flag for genre ${MOVIELENS_GENRES[bad]}, got ${snippet(flags[bad]!)}`);
    const id = integer(fields[0]!, "movie_id", where);
    catalogue.add({ id, title: fields[1], categories: MOVIELENS_GENRES.filter((_, g) => flags[g] === "1") }, where);
  });
  return catalogue;
}

/** A delimited text file without quoting, with the names of its columns (for error messages). */
interface DelimitedFormat {
  file: string;
  delimiter: string;
  columns: readonly string[];
  encoding?: "utf8" | "latin1";
}

/**
 * Calls `onRecord` for each non-blank line split on the delimiter, after checking the field
 * count against the columns (named in the error). Blank lines are counted as skipped.
 */
function forEachRecord(
  { file, delimiter, columns, encoding }: DelimitedFormat,
  report: ReadReport,
  onRecord: (fields: string[], where: Where) => void,
): void {
  let blank = 0;
  splitLines(readText(file, encoding)).forEach(({ line, text }) => {
    if (text.trim() === "") {
      blank++;
      return;
    }
    const fields = text.split(delimiter);
    const where = { file, line };
    if (fields.length !== columns.length) {
      const separator = delimiter === "\t" ? "TAB" : `"${delimiter}"`;
      const names = columns.slice(0, 5).join(", ") + (columns.length > 5 ? ", …" : "");
      throw new DataError(where, `expected ${columns.length} ${separator}-separated fields (${names}), got ${fields.length}`);
    }
    onRecord(fields, where);
  });
  countSkip(report, `blank lines in ${file}`, blank);
}

/** A non-negative integer field, returned as the string it was written as (ids are strings). */
function integer(value: string, column: string, where: Where): string {
  if (!/^\d+$/.test(value)) throw new DataError(where, `expected an integer ${column}, got ${snippet(value)}`);
  return value;
}

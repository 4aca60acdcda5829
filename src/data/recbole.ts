/**
 * Reader for general RecBole atomic-file datasets (https://recbole.io/docs/user_guide/data/atomic_files.html).
 *
 * Layout: a folder `<name>/` holding `<name>.inter` and, optionally, `<name>.item`; both are
 * TAB-separated with a typed header (see atomic.ts).
 *
 * - `.inter`: `user_id:token`, `item_id:token`, `timestamp:float` and optionally `rating:float`;
 *   other columns are ignored. One row per interaction, in any order. Each user's sequence is
 *   sorted by (timestamp, row index in the file). Without a timestamp column the file order is
 *   the time order (noted in the report).
 * - `.item`: `item_id:token` plus any of `title`/`movie_title`/`name`, `categories`/`category`/
 *   `genre`/`class` (token_seq), `brand`, `price` (float), `description`. When the `.item` file
 *   exists, an `.inter` row naming an item it lacks is an error; without it, items are created as
 *   they first appear, with no text.
 *
 * `readRecbole(path)` accepts the folder, the `.inter` file, or the path without extension.
 */
import { atomicItems, readAtomicFile } from "./atomic.js";
import { CatalogueBuilder } from "./catalogue.js";
import { DataError } from "./errors.js";
import { groupByUser, type Event } from "./events.js";
import { findOneFile, isDirectory } from "./files.js";
import { newReport } from "./report.js";
import type { Dataset } from "./types.js";
import { existsSync } from "node:fs";
import { basename } from "node:path";

export interface RecboleOptions {
  /** Keep only interactions rated at least this (rows without a rating are kept). */
  minRating?: number;
  /** Drop users with fewer interactions than this after filtering (counted); see events.ts for the default. */
  minUserItems?: number;
}

export interface RecbolePaths {
  name: string;
  inter: string;
  item?: string;
}

/** Finds the `.inter` (and `.item`) file from a folder, a `.inter` path or a stem. */
export function resolveRecbolePaths(path: string): RecbolePaths {
  const inter = isDirectory(path) ? findOneFile(path, /\.inter$/, ".inter file") : path.endsWith(".inter") ? path : `${path}.inter`;
  if (!existsSync(inter)) throw new DataError({ file: inter }, "expected a RecBole .inter file here; it does not exist");
  const stem = inter.slice(0, -".inter".length);
  return { name: basename(stem), inter, item: existsSync(`${stem}.item`) ? `${stem}.item` : undefined };
}

export function readRecbole(path: string, options: RecboleOptions = {}): Dataset {
  const paths = resolveRecbolePaths(path);
  const report = newReport();
  const catalogue = new CatalogueBuilder(paths.item ?? "the .item file");
  if (paths.item) {
    for (const { raw, where } of atomicItems(readAtomicFile(paths.item, report))) catalogue.add(raw, where);
  } else {
    report.notes.push(`no ${paths.name}.item file: items have no text, only their ids`);
  }

  const inter = readAtomicFile(paths.inter, report);
  inter.requireColumn("user_id", "user_id:token");
  inter.requireColumn("item_id", "item_id:token");
  const hasTime = inter.has("timestamp");
  if (!hasTime) report.notes.push(`${paths.inter} has no timestamp column: the file order is taken as the time order`);
  const rating = inter.firstColumn("rating");

  const events: Event[] = inter.rows.map((row, index) => {
    const where = inter.where(row);
    const id = inter.token(row, "item_id");
    const item = paths.item ? catalogue.resolve(id, where) : (catalogue.indexOf(id) ?? catalogue.add({ id }, where).index);
    return {
      user: inter.token(row, "user_id"),
      item,
      time: hasTime ? inter.requiredFloat(row, "timestamp") : 0,
      row: index,
      rating: inter.float(row, rating),
    };
  });
  const interactions = groupByUser(events, report, { ...options, userOrder: "first-seen" });
  return { catalogue: catalogue.build(paths.name), interactions, report };
}

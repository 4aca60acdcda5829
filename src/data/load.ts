/**
 * One entry point for every dataset: `loadDataset({ name })` dispatches by name.
 *
 * | name               | reads                                                           |
 * |--------------------|-----------------------------------------------------------------|
 * | `amazon-beauty`    | P5/S3-Rec Amazon files (amazon.ts); generally `amazon-<name>`   |
 * | `movielens-100k`   | `u.data` + `u.item` (movielens.ts)                              |
 * | `recbole:<path>`   | RecBole atomic files at a folder or `.inter` path (recbole.ts)  |
 * | `jsonl:<dir>`      | `items.jsonl` + `interactions.jsonl` (jsonl.ts)                 |
 * | `synthetic`        | the seeded generator (synthetic.ts): `users`, `items`, `seed`   |
 *
 * Named public datasets are looked for in the data dir (option `dataDir`, else the environment
 * variable GR2_DATA_DIR): in the folder itself, or in its sub-folder named as `fetchDataset`
 * lays it out (`amazon-beauty-2014`, `movielens-100k`) or after the dataset (`amazon-<name>`,
 * `ml-100k`).
 */
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { isAmazonFolder, readAmazon } from "./amazon.js";
import { DataError } from "./errors.js";
import { readJsonl } from "./jsonl.js";
import { readMovieLens } from "./movielens.js";
import { readRecbole } from "./recbole.js";
import { findDatasetSource } from "./sources.js";
import { generateSynthetic } from "./synthetic.js";
import type { Dataset } from "./types.js";

export { datasetStats, type DatasetStats } from "./stats.js";

export const DATA_DIR_ENV = "GR2_DATA_DIR";

export interface LoadOptions {
  name: string;
  /** Folder holding the public datasets; defaults to $GR2_DATA_DIR. */
  dataDir?: string;
  /** synthetic: number of users, number of items, seed, sequence length bounds. */
  users?: number;
  items?: number;
  seed?: number;
  minLen?: number;
  maxLen?: number;
  /** synthetic: the chance a complement step follows the item's product line (see SyntheticOptions). */
  productLines?: number;
  /** synthetic: words of description per item (see SyntheticOptions). */
  descriptionWords?: number;
  /** movielens-100k and recbole: keep only ratings ≥ this (users left with < 3 items are dropped). */
  minRating?: number;
}

const KNOWN = "amazon-<name> (e.g. amazon-beauty), movielens-100k, recbole:<path>, jsonl:<dir>, synthetic";

export async function loadDataset(options: LoadOptions): Promise<Dataset> {
  const { name } = options;
  if (name === "synthetic") {
    return generateSynthetic({ users: options.users, items: options.items, seed: options.seed, minLen: options.minLen, maxLen: options.maxLen, productLines: options.productLines, descriptionWords: options.descriptionWords });
  }
  if (name.startsWith("recbole:")) {
    return readRecbole(resolve(name.slice("recbole:".length)), { minRating: options.minRating });
  }
  if (name.startsWith("jsonl:")) {
    const dir = resolve(name.slice("jsonl:".length));
    return readJsonl(dir, { name: basename(dir) });
  }
  const source = findDatasetSource(name);
  if (source?.name === "movielens-100k") {
    const dir = findDataFolder(options.dataDir, [source.folder, "ml-100k"], (d) => existsSync(join(d, "u.data")), "MovieLens-100K (u.data)");
    return readMovieLens(dir, { minRating: options.minRating });
  }
  const amazon = source?.name ?? name.toLowerCase();
  if (amazon.startsWith("amazon-")) {
    const short = amazon.slice("amazon-".length);
    const folders = [...(source ? [source.folder] : []), amazon];
    const dir = findDataFolder(options.dataDir, folders, (d) => isAmazonFolder(d, short), `${amazon} (${short}.txt, any case)`);
    return readAmazon(dir, { name: short });
  }
  throw new DataError(undefined, `unknown dataset "${name}"; expected one of: ${KNOWN}`);
}

/** The data dir itself or the first of its `subfolders` that `holds` the dataset. */
function findDataFolder(dataDir: string | undefined, subfolders: readonly string[], holds: (dir: string) => boolean, what: string): string {
  const root = dataDir ?? process.env[DATA_DIR_ENV];
  if (!root) throw new DataError(undefined, `no data dir for ${what}: pass --data-dir (dataDir) or set ${DATA_DIR_ENV}`);
  const candidates = [root, ...subfolders.map((s) => join(root, s))];
  const found = candidates.find(holds);
  const places = subfolders.map((s) => `${s}/`).join(" or ");
  if (!found) throw new DataError({ file: root }, `expected the ${what} files here or in ${places}; not found`);
  return found;
}

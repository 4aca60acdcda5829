/**
 * Reader for the P5 / S3-Rec layout of the Amazon 2014 review datasets (Beauty, Sports, Toys …),
 * joined with RecBole's item metadata. Three files in one folder:
 *
 * - `<Name>.txt` (e.g. `Beauty.txt`): one line per user, `user_id item_id item_id …`,
 *   space-separated integers, ids from 1, items in time order (S3-Rec sorted each user's
 *   reviews by time with a stable sort). The file order of the lines is kept.
 * - `datamaps.json`: a JSON object whose `id2item` maps those item ids to ASINs and whose
 *   `id2user` maps user ids to reviewer ids (other maps in it are ignored).
 * - `Amazon_<Name>.item` (optional): a RecBole atomic file keyed by ASIN, with a typed header
 *   `item_id:token title:token sales_type:token sales_rank:float categories:token_seq
 *   price:float brand:token`; categories is a Python-list-like string (see atomic.ts, pylist.ts).
 *
 * Dense item indices follow the numeric order of `id2item` keys, so on Beauty item index
 * k − 1 is P5 item k. `Item.id` is the ASIN; `userIds` are the reviewer ids from `id2user`.
 */
import { atomicItems, readAtomicFile } from "./atomic.js";
import { CatalogueBuilder, UniqueIds, unknownIdError, type RawItem } from "./catalogue.js";
import { DataError, snippet } from "./errors.js";
import { findOneFile, findOptionalFile, listFiles, parseJson, readText, splitLines } from "./files.js";
import { countSkip, newReport } from "./report.js";
import type { Dataset, Interactions, ReadReport } from "./types.js";

export interface AmazonPaths {
  /** e.g. "Beauty", the stem of the sequence file. */
  name: string;
  sequences: string;
  datamaps: string;
  items?: string;
}

/**
 * Finds the files in `dir`. With `name` ("beauty", "sports-and-outdoors"), looks for
 * `<name>.txt` and `Amazon_<name>.item` ignoring case and treating `-` and `_` alike; without
 * it, the name is taken from the one `Amazon_<Name>.item` in the folder.
 */
export function findAmazonFiles(dir: string, name?: string): AmazonPaths {
  let itemFile: string | undefined;
  if (name === undefined) {
    itemFile = findOneFile(dir, /^Amazon_.+\.item$/i, "Amazon_<Name>.item file (or pass the dataset name)");
    name = /Amazon_(.+)\.item$/i.exec(itemFile)![1]!;
  } else {
    itemFile = findOptionalFile(dir, namePattern("Amazon_", name, ".item"), `Amazon_${name}.item file`);
  }
  const sequences = findOneFile(dir, namePattern("", name, ".txt"), `${name}.txt sequence file`);
  const datamaps = findOneFile(dir, /^datamaps\.json$/i, "datamaps.json file");
  return { name: /([^/\\]+)\.txt$/i.exec(sequences)![1]!, sequences, datamaps, items: itemFile };
}

/** Whether `dir` holds the sequence file of dataset `name` (used to locate the folder). */
export function isAmazonFolder(dir: string, name: string): boolean {
  return listFiles(dir, namePattern("", name, ".txt")).length > 0;
}

function namePattern(prefix: string, name: string, suffix: string): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const body = name.split(/[-_]/).map(escape).join("[-_]");
  return new RegExp(`^${escape(prefix)}${body}${escape(suffix)}$`, "i");
}

export function readAmazon(dir: string, options: { name?: string } = {}): Dataset {
  const paths = findAmazonFiles(dir, options.name);
  const report = newReport([paths.sequences, paths.datamaps]);
  const maps = readDatamaps(paths.datamaps);
  const metadata = paths.items ? readItemMetadata(paths.items, report) : new Map<string, RawItem>();
  if (!paths.items) report.notes.push(`no Amazon_${paths.name}.item file: items have no text, only their ASINs`);

  // Catalogue in the numeric order of the P5 item ids, joined with the metadata by ASIN.
  const catalogue = new CatalogueBuilder(`${paths.datamaps} id2item`);
  const p5ToIndex = new Map<string, number>();
  let withoutMetadata = 0;
  for (const p5 of maps.itemIds) {
    const asin = maps.id2item[p5]!;
    const raw = metadata.get(asin);
    if (!raw) withoutMetadata++;
    p5ToIndex.set(p5, catalogue.add(raw ?? { id: asin }, { file: paths.datamaps }).index);
    metadata.delete(asin);
  }
  if (paths.items) countSkip(report, "items without a metadata row (kept, no text)", withoutMetadata);
  countSkip(report, "metadata rows for ASINs not in datamaps.json id2item", metadata.size);

  const interactions = readSequences(paths.sequences, p5ToIndex, maps.id2user, report, `${paths.datamaps} id2item`);
  return { catalogue: catalogue.build(`amazon-${paths.name.toLowerCase()}`), interactions, report };
}

interface Datamaps {
  /** P5 item ids in numeric order. */
  itemIds: string[];
  id2item: Record<string, string>;
  id2user: Record<string, string>;
}

function readDatamaps(file: string): Datamaps {
  const json = parseJson(readText(file), file);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new DataError({ file }, "expected a JSON object with id2item and id2user maps");
  }
  const id2item = stringMap(json as Record<string, unknown>, "id2item", file);
  const id2user = stringMap(json as Record<string, unknown>, "id2user", file);
  const itemIds = Object.keys(id2item);
  const notInteger = itemIds.find((k) => !/^\d+$/.test(k));
  if (notInteger !== undefined) throw new DataError({ file }, `expected integer keys in id2item, got ${snippet(notInteger)}`);
  itemIds.sort((a, b) => Number(a) - Number(b));
  return { itemIds, id2item, id2user };
}

function stringMap(json: Record<string, unknown>, key: string, file: string): Record<string, string> {
  const map = json[key];
  const ok = typeof map === "object" && map !== null && !Array.isArray(map) && Object.values(map).every((v) => typeof v === "string");
  if (!ok) throw new DataError({ file }, `expected "${key}" to be an object mapping ids to strings`);
  return map as Record<string, string>;
}

/** The `.item` rows by ASIN; an ASIN listed twice is an error. */
function readItemMetadata(file: string, report: ReadReport): Map<string, RawItem> {
  const byAsin = new Map<string, RawItem>();
  const asins = new UniqueIds("item");
  for (const { raw, where } of atomicItems(readAtomicFile(file, report))) {
    asins.claim(raw.id, where);
    byAsin.set(raw.id, raw);
  }
  return byAsin;
}

/** Parses `user item item …` lines into sequences of dense item indices. */
function readSequences(
  file: string,
  p5ToIndex: ReadonlyMap<string, number>,
  id2user: Readonly<Record<string, string>>,
  report: ReadReport,
  itemsDefinedIn: string,
): Interactions {
  const userIds: string[] = [];
  const sequences: number[][] = [];
  const users = new UniqueIds("user");
  let blank = 0;
  let unnamed = 0;
  for (const { line, text } of splitLines(readText(file))) {
    const where = { file, line };
    const tokens = text.trim().split(/\s+/);
    if (tokens[0] === "") {
      blank++;
      continue;
    }
    const bad = tokens.find((t) => !/^\d+$/.test(t));
    if (bad !== undefined) throw new DataError(where, `expected space-separated integer ids "user item item …", got ${snippet(bad)}`);
    if (tokens.length < 2) throw new DataError(where, "expected a user id followed by at least one item id, got only the user id");
    const user = tokens[0]!;
    users.claim(user, where);

    const sequence = new Array<number>(tokens.length - 1);
    for (let i = 1; i < tokens.length; i++) {
      const index = p5ToIndex.get(tokens[i]!);
      if (index === undefined) throw unknownIdError("item", tokens[i]!, where, itemsDefinedIn);
      sequence[i - 1] = index;
    }
    const reviewer = id2user[user];
    if (reviewer === undefined) unnamed++;
    userIds.push(reviewer ?? user);
    sequences.push(sequence);
  }
  countSkip(report, `blank lines in ${file}`, blank);
  if (unnamed > 0) report.notes.push(`${unnamed} users are not in datamaps.json id2user and keep their P5 id as user id`);
  return { userIds, sequences };
}

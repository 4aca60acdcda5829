/**
 * Reader for GR2's own JSONL format, for users bringing their own catalogue. A folder holds two
 * files, one JSON object per line (UTF-8; blank lines are skipped and counted):
 *
 * `items.jsonl`, one item per line:
 *
 *     {"id": "sku-1", "title": "Hydrating Shampoo 250 ml", "categories": ["Hair Care", "Shampoo"],
 *      "brand": "Acme", "price": 7.5, "description": "…"}
 *
 *   - `id` (string or integer, required, unique), `title` (string, required);
 *   - `categories` (array of strings, most general first), `brand` (string), `price` (number),
 *     `description` (string): optional. Other keys are ignored. Text may contain HTML entities;
 *     it is unescaped and whitespace-normalised on reading.
 *
 * `interactions.jsonl`, either one event per line or one whole sequence per line:
 *
 *     {"user": "u1", "item": "sku-1", "timestamp": 1700000000}
 *     {"user": "u2", "items": ["sku-1", "sku-7", "sku-3"]}
 *
 *   - `user` and `item` are ids (string or integer); every item must be defined in items.jsonl.
 *   - `timestamp` (optional) is a number in any monotonic unit or an ISO 8601 date string
 *     (use one kind per file). A user's events are ordered by (timestamp, line order).
 *   - Without timestamps, file order is time order: `items` lines give a sequence in order, and
 *     several lines of one user are concatenated. A user's lines must either all carry a
 *     timestamp or none (mixing would make the order ambiguous).
 *
 * Users appear in the order of their first line. docs/data-formats.md describes the same format.
 */
import { join } from "node:path";
import { CatalogueBuilder, UniqueIds } from "./catalogue.js";
import { DataError, formatWhere, type Where } from "./errors.js";
import { groupByUser, type Event } from "./events.js";
import { parseJson, readText, splitLines } from "./files.js";
import { countSkip, newReport } from "./report.js";
import type { Dataset, ReadReport } from "./types.js";

export const JSONL_ITEMS_FILE = "items.jsonl";
export const JSONL_INTERACTIONS_FILE = "interactions.jsonl";

type JsonObject = Record<string, unknown>;

export function readJsonl(dir: string, options: { name?: string } = {}): Dataset {
  const itemsFile = join(dir, JSONL_ITEMS_FILE);
  const interactionsFile = join(dir, JSONL_INTERACTIONS_FILE);
  const report = newReport([itemsFile, interactionsFile]);

  const catalogue = new CatalogueBuilder(itemsFile);
  forEachObject(itemsFile, report, (obj, where) => {
    catalogue.add(
      {
        id: requiredId(obj, "id", where),
        title: requiredString(obj, "title", where),
        categories: optionalStringArray(obj, "categories", where),
        brand: optionalOf(obj, "brand", "string", where),
        price: optionalOf(obj, "price", "number", where),
        description: optionalOf(obj, "description", "string", where),
      },
      where,
    );
  });

  const events: Event[] = [];
  const timedUsers = new Map<string, { timed: boolean; where: Where }>();
  forEachObject(interactionsFile, report, (obj, where) => {
    const user = requiredId(obj, "user", where);
    const hasItems = "items" in obj;
    if (hasItems === "item" in obj) throw new DataError(where, 'expected exactly one of "item" (one event) or "items" (a sequence)');
    const time = timestamp(obj, where);
    if (hasItems && time !== undefined) throw new DataError(where, 'expected no "timestamp" on an "items" line (the list is already in order)');
    const first = timedUsers.get(user);
    if (first && first.timed !== (time !== undefined)) {
      throw new DataError(where, `expected ${first.timed ? "a" : "no"} "timestamp", like this user's first line (${formatWhere(first.where)})`);
    }
    if (!first) timedUsers.set(user, { timed: time !== undefined, where });
    const ids = hasItems ? requiredIdArray(obj, "items", where) : [requiredId(obj, "item", where)];
    for (const id of ids) events.push({ user, item: catalogue.resolve(id, where), time: time ?? 0, row: events.length });
  });

  const interactions = groupByUser(events, report, { userOrder: "first-seen" });
  return { catalogue: catalogue.build(options.name ?? "jsonl"), interactions, report };
}

/** Parses each non-blank line as a JSON object and hands it over with its location. */
function forEachObject(file: string, report: ReadReport, onObject: (obj: JsonObject, where: Where) => void): void {
  let blank = 0;
  for (const { line, text } of splitLines(readText(file))) {
    if (text.trim() === "") {
      blank++;
      continue;
    }
    const where = { file, line };
    const value = parseJson(text, file, line);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DataError(where, "expected a JSON object on this line");
    onObject(value as JsonObject, where);
  }
  countSkip(report, `blank lines in ${file}`, blank);
}

function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60);
}

function typeError(key: string, expected: string, value: unknown, where: Where): DataError {
  const message = value === undefined ? `missing field "${key}": expected ${expected}` : `expected "${key}" to be ${expected}, got ${describe(value)}`;
  return new DataError(where, message);
}

/** Ids may be written as strings or integers; both become strings. */
function asId(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  return undefined;
}

function requiredId(obj: JsonObject, key: string, where: Where): string {
  const id = asId(obj[key]);
  if (id === undefined) throw typeError(key, "a non-empty string or integer id", obj[key], where);
  return id;
}

function requiredIdArray(obj: JsonObject, key: string, where: Where): string[] {
  const value = obj[key];
  const ids = Array.isArray(value) ? value.map(asId) : undefined;
  if (!ids || ids.length === 0 || ids.some((id) => id === undefined)) throw typeError(key, "a non-empty array of string or integer ids", value, where);
  return ids as string[];
}

function requiredString(obj: JsonObject, key: string, where: Where): string {
  const value = obj[key];
  if (typeof value !== "string") throw typeError(key, "a string", value, where);
  return value;
}

/** An optional field of a primitive type; absent and null both mean "no value". */
type Primitive<T> = T extends "string" ? string : number;

function optionalOf<T extends "string" | "number">(obj: JsonObject, key: string, type: T, where: Where): Primitive<T> | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type || (type === "number" && !Number.isFinite(value))) throw typeError(key, `a ${type}`, value, where);
  return value as Primitive<T>;
}

function optionalStringArray(obj: JsonObject, key: string, where: Where): string[] | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw typeError(key, "an array of strings", value, where);
  return value as string[];
}

/** A number, or an ISO 8601 string turned into milliseconds since 1970. */
function timestamp(obj: JsonObject, where: Where): number | undefined {
  const value = obj.timestamp;
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw typeError("timestamp", "a number or an ISO 8601 date string", value, where);
  return ms;
}

/**
 * Builds a `Catalogue` while reading: assigns dense 0-based indices in the order items are
 * added, cleans their text, rejects duplicate ids and resolves the ids found in interaction
 * files (an unknown id is an error, never a silent skip).
 */
import { DataError, formatWhere, snippet, type Where } from "./errors.js";
import { cleanText } from "./text.js";
import type { Catalogue, Item } from "./types.js";

/** An item as a reader finds it: raw text, not yet cleaned, no index yet. */
export interface RawItem {
  id: string;
  title?: string;
  categories?: string[];
  brand?: string;
  price?: number;
  description?: string;
}

export class CatalogueBuilder {
  private readonly items: Item[] = [];
  private readonly byId = new Map<string, number>();
  private readonly ids = new UniqueIds("item");

  /** `source` names where item ids are defined, for "unknown item id" messages. */
  constructor(private readonly source = "the item file") {}

  get size(): number {
    return this.items.length;
  }

  /** Adds an item; `where` is the place it was read from (for the duplicate-id message). */
  add(raw: RawItem, where: Where): Item {
    this.ids.claim(raw.id, where);
    const item = cleanItem(raw, this.items.length);
    this.items.push(item);
    this.byId.set(raw.id, item.index);
    return item;
  }

  indexOf(id: string): number | undefined {
    return this.byId.get(id);
  }

  /** The index of an item referenced by an interaction; unknown ids are a `DataError`. */
  resolve(id: string, where: Where): number {
    const index = this.byId.get(id);
    if (index === undefined) throw unknownIdError("item", id, where, this.source);
    return index;
  }

  build(name: string): Catalogue {
    return { name, items: this.items };
  }
}

/** Remembers where each id was first defined and rejects a second definition. */
export class UniqueIds {
  private readonly seen = new Map<string, Where>();

  constructor(private readonly kind: string) {}

  claim(id: string, where: Where): void {
    const first = this.seen.get(id);
    if (first) throw duplicateIdError(this.kind, id, where, first);
    this.seen.set(id, where);
  }
}

/** The error for an id defined twice; `first` is where it was defined before. */
function duplicateIdError(kind: string, id: string, where: Where, first: Where): DataError {
  const at = first.file === where.file ? `line ${first.line ?? "?"}` : formatWhere(first);
  return new DataError(where, `duplicate ${kind} id ${snippet(id)} (first at ${at}); expected each ${kind} id once`);
}

/** The error for a reference to an id that was never defined; `definedIn` says where ids come from. */
export function unknownIdError(kind: string, id: string, where: Where, definedIn: string): DataError {
  return new DataError(where, `unknown ${kind} id ${snippet(id)}: expected an id defined in ${definedIn}`);
}

/** HTML-unescapes and whitespace-normalises every text field; empty optional fields are dropped. */
function cleanItem(raw: RawItem, index: number): Item {
  const item: Item = {
    index,
    id: raw.id,
    title: cleanText(raw.title ?? ""),
    categories: (raw.categories ?? []).map(cleanText).filter((c) => c !== ""),
  };
  const brand = cleanText(raw.brand ?? "");
  if (brand) item.brand = brand;
  if (raw.price !== undefined && Number.isFinite(raw.price)) item.price = raw.price;
  const description = cleanText(raw.description ?? "");
  if (description) item.description = description;
  return item;
}

/**
 * RecBole atomic files (`.inter`, `.item`, `.user`): TAB-separated with CSV-style `"` quoting
 * (see tsv.ts) and a typed header, one `name:type` per column, e.g.
 *
 *     item_id:token	title:token	sales_rank:float	categories:token_seq	price:float	brand:token
 *
 * Types: `token` (a string), `token_seq` (a sequence of tokens), `float`, `float_seq`. An empty
 * cell means "no value". This module reads the table and gives typed access to cells; the
 * error for a bad cell names the file, the line and the column's type.
 */
import type { RawItem } from "./catalogue.js";
import { DataError, snippet, type Where } from "./errors.js";
import { readText } from "./files.js";
import { parsePyList } from "./pylist.js";
import { countSkip } from "./report.js";
import { parseTsv, type TsvRecord } from "./tsv.js";
import type { ReadReport } from "./types.js";

const FIELD_TYPES = ["token", "token_seq", "float", "float_seq"] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface Column {
  name: string;
  type: FieldType;
  position: number;
}

export class AtomicTable {
  private readonly byName = new Map<string, Column>();

  constructor(
    readonly file: string,
    readonly columns: readonly Column[],
    /** Data rows (header and blank lines excluded), each with exactly `columns.length` fields. */
    readonly rows: readonly TsvRecord[],
  ) {
    for (const c of columns) this.byName.set(c.name, c);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The first of `names` that the header has (files name the same thing differently). */
  firstColumn(...names: string[]): string | undefined {
    return names.find((n) => this.byName.has(n));
  }

  /** Throws unless the header has the column: a missing required column is a file-level error. */
  requireColumn(name: string, expected: string): void {
    if (!this.byName.has(name)) {
      const have = this.columns.map((c) => `${c.name}:${c.type}`).join(" ");
      throw new DataError({ file: this.file, line: 1 }, `expected a ${name} column (${expected}) in the header, got: ${have}`);
    }
  }

  private cell(row: TsvRecord, name: string): { column: Column; value: string } {
    const column = this.byName.get(name);
    if (!column) throw new DataError({ file: this.file, line: 1 }, `no column ${snippet(name)} in the header`);
    return { column, value: row.fields[column.position]! };
  }

  /** A non-empty token; an empty cell is an error (use `optionalText` where empty is allowed). */
  token(row: TsvRecord, name: string): string {
    const { value } = this.cell(row, name);
    if (value === "") throw new DataError(this.where(row), `expected a value in column ${name}, got an empty cell`);
    return value;
  }

  /** The cell as text, `undefined` when empty; token_seq cells are joined with spaces. */
  optionalText(row: TsvRecord, name: string | undefined): string | undefined {
    if (name === undefined) return undefined;
    const { column, value } = this.cell(row, name);
    if (value === "") return undefined;
    return column.type === "token_seq" ? this.tokenSeq(row, name).join(" ") : value;
  }

  /** A number; `undefined` when the cell is empty or the column is absent, an error when not numeric. */
  float(row: TsvRecord, name: string | undefined): number | undefined {
    if (name === undefined) return undefined;
    const { value } = this.cell(row, name);
    if (value.trim() === "") return undefined;
    const x = Number(value);
    if (!Number.isFinite(x)) throw new DataError(this.where(row), `expected a number in column ${name}, got ${snippet(value)}`);
    return x;
  }

  /** A number that must be there: an empty cell is an error. */
  requiredFloat(row: TsvRecord, name: string): number {
    const x = this.float(row, name);
    if (x === undefined) throw new DataError(this.where(row), `expected a number in column ${name}, got an empty cell`);
    return x;
  }

  /**
   * A token sequence (one token for a `token` column). RecBole writes sequences space-separated
   * (`Animation Comedy`); the Amazon item files write a Python-list-like string
   * (`'Hair Care', "Men's"`), recognised by its quote or bracket at the start.
   */
  tokenSeq(row: TsvRecord, name: string | undefined): string[] {
    if (name === undefined) return [];
    const { column, value } = this.cell(row, name);
    const trimmed = value.trim();
    if (trimmed === "") return [];
    if (/^['"[]/.test(trimmed)) {
      const items = parsePyList(trimmed);
      if (!items) throw new DataError(this.where(row), `expected a list like 'a', "b's" in column ${name}, got ${snippet(value)}`);
      return items;
    }
    // A plain token column holding one category keeps its spaces ("Hair Care").
    return column.type === "token" ? [trimmed] : trimmed.split(/\s+/);
  }

  where(row: TsvRecord): Where {
    return { file: this.file, line: row.line };
  }
}

/** Reads and checks an atomic file; blank lines are skipped and counted in `report`. */
export function readAtomicFile(path: string, report: ReadReport): AtomicTable {
  const records = parseTsv(readText(path), { file: path });
  const header = records[0];
  if (!header) throw new DataError({ file: path, line: 1 }, "expected a typed header line (name:type …), got an empty file");
  const columns = header.fields.map((f, position) => parseHeaderField(f, position, path));

  const rows: TsvRecord[] = [];
  let blank = 0;
  for (const record of records.slice(1)) {
    if (record.fields.length === 1 && record.fields[0] === "") {
      blank++;
      continue;
    }
    if (record.fields.length !== columns.length) {
      const message = `expected ${columns.length} TAB-separated fields as in the header, got ${record.fields.length}`;
      throw new DataError({ file: path, line: record.line }, message);
    }
    rows.push(record);
  }
  countSkip(report, `blank lines in ${path}`, blank);
  report.files.push(path);
  return new AtomicTable(path, columns, rows);
}

function parseHeaderField(field: string, position: number, file: string): Column {
  const colon = field.lastIndexOf(":");
  const name = field.slice(0, colon).trim();
  const type = field.slice(colon + 1).trim();
  if (colon <= 0 || !name || !(FIELD_TYPES as readonly string[]).includes(type)) {
    throw new DataError({ file, line: 1 }, `expected a header field name:type with type one of ${FIELD_TYPES.join(", ")}, got ${snippet(field)}`);
  }
  return { name, type: type as FieldType, position };
}

/**
 * The rows of an atomic `.item` table as raw items, with where each was read. Column names
 * differ between RecBole datasets, so each field takes the first of its usual names.
 */
export function atomicItems(table: AtomicTable): { raw: RawItem; where: Where }[] {
  table.requireColumn("item_id", "item_id:token");
  const title = table.firstColumn("title", "movie_title", "name");
  const categories = table.firstColumn("categories", "category", "genre", "class");
  const brand = table.firstColumn("brand");
  const price = table.firstColumn("price");
  const description = table.firstColumn("description");
  return table.rows.map((row) => ({
    where: table.where(row),
    raw: {
      id: table.token(row, "item_id"),
      title: table.optionalText(row, title),
      categories: table.tokenSeq(row, categories),
      brand: table.optionalText(row, brand),
      price: table.float(row, price),
      description: table.optionalText(row, description),
    },
  }));
}

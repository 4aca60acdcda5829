/**
 * Precomputed item embeddings from a file — for users who embed their catalogue with their own
 * model (sentence-transformers, an in-house encoder) and want SIDs built from those vectors.
 *
 * Formats, chosen by extension:
 * - `.safetensors`: one 2-D float tensor (F32/F16/BF16/F64); pick it with `tensor` when the
 *   file holds several.
 * - `.npy`: a 2-D float array ('<f4', '<f8', '<f2'), C order.
 * - `.jsonl` / `.ndjson`: one `{"id": "...", "embedding": [...]}` per line.
 *
 * Rows are mapped to catalogue order by item id: JSONL carries ids; for the two binary formats
 * ids come from `idsFile` (one id per line, row order), or from a JSON array in the
 * safetensors `__metadata__.ids`, or — only when the row count equals the catalogue size —
 * rows are taken to be in catalogue order already. Ids in the file that are not in the
 * catalogue are ignored (and counted); catalogue items missing from the file are an error.
 */
import { readFile } from "node:fs/promises";
import { type Matrix, zeros } from "./matrix.js";
import { parseSafetensors } from "./safetensors.js";
import { parseNpy } from "./npy.js";

export type EmbeddingFileFormat = "safetensors" | "npy" | "jsonl";

export interface EmbeddingFileOptions {
  /** Catalogue item ids in item-index order. */
  ids: readonly string[];
  /** safetensors: which tensor (default: the only 2-D float tensor, or one named "embeddings"). */
  tensor?: string;
  /** Text file with one id per line giving the row order of a .safetensors/.npy file. */
  idsFile?: string;
  /** Override the extension-based format choice. */
  format?: EmbeddingFileFormat;
}

export interface FileEmbeddings {
  embeddings: Matrix;
  format: EmbeddingFileFormat;
  /** Rows in the file whose id is not in the catalogue (ignored). */
  extraRows: number;
}

/** The format implied by a file name, or null. */
export function embeddingFormatOf(path: string): EmbeddingFileFormat | null {
  const p = path.toLowerCase();
  if (p.endsWith(".safetensors")) return "safetensors";
  if (p.endsWith(".npy")) return "npy";
  if (p.endsWith(".jsonl") || p.endsWith(".ndjson")) return "jsonl";
  return null;
}

/** Read embeddings and return them in catalogue order. */
export async function readEmbeddingFile(path: string, opts: EmbeddingFileOptions): Promise<FileEmbeddings> {
  const format = opts.format ?? embeddingFormatOf(path);
  if (!format) throw new Error(`${path}: unknown embedding file type; expected .safetensors, .npy or .jsonl`);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read embedding file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let rows: number, dim: number, data: Float32Array, rowIds: string[] | null = null;
  if (format === "jsonl") {
    ({ ids: rowIds, dim, data } = parseEmbeddingJsonl(buf.toString("utf8"), path));
    rows = rowIds.length;
  } else {
    let shape: number[];
    if (format === "npy") {
      ({ shape, data } = parseNpy(buf, path));
    } else {
      const st = parseSafetensors(buf, path);
      ({ shape, data } = st.read(opts.tensor ?? pickTensor(st.infos, path)));
      const metaIds = st.metadata.ids;
      if (metaIds !== undefined) rowIds = parseIdArray(metaIds, `${path}: __metadata__.ids`);
    }
    if (shape.length !== 2) throw new Error(`${path}: embeddings must be 2-D (items × dim), got shape [${shape.join(", ")}]`);
    [rows, dim] = shape as [number, number];
    if (opts.idsFile) rowIds = await readIdsFile(opts.idsFile);
    if (rowIds && rowIds.length !== rows) {
      throw new Error(`${path}: has ${rows} rows but its id list${opts.idsFile ? ` (${opts.idsFile})` : ""} has ${rowIds.length} ids`);
    }
  }
  if (rowIds === null) {
    if (rows !== opts.ids.length) {
      throw new Error(`${path}: has ${rows} rows but the catalogue has ${opts.ids.length} items; give an ids file (one id per line) to map rows to items`);
    }
    return { embeddings: { rows, cols: dim, data }, format, extraRows: 0 };
  }
  return { ...alignRows(rowIds, data, dim, opts.ids, path), format };
}

/** The tensor to use when none is named: the only 2-D float tensor, else one called "embeddings". */
function pickTensor(infos: Map<string, { dtype: string; shape: number[] }>, file: string): string {
  const candidates = [...infos].filter(([, i]) => i.shape.length === 2 && ["F32", "F16", "BF16", "F64"].includes(i.dtype));
  if (candidates.length === 1) return candidates[0]![0];
  if (infos.has("embeddings")) return "embeddings";
  throw new Error(
    `${file}: ${candidates.length === 0 ? "no 2-D float tensor" : "several 2-D float tensors"} (${[...infos.keys()].join(", ") || "none"}); name one with the tensor option`,
  );
}

function parseIdArray(text: string, where: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not a JSON array of ids`);
  }
  if (!Array.isArray(v)) throw new Error(`${where} is not a JSON array of ids`);
  return v.map(String);
}

async function readIdsFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`${path}: cannot read ids file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.trim());
}

/** Parse `{"id", "embedding"}` lines; blank lines are skipped, every error names its line. */
export function parseEmbeddingJsonl(text: string, file: string): { ids: string[]; dim: number; data: Float32Array } {
  const ids: string[] = [];
  const vectors: number[][] = [];
  let dim = -1;
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let rec: { id?: unknown; embedding?: unknown };
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== "object" || rec === null) throw new Error(`${where}: expected an object {"id", "embedding"}`);
    if (typeof rec.id !== "string" && typeof rec.id !== "number") throw new Error(`${where}: missing "id" (string)`);
    const emb = rec.embedding;
    if (!Array.isArray(emb) || emb.length === 0) throw new Error(`${where}: "embedding" must be a non-empty array of numbers`);
    const bad = emb.findIndex((v) => typeof v !== "number" || !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${where}: "embedding"[${bad}] is not a finite number`);
    if (dim < 0) dim = emb.length;
    else if (emb.length !== dim) throw new Error(`${where}: embedding has ${emb.length} values, earlier lines have ${dim}`);
    ids.push(String(rec.id));
    vectors.push(emb as number[]);
  });
  if (ids.length === 0) throw new Error(`${file}: no embeddings (empty file)`);
  const data = new Float32Array(ids.length * dim);
  vectors.forEach((v, i) => data.set(v, i * dim));
  return { ids, dim, data };
}

/** Reorder rows (identified by rowIds) into catalogue order; missing items and duplicate ids are errors. */
export function alignRows(
  rowIds: readonly string[], data: Float32Array, dim: number, itemIds: readonly string[], file: string,
): { embeddings: Matrix; extraRows: number } {
  const rowOf = new Map<string, number>();
  rowIds.forEach((id, r) => {
    if (rowOf.has(id)) throw new Error(`${file}: id "${id}" appears twice (rows ${rowOf.get(id)! + 1} and ${r + 1})`);
    rowOf.set(id, r);
  });
  const out = zeros(itemIds.length, dim);
  const missing: string[] = [];
  itemIds.forEach((id, i) => {
    const r = rowOf.get(id);
    if (r === undefined) missing.push(id);
    else out.data.set(data.subarray(r * dim, (r + 1) * dim), i * dim);
  });
  if (missing.length > 0) {
    throw new Error(`${file}: ${missing.length} of ${itemIds.length} catalogue items have no embedding (first: ${missing.slice(0, 5).join(", ")})`);
  }
  const extraRows = rowIds.length - itemIds.length;
  return { embeddings: out, extraRows };
}

/**
 * The safetensors file format (https://github.com/huggingface/safetensors) on raw bytes, in
 * plain TypeScript with no engine: the one parser/validator and the one writer, shared by the
 * engine's Tensor-facing I/O (src/torch/safetensors.ts) and the typed-array I/O of src/sid.
 *
 *   8 bytes   little-endian u64 N, the header's length
 *   N bytes   UTF-8 JSON: { "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, …,
 *                           "__metadata__": {"<key>": "<string>"} (optional) }
 *   rest      raw little-endian tensor bytes; offsets are relative to the start of this part
 *
 * Parsing checks everything a reader relies on (lengths, JSON, each entry's fields, that the
 * offsets match the shape, stay inside the file and, as the reference implementation requires,
 * neither overlap nor leave gaps) and reports the first problem found as a
 * `SafetensorsProblem`; callers choose the error (and wording) it becomes. Writing pads the
 * header with spaces so the data part starts 8-byte aligned, as the reference writer does.
 */

/** Bytes per element of every dtype the format defines. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** One tensor's header entry, with a view of its bytes in the parsed buffer. */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Byte range inside the data part. */
  begin: number;
  end: number;
  /** The tensor's bytes: a view into the parsed buffer (not necessarily aligned). */
  bytes: Uint8Array;
}

export interface ParsedSafetensors {
  /** Every tensor, in header order. */
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** What is wrong with a file, for callers to word (`describeSafetensorsProblem` is the default). */
export type SafetensorsProblem =
  | { kind: "short"; bytes: number }
  | { kind: "header-length"; length: bigint; available: number }
  | { kind: "header-json"; reason: string }
  | { kind: "header-object" }
  | { kind: "metadata" }
  | { kind: "entry"; tensor: string; field: "object" | "dtype" | "shape" | "data_offsets" }
  | { kind: "dtype"; tensor: string; dtype: string; supported: readonly string[] }
  | { kind: "size"; tensor: string; dtype: string; shape: number[]; span: number; need: number }
  | { kind: "past-end"; tensor: string; end: number; available: number }
  | { kind: "layout"; tensor: string; begin: number; end: number; expected: number };

/** What is wrong with an entry, by the field at fault. */
export const ENTRY_FIELD_PROBLEMS = {
  object: "entry is not an object",
  dtype: `missing "dtype"`,
  shape: `"shape" must be an array of non-negative integers`,
  data_offsets: `"data_offsets" must be [begin, end] with 0 ≤ begin ≤ end`,
} as const;

export function describeSafetensorsProblem(p: SafetensorsProblem): string {
  switch (p.kind) {
    case "short":
      return `it is ${p.bytes} bytes, too short for the 8-byte header length`;
    case "header-length":
      return `header length ${p.length} exceeds the ${p.available} bytes after the length field`;
    case "header-json":
      return `header is not valid UTF-8 JSON (${p.reason})`;
    case "header-object":
      return "header is not a JSON object";
    case "metadata":
      return `"__metadata__" is not an object`;
    case "entry":
      return `tensor "${p.tensor}": ${ENTRY_FIELD_PROBLEMS[p.field]}`;
    case "dtype":
      return `tensor "${p.tensor}": unsupported dtype ${p.dtype} (supported: ${p.supported.join(", ")})`;
    case "size":
      return `tensor "${p.tensor}": shape [${p.shape.join(", ")}] of ${p.dtype} needs ${p.need} bytes, data_offsets span ${p.span}`;
    case "past-end":
      return `tensor "${p.tensor}": data_offsets end ${p.end} is past the ${p.available} data bytes`;
    case "layout":
      return `tensor "${p.tensor}": data_offsets [${p.begin}, ${p.end}] ${p.begin < p.expected ? "overlap earlier tensor data" : "leave a gap"}: tensors are stored back to back from byte 0, so it should begin at byte ${p.expected}`;
  }
}

export interface ParseSafetensorsOptions {
  /** The dtypes the caller can use; any other is a "dtype" problem. Default: every dtype (unknown ones are not size-checked). */
  dtypes?: readonly string[];
  /** The error thrown for a problem. Default: `Error("<file>: not a valid safetensors file: <problem>")`. */
  error?: (problem: SafetensorsProblem) => Error;
}

const isCount = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 0;
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Parses and validates a whole safetensors buffer; `file` names it in errors. */
export function parseSafetensorsBytes(buf: Uint8Array, file: string, options: ParseSafetensorsOptions = {}): ParsedSafetensors {
  const fail = (problem: SafetensorsProblem): never => {
    throw options.error ? options.error(problem) : new Error(`${file}: not a valid safetensors file: ${describeSafetensorsProblem(problem)}`);
  };
  if (buf.byteLength < 8) fail({ kind: "short", bytes: buf.byteLength });
  const length = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  if (length > BigInt(buf.byteLength - 8)) fail({ kind: "header-length", length, available: buf.byteLength - 8 });
  const n = Number(length);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    fail({ kind: "header-json", reason: (e as Error).message });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail({ kind: "header-object" });

  const dataStart = buf.byteOffset + 8 + n;
  const dataLength = buf.byteLength - 8 - n;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [tensor, raw] of Object.entries(header as Record<string, unknown>)) {
    if (tensor === "__metadata__") {
      if (typeof raw !== "object" || raw === null) fail({ kind: "metadata" });
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) fail({ kind: "entry", tensor, field: "object" });
    const { dtype, shape, data_offsets: offsets } = e;
    if (typeof dtype !== "string") return fail({ kind: "entry", tensor, field: "dtype" });
    if (!Array.isArray(shape) || !shape.every(isCount)) return fail({ kind: "entry", tensor, field: "shape" });
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1] < offsets[0]) {
      return fail({ kind: "entry", tensor, field: "data_offsets" });
    }
    if (options.dtypes && !options.dtypes.includes(dtype)) fail({ kind: "dtype", tensor, dtype, supported: options.dtypes });
    const [begin, end] = offsets as [number, number];
    const width = DTYPE_BYTES[dtype];
    if (width !== undefined && numel(shape) * width !== end - begin) {
      fail({ kind: "size", tensor, dtype, shape, span: end - begin, need: numel(shape) * width });
    }
    if (end > dataLength) fail({ kind: "past-end", tensor, end, available: dataLength });
    tensors.set(tensor, { dtype, shape, begin, end, bytes: new Uint8Array(buf.buffer, dataStart + begin, end - begin) });
  }
  // As in the reference implementation, tensors tile the data part from byte 0 in offset order:
  // no overlaps, no gaps.
  let expected = 0;
  for (const [tensor, { begin, end }] of [...tensors].sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end)) {
    if (begin !== expected) fail({ kind: "layout", tensor, begin, end, expected });
    expected = end;
  }
  return { tensors, metadata };
}

/** A tensor to write: its format dtype ("F32", …), shape and raw little-endian bytes. */
export interface SafetensorsInput {
  dtype: string;
  shape: readonly number[];
  bytes: Uint8Array;
}

/**
 * Serialises tensors, in the order given, and string metadata (omitted when empty) into
 * safetensors bytes; the data part starts 8-byte aligned.
 */
export function encodeSafetensorsBytes(tensors: Iterable<readonly [string, SafetensorsInput]>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const width = DTYPE_BYTES[t.dtype];
    if (width === undefined) throw new Error(`safetensors: tensor "${name}" has unknown dtype ${t.dtype}`);
    const need = numel(t.shape) * width;
    if (t.bytes.byteLength !== need) throw new Error(`safetensors: tensor "${name}": shape [${t.shape.join(", ")}] of ${t.dtype} needs ${need} bytes, got ${t.bytes.byteLength}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + need] };
    chunks.push(t.bytes);
    offset += need;
  }
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does),
  // letting readers map it without copying.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  let o = 8 + headerLength;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}
